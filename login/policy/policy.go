// Package policy decides, for one sign-in, what the login journey must ask
// for next. It is pure decision code: no I/O, the clock is passed in, and
// every outcome carries a reason for the audit log. Admin pages use it too,
// to answer "what will this user see at next sign-in?".
package policy

import (
	"fmt"
	"slices"
	"time"
)

// Outcome is what the journey does after the password.
type Outcome string

const (
	// Done: every required step has passed; issue the code.
	Done Outcome = "done"
	// Reauthenticate: the browser session is too old or too weak for this
	// request; ask for the password again.
	Reauthenticate Outcome = "reauthenticate"
	// LoginRequired: prompt=none, and the session cannot satisfy the
	// request without interaction.
	LoginRequired Outcome = "login_required"
	// Unmet: nothing the user can do here reaches the level the client
	// requires; the client gets unmet_authentication_requirements rather
	// than a weaker token.
	Unmet Outcome = "unmet_authentication_requirements"
	// The second-factor outcomes (offer_enrolment, require_enrolment,
	// challenge, step_up) join here with the methods and org-unit policy.
)

// Proof is what a browser session has proved, and when.
type Proof struct {
	UserID   string
	AuthTime time.Time
	AMR      []string
	ACR      string
}

// Request is what the relying party asked for.
type Request struct {
	Prompt []string
	// MaxAge in seconds; nil when absent. prompt=login arrives as 0.
	MaxAge *uint
	// HintUserID is the subject of an id_token_hint, if one was sent.
	HintUserID string
	// ClientMinimumACR is the weakest acr the client accepts.
	ClientMinimumACR string
}

// Input is everything one decision depends on.
type Input struct {
	Request Request
	// Session is the browser's current proof; nil without a session.
	Session *Proof
	// FreshPassword is true when the password was entered in this very
	// journey (so max_age and prompt=login are already satisfied).
	FreshPassword bool
	Now           time.Time
}

// Decision is an outcome and why.
type Decision struct {
	Outcome Outcome
	Reason  string
}

// Decide returns what the journey does next.
func Decide(in Input) Decision {
	if !in.FreshPassword {
		if reason := sessionFalls(in); reason != "" {
			if slices.Contains(in.Request.Prompt, "none") {
				return Decision{LoginRequired, reason + "; prompt=none forbids asking"}
			}
			return Decision{Reauthenticate, reason}
		}
	}
	// Until second factors exist, a password is all anyone can prove.
	if ACRRank(in.Request.ClientMinimumACR) > ACRRank("pwd") {
		return Decision{Unmet, fmt.Sprintf("client requires acr %s; only a password can be proved", in.Request.ClientMinimumACR)}
	}
	if in.FreshPassword {
		return Decision{Done, "password verified; no second factor configured"}
	}
	return Decision{Done, "single sign-on: session satisfies the request"}
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
