// Package policy decides, for one sign-in, what the login journey must ask
// for next. It is pure decision code: no I/O, the clock is passed in, and
// every outcome carries a reason for the audit log. Admin pages use it too,
// to answer "what will this user see at next sign-in?".
package policy

import (
	"fmt"
	"slices"
	"strings"
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
	// ExceptionsAllowed is the client's choice to honour MFA exceptions.
	ExceptionsAllowed bool
}

// explicit reports whether the request itself asks to see the user again
// (prompt=login, max_age) or asks for a second factor: a remembered device
// never answers that.
func (r Request) explicit() bool {
	return slices.Contains(r.Prompt, "login") || r.MaxAge != nil || r.MFAMaxAge > 0 || ACRRank(r.RequestedACR) >= ACRRank("mfa")
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
	// Exceptions are the user's MFA exceptions, in any state.
	Exceptions []storage.Exception
}

// Input is everything one decision depends on.
type Input struct {
	Request Request
	// Session is the browser's current proof; nil without a session.
	Session *Proof
	// FreshPassword is true when the password was entered in this very
	// journey (so max_age and prompt=login are already satisfied).
	FreshPassword bool
	// RememberedDevice is true when a second factor passed in this browser
	// within the org unit's remember window (and after any MFA reset).
	RememberedDevice bool
	User             User
	Now              time.Time
}

// Decision is an outcome and why.
type Decision struct {
	Outcome Outcome
	Reason  string
	// Methods are the method types that satisfy a Challenge.
	Methods []string
	// Exception is the exception that let a Done sign-in skip the second
	// factor; the token says so.
	Exception *storage.Exception
	// Remembered is set when a remembered device let a Done sign-in skip
	// the second factor.
	Remembered bool
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
	need, why := "", ""
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
		need, why = "mfa", "admin and helpdesk roles always need a second factor"
	case in.User.OrgUnit == storage.MFARequired && !mfaFresh:
		need, why = "mfa", fmt.Sprintf("org unit %s requires multi-factor authentication", in.User.OrgUnitName)
	case in.User.OrgUnit == storage.MFAPrompted && in.User.Registered > 0 && !mfaFresh:
		need, why = "mfa", fmt.Sprintf("org unit %s prompts for multi-factor authentication and the user has a method", in.User.OrgUnitName)
	case in.User.OrgUnit == storage.MFAPrompted && in.User.Registered == 0 && !in.Request.EnrolmentDeclined && !none:
		return Decision{Outcome: OfferEnrolment, Reason: fmt.Sprintf("org unit %s prompts for multi-factor authentication; the user has no method", in.User.OrgUnitName)}
	case in.User.MFAEnabled && in.User.Registered > 0 && !mfaFresh:
		need, why = "mfa", "the user has turned multi-factor authentication on"
	}
	// Whatever asked for it, a user who must have MFA (a role, a unit that
	// requires it) and has no method sets one up rather than being refused.
	mandatory := need == "mfa" && (in.User.Privileged || in.User.OrgUnit == storage.MFARequired)
	if need == "mfa" {
		// Only org-unit, role and user settings, and a client's minimum,
		// can be waived: never a request's own acr or a recent-factor check.
		ex, active := ActiveException(in.User.Exceptions, in.Now)
		switch {
		case active && in.Request.ExceptionsAllowed && ACRRank(in.Request.RequestedACR) < ACRRank("mfa") && in.Request.MFAMaxAge == 0:
			return Decision{Outcome: Done, Exception: &ex, Reason: fmt.Sprintf("skipped: %s exception until %s (%s)",
				strings.ReplaceAll(ex.Kind, "_", "-"), ex.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"), why)}
		case in.RememberedDevice && !in.User.Privileged && ACRRank(in.Request.ClientMinimumACR) < ACRRank("mfa") && !in.Request.explicit():
			return Decision{Outcome: Done, Remembered: true, Reason: "skipped: a second factor passed on this device within the org unit's remember window (" + why + ")"}
		}
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

// OrgPolicy is the policy an org unit gives its users: each setting is the
// nearest one set walking up the tree.
type OrgPolicy struct {
	MFA storage.MFASetting
	// MFAFrom names the unit the MFA setting comes from, and MFAFromID is
	// its id (names need not be unique).
	MFAFrom   string
	MFAFromID string
	// AllowedMethods are the method types users may use; nil allows all.
	AllowedMethods []string
	// PhoneRegions are the regions whose numbers are accepted; nil means
	// the server's default.
	PhoneRegions []string
	// RememberMFA is how long a browser may skip the second factor; zero
	// asks every time. RememberFrom names the unit that set it, empty when
	// none did: the zero is then a default, not a bound.
	RememberMFA  time.Duration
	RememberFrom string
}

// Allows reports whether the policy lets users use methods of type t.
func (p OrgPolicy) Allows(t string) bool {
	return p.AllowedMethods == nil || slices.Contains(p.AllowedMethods, t)
}

// Effective is the policy that applies to a user in the org unit that chain
// starts with, followed by its ancestors up to the root. The MFA setting is
// the nearest explicit one, else optional.
func Effective(chain []storage.OrgUnit) OrgPolicy {
	p := OrgPolicy{MFA: storage.MFAOptional}
	if len(chain) > 0 {
		p.MFAFrom, p.MFAFromID = chain[len(chain)-1].Name, chain[len(chain)-1].ID
	}
	mfaSet, rememberSet := false, false
	for _, ou := range chain {
		if !mfaSet && ou.MFA != "" && ou.MFA != storage.MFAInherit {
			p.MFA, p.MFAFrom, p.MFAFromID, mfaSet = ou.MFA, ou.Name, ou.ID, true
		}
		if p.AllowedMethods == nil && len(ou.AllowedMethods) > 0 {
			p.AllowedMethods = ou.AllowedMethods
		}
		if p.PhoneRegions == nil && len(ou.PhoneRegions) > 0 {
			p.PhoneRegions = ou.PhoneRegions
		}
		if !rememberSet && ou.RememberMFA != nil {
			p.RememberMFA, p.RememberFrom, rememberSet = *ou.RememberMFA, ou.Name, true
		}
	}
	return p
}

// Settings an org unit can loosen, as LooserThan names them.
const (
	SettingMFA      = "mfa"
	SettingMethods  = "methods"
	SettingRegions  = "regions"
	SettingRemember = "remember"
)

// mfaStrength orders MFA settings from loosest to strictest.
var mfaStrength = []storage.MFASetting{storage.MFAOptional, storage.MFAPrompted, storage.MFARequired}

// LooserThan names the settings on which p lets users in more easily than
// q: a weaker MFA setting, a method or a phone region q does not allow, a
// longer remember window than one q sets. defaultRegions stand for a nil
// PhoneRegions.
// Every per-unit setting belongs here: it is what stops a scoped admin
// undoing, below them, what a unit above them imposes.
func (p OrgPolicy) LooserThan(q OrgPolicy, defaultRegions []string) []string {
	var out []string
	if slices.Index(mfaStrength, p.MFA) < slices.Index(mfaStrength, q.MFA) {
		out = append(out, SettingMFA)
	}
	if q.AllowedMethods != nil && (p.AllowedMethods == nil || !subset(p.AllowedMethods, q.AllowedMethods)) {
		out = append(out, SettingMethods)
	}
	if !subset(cmpOr(p.PhoneRegions, defaultRegions), cmpOr(q.PhoneRegions, defaultRegions)) {
		out = append(out, SettingRegions)
	}
	if q.RememberFrom != "" && p.RememberMFA > q.RememberMFA {
		out = append(out, SettingRemember)
	}
	return out
}

func subset(a, b []string) bool {
	return !slices.ContainsFunc(a, func(v string) bool { return !slices.Contains(b, v) })
}

func cmpOr(a, b []string) []string {
	if a == nil {
		return b
	}
	return a
}

// Refresh is continuous evaluation: whether a token family may go on being
// refreshed, given what its sign-in proved (family) and whether a
// remembered device let it skip the second factor, against what the user's
// policy and the client need now. Anything but Done means the client must
// sign the user in again; an offer to set up MFA waits for that sign-in.
func Refresh(u User, family Proof, remembered bool, client Request, now time.Time) Decision {
	client.EnrolmentDeclined = true
	return Decide(Input{Request: client, Session: &family, FreshPassword: true, RememberedDevice: remembered, User: u, Now: now})
}

// NextSignIn is what the user will meet at their next sign-in to a client
// that honours exceptions and asks for nothing more: the admin pages' "at
// next sign-in this user will be ...".
func NextSignIn(u User, now time.Time) Decision {
	return Decide(Input{FreshPassword: true, User: u, Now: now, Request: Request{ExceptionsAllowed: true}})
}

// Summary says what a decision means for the user, for admins.
func (d Decision) Summary() string {
	switch d.Outcome {
	case Challenge:
		return "challenged for a second factor"
	case OfferEnrolment:
		return "prompted to set up multi-factor authentication"
	case RequireEnrolment:
		return "made to set up multi-factor authentication"
	case Done:
		return "let through"
	case Unmet:
		return "refused"
	}
	return "asked to sign in"
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
