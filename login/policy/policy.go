// Package policy decides, for one sign-in, what the login journey must ask
// for next. It is pure decision code: no I/O, the clock is passed in, and
// every outcome carries a reason for the audit log. Admin pages use it too,
// to answer "what will this user see at next sign-in?".
package policy

import (
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Outcome is what the journey does next.
type Outcome string

const (
	// Done: every required step has passed; issue the code.
	Done Outcome = "done"
	// Reauthenticate: the browser session is too old, absent or for
	// someone else; ask for the password.
	Reauthenticate Outcome = "reauthenticate"
	// Challenge: ask for a second factor (Decision.Methods lists the types
	// that will do; empty means any).
	Challenge Outcome = "challenge"
	// LoginRequired and InteractionRequired: prompt=none, and the request
	// cannot be answered without the user.
	LoginRequired       Outcome = "login_required"
	InteractionRequired Outcome = "interaction_required"
	// Unmet: nothing the user has can reach the level required; the client
	// gets unmet_authentication_requirements rather than a weaker token.
	Unmet Outcome = "unmet_authentication_requirements"
	// OfferEnrolment: the org unit prompts for MFA and the user has no
	// method: offer "Set up now" or "Not now".
	OfferEnrolment Outcome = "offer_enrolment"
	// RequireEnrolment: MFA is required and the user has no method: they
	// must set one up before the sign-in completes.
	RequireEnrolment Outcome = "require_enrolment"
)

// Proof is what a browser session has proved, and when.
type Proof struct {
	UserID   string
	AuthTime time.Time
	AMR      []string
	ACR      string
	// MFAAt is when a second factor last passed; zero if never.
	MFAAt time.Time
}

// Request is what the relying party (or Gatehouse's own page) asked for.
type Request struct {
	Prompt []string
	// MaxAge in seconds; nil when absent. prompt=login arrives as 0.
	MaxAge *uint
	// HintUserID is the subject of an id_token_hint, if one was sent.
	HintUserID string
	// ClientMinimumACR is the weakest acr the client accepts.
	ClientMinimumACR string
	// RequestedACR is the acr the request asked for (acr_values, or an
	// essential acr claim); it is required like the client's minimum.
	RequestedACR string
	// EnrolmentDeclined is true once the user chose "Not now" in this
	// sign-in.
	EnrolmentDeclined bool
	// MFAMaxAge asks for a second factor no older than this, whatever the
	// session proved before (the Security info page's "within the last 10
	// minutes"). Zero means no such limit.
	MFAMaxAge time.Duration
}

// User is what the decision needs to know of the user.
type User struct {
	// OrgUnit is the effective MFA setting of the user's org unit (see
	// Effective) and OrgUnitName where it comes from, for reasons.
	OrgUnit     storage.MFASetting
	OrgUnitName string
	// Privileged is true for anyone holding an admin or helpdesk role:
	// they always need a second factor, whatever their org unit says.
	Privileged bool
	// MFAEnabled is the user's own switch, until org-unit policy decides.
	MFAEnabled bool
	// Methods are the types of the user's registered second factors that
	// Gatehouse can check; Registered counts all of them, so a user whose
	// only method is switched off is refused, not let through.
	Methods    []string
	Registered int
}

// Input is everything one decision depends on.
type Input struct {
	Request Request
	// Session is the browser's current proof; nil without a session.
	Session *Proof
	// FreshPassword is true when the password was entered in this very
	// journey (so max_age and prompt=login are already satisfied).
	FreshPassword bool
	User          User
	Now           time.Time
}

// Decision is an outcome and why.
type Decision struct {
	Outcome Outcome
	Reason  string
	// Methods are the method types that satisfy a Challenge.
	Methods []string
}

// Decide returns what the journey does next.
func Decide(in Input) Decision {
	none := slices.Contains(in.Request.Prompt, "none")
	if !in.FreshPassword {
		if reason := sessionFalls(in); reason != "" {
			if none {
				return Decision{Outcome: LoginRequired, Reason: reason + "; prompt=none forbids asking"}
			}
			return Decision{Outcome: Reauthenticate, Reason: reason}
		}
	}
	s := in.Session
	mfaFresh := s != nil && slices.Contains(s.AMR, "mfa") &&
		(in.Request.MFAMaxAge == 0 || in.Now.Sub(s.MFAAt) <= in.Request.MFAMaxAge)
	need, why, mandatory := "", "", false
	required, by := in.Request.ClientMinimumACR, "client requires"
	if ACRRank(in.Request.RequestedACR) > ACRRank(required) {
		required, by = in.Request.RequestedACR, "request asks for"
	}
	switch {
	case ACRRank(required) >= ACRRank("phr") && (s == nil || s.ACR != "phr"):
		need, why = "phr", by+" phishing-resistant sign-in (acr phr)"
	case ACRRank(required) >= ACRRank("mfa") && !mfaFresh:
		need, why = "mfa", by+" a second factor (acr mfa)"
	case in.Request.MFAMaxAge > 0 && !mfaFresh:
		need, why = "mfa", fmt.Sprintf("a second factor within the last %s is required", in.Request.MFAMaxAge)
	case in.User.Privileged && !mfaFresh:
		need, why, mandatory = "mfa", "admin and helpdesk roles always need a second factor", true
	case in.User.OrgUnit == storage.MFARequired && !mfaFresh:
		need, why, mandatory = "mfa", fmt.Sprintf("org unit %s requires multi-factor authentication", in.User.OrgUnitName), true
	case in.User.OrgUnit == storage.MFAPrompted && in.User.Registered > 0 && !mfaFresh:
		need, why = "mfa", fmt.Sprintf("org unit %s prompts for multi-factor authentication and the user has a method", in.User.OrgUnitName)
	case in.User.OrgUnit == storage.MFAPrompted && in.User.Registered == 0 && !in.Request.EnrolmentDeclined && !none:
		return Decision{Outcome: OfferEnrolment, Reason: fmt.Sprintf("org unit %s prompts for multi-factor authentication; the user has no method", in.User.OrgUnitName)}
	case in.User.MFAEnabled && in.User.Registered > 0 && !mfaFresh:
		need, why = "mfa", "the user has turned multi-factor authentication on"
	}
	if need != "" {
		methods := in.User.Methods
		if need == "phr" {
			methods = slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return m != "webauthn" })
		}
		switch {
		case len(methods) == 0 && mandatory && in.User.Registered == 0 && none:
			return Decision{Outcome: InteractionRequired, Reason: why + "; the user must set up a method; prompt=none forbids asking"}
		case len(methods) == 0 && mandatory && in.User.Registered == 0:
			return Decision{Outcome: RequireEnrolment, Reason: why + "; the user has no method yet"}
		case len(methods) == 0:
			return Decision{Outcome: Unmet, Reason: why + "; the user has no method that can provide it"}
		case none:
			return Decision{Outcome: InteractionRequired, Reason: why + "; prompt=none forbids asking"}
		}
		if need == "phr" {
			return Decision{Outcome: Challenge, Reason: why, Methods: methods}
		}
		return Decision{Outcome: Challenge, Reason: why}
	}
	switch {
	case s != nil && slices.Contains(s.AMR, "mfa"):
		return Decision{Outcome: Done, Reason: "password and second factor verified"}
	case in.FreshPassword:
		return Decision{Outcome: Done, Reason: "password verified; no second factor required"}
	}
	return Decision{Outcome: Done, Reason: "single sign-on: session satisfies the request"}
}

// Effective is the MFA setting that applies to a user in the org unit that
// chain starts with, followed by its ancestors up to the root: the nearest
// explicit setting, else optional. It returns the unit the setting comes
// from too.
func Effective(chain []storage.OrgUnit) (storage.MFASetting, storage.OrgUnit) {
	for _, ou := range chain {
		if ou.MFA != "" && ou.MFA != storage.MFAInherit {
			return ou.MFA, ou
		}
	}
	if len(chain) > 0 {
		return storage.MFAOptional, chain[len(chain)-1]
	}
	return storage.MFAOptional, storage.OrgUnit{}
}

// ACRRank orders authentication context classes: pwd < mfa < phr. An
// unknown or empty class ranks lowest.
func ACRRank(acr string) int {
	return slices.Index([]string{"pwd", "mfa", "phr"}, acr)
}

// sessionFalls says why the session cannot answer the request, or "".
func sessionFalls(in Input) string {
	s := in.Session
	switch {
	case s == nil || s.UserID == "":
		return "no session"
	case in.Request.HintUserID != "" && in.Request.HintUserID != s.UserID:
		return "id_token_hint names another user"
	case slices.Contains(in.Request.Prompt, "login"):
		return "prompt=login"
	case in.Request.MaxAge != nil && *in.Request.MaxAge == 0:
		return "max_age=0"
	case in.Request.MaxAge != nil && in.Now.Sub(s.AuthTime) > time.Duration(*in.Request.MaxAge)*time.Second:
		return fmt.Sprintf("session authenticated %s ago, beyond max_age=%d", in.Now.Sub(s.AuthTime).Round(time.Second), *in.Request.MaxAge)
	}
	return ""
}
