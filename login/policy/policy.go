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
	// Challenge: ask for a second factor, any the user has.
	Challenge Outcome = "challenge"
	// StepUp: ask for a stronger method than the session has, one of
	// Decision.Methods (a security key or passkey, for phr).
	StepUp Outcome = "step_up"
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
	// NoOwnMethod is true when the user has no method of their own: only
	// what stands in for one (see storage.Method.Fallback), or nothing. A
	// stand-in passes the second factor; then, where a role or the unit
	// asks for MFA, the user sets up a method of their own.
	NoOwnMethod bool
	// Exceptions are the user's MFA exceptions, in any state.
	Exceptions []storage.Exception
}

// Input is everything one decision depends on.
type Input struct {
	// Need is what the sign-in must prove (see ForClient, ForPage).
	Need storage.Requirement
	// HintUserID is the subject of an id_token_hint, if one was sent.
	HintUserID string
	// EnrolmentDeclined is true once the user chose "Not now" in this
	// sign-in.
	EnrolmentDeclined bool
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
	// Methods are the method types that satisfy a StepUp.
	Methods []string
	// Exception is the exception that let a Done sign-in skip the second
	// factor; the token says so.
	Exception *storage.Exception
	// Remembered is set when a remembered device let a Done sign-in skip
	// the second factor.
	Remembered bool
}

// Decide returns what the journey does next, in four stages, each its own
// function: does the session fall short of the request (sessionFalls)?
// what more is required, and why (required)? may an exception or a
// remembered device stand in for it (waived)? what, then, happens
// (outcome)?
func Decide(in Input) Decision {
	none := slices.Contains(in.Need.Prompt, "none")
	if !in.FreshPassword {
		if reason := sessionFalls(in); reason != "" {
			if none {
				return Decision{Outcome: LoginRequired, Reason: reason + "; prompt=none forbids asking"}
			}
			return Decision{Outcome: Reauthenticate, Reason: reason}
		}
	}
	n := required(in)
	if d, ok := waived(in, n); ok {
		return d
	}
	return outcome(in, n)
}

// need is what the session lacks, and why.
type need struct {
	// acr is what the session must be raised to (mfa or phr); "" when it
	// already proves enough.
	acr ACR
	why string
	// offer: the unit prompts for MFA and the user has no method: offer
	// to set one up.
	offer bool
}

// mandatory reports whether the need is for a second factor that a role or
// the unit requires: a user with no method then sets one up rather than
// being refused.
func (n need) mandatory(u User) bool {
	return n.acr == ACRMFA && (u.Privileged || u.OrgUnit == storage.MFARequired)
}

// required is the second stage: what the session still lacks, from the
// strongest ask down (the client's or the request's acr, a recent second
// factor, a role, the unit, the user's own switch), and why.
func required(in Input) need {
	s, u, r := in.Session, in.User, in.Need
	mfaFresh := s != nil && HasMFA(s.AMR) && (r.MFAWithin == 0 || in.Now.Sub(s.MFAAt) <= r.MFAWithin)
	by := "client requires"
	if r.ACRBy == byRequest {
		by = "request asks for"
	}
	switch acr := ACR(r.ACR); {
	case acr.Rank() >= ACRPhishingResistant.Rank() && (s == nil || ACR(s.ACR) != ACRPhishingResistant):
		return need{acr: ACRPhishingResistant, why: by + " phishing-resistant sign-in (acr phr)"}
	case acr.Rank() >= ACRMFA.Rank() && !mfaFresh:
		return need{acr: ACRMFA, why: by + " a second factor (acr mfa)"}
	case r.MFAWithin > 0 && !mfaFresh:
		return need{acr: ACRMFA, why: fmt.Sprintf("a second factor within the last %s is required", r.MFAWithin)}
	case u.Privileged && !mfaFresh:
		return need{acr: ACRMFA, why: "admin and helpdesk roles always need a second factor"}
	case u.OrgUnit == storage.MFARequired && !mfaFresh:
		return need{acr: ACRMFA, why: fmt.Sprintf("org unit %s requires multi-factor authentication", u.OrgUnitName)}
	case u.OrgUnit == storage.MFAPrompted && u.Registered > 0 && !mfaFresh:
		return need{acr: ACRMFA, why: fmt.Sprintf("org unit %s prompts for multi-factor authentication and the user has a method", u.OrgUnitName)}
	case u.OrgUnit == storage.MFAPrompted && u.Registered == 0 && !in.EnrolmentDeclined && !slices.Contains(r.Prompt, "none"):
		return need{offer: true, why: fmt.Sprintf("org unit %s prompts for multi-factor authentication; the user has no method", u.OrgUnitName)}
	case u.MFAEnabled && u.Registered > 0 && !mfaFresh:
		return need{acr: ACRMFA, why: "the user has turned multi-factor authentication on"}
	}
	return need{}
}

// waived is the third stage: an exception in force, where the requirement
// lets one answer, or a remembered device, where it lets one (and no role
// asks), stands in for a second factor; never for phr.
func waived(in Input, n need) (Decision, bool) {
	if n.acr != ACRMFA {
		return Decision{}, false
	}
	if ex, ok := ActiveException(in.User.Exceptions, in.Now); ok && in.Need.ExceptionsAnswer {
		return Decision{Outcome: Done, Exception: &ex, Reason: fmt.Sprintf("skipped: %s exception until %s (%s)",
			strings.ReplaceAll(ex.Kind, "_", "-"), ex.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"), n.why)}, true
	}
	if in.RememberedDevice && in.Need.RememberedAnswers && !in.User.Privileged {
		return Decision{Outcome: Done, Remembered: true, Reason: "skipped: a second factor passed on this device within the org unit's remember window (" + n.why + ")"}, true
	}
	return Decision{}, false
}

// outcome is the last stage: what the journey does about what is still
// needed, given the methods the user has and whether it may ask at all.
func outcome(in Input, n need) Decision {
	none := slices.Contains(in.Need.Prompt, "none")
	switch {
	case n.offer:
		return Decision{Outcome: OfferEnrolment, Reason: n.why}
	case n.acr == "":
		if d, ok := ownMethodDue(in); ok {
			return d
		}
		return done(in)
	}
	methods := in.User.Methods
	if n.acr == ACRPhishingResistant {
		methods = slices.DeleteFunc(slices.Clone(methods), func(m string) bool { return m != storage.MethodWebAuthn })
	}
	mandatory := n.mandatory(in.User)
	switch {
	case len(methods) == 0 && mandatory && in.User.Registered == 0 && none:
		return Decision{Outcome: InteractionRequired, Reason: n.why + "; the user must set up a method; prompt=none forbids asking"}
	case len(methods) == 0 && mandatory && in.User.Registered == 0:
		return Decision{Outcome: RequireEnrolment, Reason: n.why + "; the user has no method yet"}
	case len(methods) == 0:
		return Decision{Outcome: Unmet, Reason: n.why + "; the user has no method that can provide it"}
	case none:
		return Decision{Outcome: InteractionRequired, Reason: n.why + "; prompt=none forbids asking"}
	case n.acr == ACRPhishingResistant:
		return Decision{Outcome: StepUp, Reason: n.why, Methods: methods}
	}
	return Decision{Outcome: Challenge, Reason: n.why}
}

// ownMethodDue: the second factor passed (with a recovery code, a
// temporary access pass, or a method since removed) but the user has no
// method of their own, and a role or the unit asks for MFA: they set one
// up now (the helpdesk's pass is for exactly that), or are offered to where
// the unit only prompts.
func ownMethodDue(in Input) (Decision, bool) {
	u, none := in.User, slices.Contains(in.Need.Prompt, "none")
	if !u.NoOwnMethod || in.Session == nil || !HasMFA(in.Session.AMR) {
		return Decision{}, false
	}
	why := "the second factor passed, but the user has no method of their own"
	switch {
	case (u.Privileged || u.OrgUnit == storage.MFARequired) && none:
		return Decision{Outcome: InteractionRequired, Reason: why + " and must set up a method; prompt=none forbids asking"}, true
	case u.Privileged || u.OrgUnit == storage.MFARequired:
		return Decision{Outcome: RequireEnrolment, Reason: why + "; a method of their own is required"}, true
	case u.OrgUnit == storage.MFAPrompted && !in.EnrolmentDeclined && !none:
		return Decision{Outcome: OfferEnrolment, Reason: why + fmt.Sprintf("; org unit %s prompts for a method of their own", u.OrgUnitName)}, true
	}
	return Decision{}, false
}

// done says why nothing more is needed.
func done(in Input) Decision {
	switch {
	case in.Session != nil && HasMFA(in.Session.AMR):
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
	// asks every time. RememberSet is false when no unit set it: the zero
	// is then a default, not a bound.
	RememberMFA time.Duration
	RememberSet bool
	// AppPasswords lets users create app passwords.
	AppPasswords bool
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
	mfaSet, appPasswordsSet := false, false
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
		if !p.RememberSet && ou.RememberMFA != nil {
			p.RememberMFA, p.RememberSet = *ou.RememberMFA, true
		}
		if !appPasswordsSet && ou.AppPasswords != nil {
			p.AppPasswords, appPasswordsSet = *ou.AppPasswords, true
		}
	}
	return p
}

// Settings an org unit can loosen, as LooserThan names them.
const (
	SettingMFA          = "mfa"
	SettingMethods      = "methods"
	SettingRegions      = "regions"
	SettingRemember     = "remember"
	SettingAppPasswords = "app_passwords"
)

// mfaStrength orders MFA settings from loosest to strictest.
var mfaStrength = []storage.MFASetting{storage.MFAOptional, storage.MFAPrompted, storage.MFARequired}

// LooserThan names the settings on which p lets users in more easily than
// q: a weaker MFA setting, a method or a phone region q does not allow, a
// longer remember window than one q sets, app passwords q forbids.
// defaultRegions stand for a nil
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
	if q.RememberSet && p.RememberMFA > q.RememberMFA {
		out = append(out, SettingRemember)
	}
	if p.AppPasswords && !q.AppPasswords {
		out = append(out, SettingAppPasswords)
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

// Remembered reports whether a browser remembered at at (when a second
// factor passed in it) still stands in for one at now: within the unit's
// remember window, and after the user's last MFA reset.
func Remembered(at, mfaResetAt time.Time, window time.Duration, now time.Time) bool {
	return window > 0 && !at.IsZero() && at.After(mfaResetAt) && !at.After(now) && now.Sub(at) < window
}

// Refresh is continuous evaluation: whether a token family may go on being
// refreshed, given what its sign-in proved (family) and whether the device
// it was remembered on still stands in for a second factor, against what
// the user's policy and the client c need now. Anything but Done means the
// client must sign the user in again; an offer to set up MFA waits for
// that sign-in. A Done names the exception, if one now stands in.
func Refresh(u User, family Proof, remembered bool, c storage.Client, now time.Time) Decision {
	// FreshPassword: a refresh is no new sign-in; the session checks
	// (max_age, prompt) belong to the request that started the family.
	return Decide(Input{Need: ForClient(c, nil, nil, nil), EnrolmentDeclined: true, Session: &family, FreshPassword: true,
		RememberedDevice: remembered, User: u, Now: now})
}

// NextSignIn is what the user will meet at their next sign-in to a client
// that honours exceptions and asks for nothing more: the admin pages' "at
// next sign-in this user will be ...".
func NextSignIn(u User, now time.Time) Decision {
	return Decide(Input{FreshPassword: true, User: u, Now: now, Need: storage.Requirement{ExceptionsAnswer: true}})
}

// Summary says what a decision means for the user, for admins.
func (d Decision) Summary() string {
	switch d.Outcome {
	case Challenge:
		return "challenged for a second factor"
	case StepUp:
		return "asked for a security key or passkey"
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

// sessionFalls is the first stage: why the session cannot answer the
// request at all, or "".
func sessionFalls(in Input) string {
	s, r := in.Session, in.Need
	switch {
	case s == nil || s.UserID == "":
		return "no session"
	case in.HintUserID != "" && in.HintUserID != s.UserID:
		return "id_token_hint names another user"
	case slices.Contains(r.Prompt, "login"):
		return "prompt=login"
	case r.PasswordWithin != nil && *r.PasswordWithin == 0:
		return "max_age=0"
	case r.PasswordWithin != nil && in.Now.Sub(s.AuthTime) > *r.PasswordWithin:
		return fmt.Sprintf("session authenticated %s ago, beyond max_age=%d", in.Now.Sub(s.AuthTime).Round(time.Second), int(r.PasswordWithin.Seconds()))
	}
	return ""
}
