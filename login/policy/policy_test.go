package policy

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	maxAge := func(s uint) *uint { return &s }
	pwd := func(age time.Duration) *Proof {
		return &Proof{UserID: "alice", AuthTime: now.Add(-age), AMR: []string{"pwd"}, ACR: "pwd"}
	}
	mfa := func(age time.Duration) *Proof {
		return &Proof{UserID: "alice", AuthTime: now.Add(-age), AMR: []string{"pwd", "otp", "mfa"}, ACR: "mfa", MFAAt: now.Add(-age)}
	}
	phr := func(age time.Duration) *Proof {
		return &Proof{UserID: "alice", AuthTime: now.Add(-age), AMR: []string{"pwd", "hwk", "mfa"}, ACR: "phr", MFAAt: now.Add(-age)}
	}
	mfaOn := User{MFAEnabled: true, Methods: []string{"totp", "recovery"}, Registered: 2}
	mfaOff := User{Methods: []string{"totp"}, Registered: 1}
	withKey := User{MFAEnabled: true, Methods: []string{"totp", "webauthn"}, Registered: 2}
	switchedOff := User{MFAEnabled: true, Registered: 1} // only method's type is not offered
	const (
		sso   = "single sign-on: session satisfies the request"
		fresh = "password verified; no second factor required"
		both  = "password and second factor verified"
	)
	tests := []struct {
		name    string
		in      Input
		want    Outcome
		wantWhy string
		methods []string
	}{
		// The session and the request.
		{"no session", Input{}, Reauthenticate, "no session", nil},
		{"no session, prompt=none", Input{Request: Request{Prompt: []string{"none"}}}, LoginRequired, "no session; prompt=none forbids asking", nil},
		{"session", Input{Session: pwd(time.Hour)}, Done, sso, nil},
		{"session, prompt=none", Input{Session: pwd(time.Hour), Request: Request{Prompt: []string{"none"}}}, Done, sso, nil},
		{"prompt=login", Input{Session: pwd(0), Request: Request{Prompt: []string{"login"}, MaxAge: maxAge(0)}}, Reauthenticate, "prompt=login", nil},
		{"max_age=0", Input{Session: pwd(0), Request: Request{MaxAge: maxAge(0)}}, Reauthenticate, "max_age=0", nil},
		{"within max_age", Input{Session: pwd(59 * time.Second), Request: Request{MaxAge: maxAge(60)}}, Done, sso, nil},
		{"at max_age", Input{Session: pwd(60 * time.Second), Request: Request{MaxAge: maxAge(60)}}, Done, sso, nil},
		{"beyond max_age", Input{Session: pwd(61 * time.Second), Request: Request{MaxAge: maxAge(60)}}, Reauthenticate, "session authenticated 1m1s ago, beyond max_age=60", nil},
		{"beyond max_age, prompt=none", Input{Session: pwd(2 * time.Hour), Request: Request{MaxAge: maxAge(60), Prompt: []string{"none"}}}, LoginRequired, "session authenticated 2h0m0s ago, beyond max_age=60; prompt=none forbids asking", nil},
		{"hint names the session user", Input{Session: pwd(0), Request: Request{HintUserID: "alice"}}, Done, sso, nil},
		{"hint names another user", Input{Session: pwd(0), Request: Request{HintUserID: "bob"}}, Reauthenticate, "id_token_hint names another user", nil},
		{"hint names another user, prompt=none", Input{Session: pwd(0), Request: Request{HintUserID: "bob", Prompt: []string{"none"}}}, LoginRequired, "id_token_hint names another user; prompt=none forbids asking", nil},
		{"fresh password", Input{FreshPassword: true, Session: pwd(0), Request: Request{Prompt: []string{"login"}, MaxAge: maxAge(0)}}, Done, fresh, nil},

		// The user's own MFA switch.
		{"MFA on, fresh password", Input{FreshPassword: true, Session: pwd(0), User: mfaOn}, Challenge, "the user has turned multi-factor authentication on", nil},
		{"MFA on, after the second factor", Input{FreshPassword: true, Session: mfa(0), User: mfaOn}, Done, both, nil},
		{"MFA on, SSO with a password-only session", Input{Session: pwd(time.Hour), User: mfaOn}, Challenge, "the user has turned multi-factor authentication on", nil},
		{"MFA on, SSO with an MFA session", Input{Session: mfa(time.Hour), User: mfaOn}, Done, both, nil},
		{"MFA on, prompt=none needing a factor", Input{Session: pwd(0), User: mfaOn, Request: Request{Prompt: []string{"none"}}}, InteractionRequired, "the user has turned multi-factor authentication on; prompt=none forbids asking", nil},
		{"MFA on, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{MFAEnabled: true}}, Done, fresh, nil},
		{"MFA on, only method switched off", Input{FreshPassword: true, Session: pwd(0), User: switchedOff}, Unmet, "the user has turned multi-factor authentication on; the user has no method that can provide it", nil},
		{"MFA off, methods registered", Input{FreshPassword: true, Session: pwd(0), User: mfaOff}, Done, fresh, nil},

		// The client's minimum.
		{"client requires mfa, user has none", Input{FreshPassword: true, Session: pwd(0), Request: Request{ClientMinimumACR: "mfa"}}, Unmet, "client requires a second factor (acr mfa); the user has no method that can provide it", nil},
		{"client requires mfa, MFA off but a method", Input{FreshPassword: true, Session: pwd(0), User: mfaOff, Request: Request{ClientMinimumACR: "mfa"}}, Challenge, "client requires a second factor (acr mfa)", nil},
		{"client requires mfa, MFA session", Input{Session: mfa(time.Hour), Request: Request{ClientMinimumACR: "mfa"}}, Done, both, nil},
		{"request asks for mfa", Input{FreshPassword: true, Session: pwd(0), User: mfaOff, Request: Request{RequestedACR: "mfa"}}, Challenge, "request asks for a second factor (acr mfa)", nil},
		{"request asks for phr, TOTP session", Input{Session: mfa(0), User: withKey, Request: Request{RequestedACR: "phr", ClientMinimumACR: "mfa"}}, Challenge, "request asks for phishing-resistant sign-in (acr phr)", []string{"webauthn"}},
		{"request asks for pwd, client requires mfa", Input{Session: mfa(0), User: mfaOn, Request: Request{RequestedACR: "pwd", ClientMinimumACR: "mfa"}}, Done, both, nil},
		{"client requires pwd", Input{Session: pwd(0), Request: Request{ClientMinimumACR: "pwd"}}, Done, sso, nil},
		{"client requires phr, TOTP session, has a key", Input{Session: mfa(0), User: withKey, Request: Request{ClientMinimumACR: "phr"}}, Challenge, "client requires phishing-resistant sign-in (acr phr)", []string{"webauthn"}},
		{"client requires phr, no key", Input{Session: mfa(0), User: mfaOn, Request: Request{ClientMinimumACR: "phr"}}, Unmet, "client requires phishing-resistant sign-in (acr phr); the user has no method that can provide it", nil},
		{"client requires phr, phr session", Input{Session: phr(time.Hour), User: withKey, Request: Request{ClientMinimumACR: "phr"}}, Done, both, nil},

		// Org-unit settings and roles.
		{"OU optional, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "optional", OrgUnitName: "Root"}}, Done, fresh, nil},
		{"OU prompted, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales"}}, OfferEnrolment, "org unit Wales prompts for multi-factor authentication; the user has no method", nil},
		{"OU prompted, declined", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales"}, Request: Request{EnrolmentDeclined: true}}, Done, fresh, nil},
		{"OU prompted, prompt=none", Input{Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales"}, Request: Request{Prompt: []string{"none"}}}, Done, sso, nil},
		{"OU prompted, has a method (MFA off)", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales", Methods: []string{"totp"}, Registered: 1}}, Challenge, "org unit Wales prompts for multi-factor authentication and the user has a method", nil},
		{"OU required, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards"}}, RequireEnrolment, "org unit Wards requires multi-factor authentication; the user has no method yet", nil},
		{"OU required, declined is not an option", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards"}, Request: Request{EnrolmentDeclined: true}}, RequireEnrolment, "org unit Wards requires multi-factor authentication; the user has no method yet", nil},
		{"OU required, no methods, prompt=none", Input{Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards"}, Request: Request{Prompt: []string{"none"}}}, InteractionRequired, "org unit Wards requires multi-factor authentication; the user must set up a method; prompt=none forbids asking", nil},
		{"OU required, has a method", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1}}, Challenge, "org unit Wards requires multi-factor authentication", nil},
		{"OU required, only method switched off", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards", Registered: 1}}, Unmet, "org unit Wards requires multi-factor authentication; the user has no method that can provide it", nil},
		{"OU required, MFA session", Input{Session: mfa(time.Hour), User: User{OrgUnit: "required", OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1}}, Done, both, nil},
		{"admin in an optional OU, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "optional", Privileged: true}}, RequireEnrolment, "admin and helpdesk roles always need a second factor; the user has no method yet", nil},
		{"admin in an optional OU, has a method", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "optional", Privileged: true, Methods: []string{"webauthn"}, Registered: 1}}, Challenge, "admin and helpdesk roles always need a second factor", nil},

		// A recent second factor (the Security info page).
		{"recent factor wanted, fresh enough", Input{Session: mfa(5 * time.Minute), User: mfaOn, Request: Request{MFAMaxAge: 10 * time.Minute}}, Done, both, nil},
		{"recent factor wanted, too old", Input{Session: mfa(11 * time.Minute), User: mfaOn, Request: Request{MFAMaxAge: 10 * time.Minute}}, Challenge, "a second factor within the last 10m0s is required", nil},
		{"recent factor wanted, MFA off but a method", Input{Session: pwd(0), User: mfaOff, Request: Request{MFAMaxAge: 10 * time.Minute}}, Challenge, "a second factor within the last 10m0s is required", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = now
			got := Decide(tt.in)
			if got.Outcome != tt.want || got.Reason != tt.wantWhy || len(got.Methods) != len(tt.methods) {
				t.Errorf("Decide() = %q (%s) %v, want %q (%s) %v", got.Outcome, got.Reason, got.Methods, tt.want, tt.wantWhy, tt.methods)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	ou := func(name string, mfa storage.MFASetting) storage.OrgUnit {
		return storage.OrgUnit{Name: name, MFA: mfa}
	}
	tests := []struct {
		name     string
		chain    []storage.OrgUnit
		want     storage.MFASetting
		wantFrom string
	}{
		{"root only, unset", []storage.OrgUnit{ou("Root", "")}, "optional", "Root"},
		{"own setting", []storage.OrgUnit{ou("Ward", "required"), ou("Root", "optional")}, "required", "Ward"},
		{"inherit from parent", []storage.OrgUnit{ou("Ward", "inherit"), ou("Trust", "prompted"), ou("Root", "optional")}, "prompted", "Trust"},
		{"inherit all the way", []storage.OrgUnit{ou("Ward", "inherit"), ou("Trust", "inherit"), ou("Root", "inherit")}, "optional", "Root"},
		{"nearest wins", []storage.OrgUnit{ou("Ward", "optional"), ou("Trust", "required")}, "optional", "Ward"},
		{"no chain", nil, "optional", ""},
	}
	for _, tt := range tests {
		got, from := Effective(tt.chain)
		if got != tt.want || from.Name != tt.wantFrom {
			t.Errorf("%s: Effective() = %s from %q, want %s from %q", tt.name, got, from.Name, tt.want, tt.wantFrom)
		}
	}
}
