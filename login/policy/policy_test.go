package policy

import (
	"reflect"
	"slices"
	"strings"
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
	exception := func(state string, expires time.Time) []storage.Exception {
		return []storage.Exception{{ID: "e1", Kind: storage.ExceptionShortTerm, State: state, ExpiresAt: expires}}
	}
	required := func(ex []storage.Exception) User {
		return User{OrgUnit: "required", OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1, Exceptions: ex}
	}
	fallbacks := func(ou storage.MFASetting) User {
		return User{OrgUnit: ou, OrgUnitName: "Wards", MFAEnabled: true, Methods: []string{"recovery"}, Registered: 1, NoOwnMethod: true}
	}
	active := exception(storage.ExceptionApproved, now.Add(time.Hour))
	honoured := ask{ExceptionsAllowed: true}
	const (
		waived    = "skipped: short-term exception until 23 Nov 2026 13:00 UTC (org unit Wards requires multi-factor authentication)"
		ouNeeds   = "org unit Wards requires multi-factor authentication"
		remembers = "skipped: a second factor passed on this device within the org unit's remember window (org unit Wards requires multi-factor authentication)"
	)
	const (
		sso   = "single sign-on: session satisfies the request"
		fresh = "password verified; no second factor required"
		both  = "password and second factor verified"
	)
	tests := []struct {
		name    string
		in      Input
		ask     ask
		want    Outcome
		wantWhy string
		methods []string
	}{
		// The session and the request.
		{"no session", Input{}, ask{}, Reauthenticate, "no session", nil},
		{"no session, prompt=none", Input{}, ask{Prompt: []string{"none"}}, LoginRequired, "no session; prompt=none forbids asking", nil},
		{"session", Input{Session: pwd(time.Hour)}, ask{}, Done, sso, nil},
		{"session, prompt=none", Input{Session: pwd(time.Hour)}, ask{Prompt: []string{"none"}}, Done, sso, nil},
		{"prompt=login", Input{Session: pwd(0)}, ask{Prompt: []string{"login"}, MaxAge: maxAge(0)}, Reauthenticate, "prompt=login", nil},
		{"max_age=0", Input{Session: pwd(0)}, ask{MaxAge: maxAge(0)}, Reauthenticate, "max_age=0", nil},
		{"within max_age", Input{Session: pwd(59 * time.Second)}, ask{MaxAge: maxAge(60)}, Done, sso, nil},
		{"at max_age", Input{Session: pwd(60 * time.Second)}, ask{MaxAge: maxAge(60)}, Done, sso, nil},
		{"beyond max_age", Input{Session: pwd(61 * time.Second)}, ask{MaxAge: maxAge(60)}, Reauthenticate, "session authenticated 1m1s ago, beyond max_age=60", nil},
		{"beyond max_age, prompt=none", Input{Session: pwd(2 * time.Hour)}, ask{MaxAge: maxAge(60), Prompt: []string{"none"}}, LoginRequired, "session authenticated 2h0m0s ago, beyond max_age=60; prompt=none forbids asking", nil},
		{"hint names the session user", Input{Session: pwd(0)}, ask{HintUserID: "alice"}, Done, sso, nil},
		{"hint names another user", Input{Session: pwd(0)}, ask{HintUserID: "bob"}, Reauthenticate, "id_token_hint names another user", nil},
		{"hint names another user, prompt=none", Input{Session: pwd(0)}, ask{HintUserID: "bob", Prompt: []string{"none"}}, LoginRequired, "id_token_hint names another user; prompt=none forbids asking", nil},
		{"fresh password", Input{FreshPassword: true, Session: pwd(0)}, ask{Prompt: []string{"login"}, MaxAge: maxAge(0)}, Done, fresh, nil},

		// The user's own MFA switch.
		{"MFA on, fresh password", Input{FreshPassword: true, Session: pwd(0), User: mfaOn}, ask{}, Challenge, "the user has turned multi-factor authentication on", nil},
		{"MFA on, after the second factor", Input{FreshPassword: true, Session: mfa(0), User: mfaOn}, ask{}, Done, both, nil},
		{"MFA on, SSO with a password-only session", Input{Session: pwd(time.Hour), User: mfaOn}, ask{}, Challenge, "the user has turned multi-factor authentication on", nil},
		{"MFA on, SSO with an MFA session", Input{Session: mfa(time.Hour), User: mfaOn}, ask{}, Done, both, nil},
		{"MFA on, prompt=none needing a factor", Input{Session: pwd(0), User: mfaOn}, ask{Prompt: []string{"none"}}, InteractionRequired, "the user has turned multi-factor authentication on; prompt=none forbids asking", nil},
		{"MFA on, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{MFAEnabled: true}}, ask{}, Done, fresh, nil},
		{"MFA on, only method switched off", Input{FreshPassword: true, Session: pwd(0), User: switchedOff}, ask{}, Unmet, "the user has turned multi-factor authentication on; the user has no method that can provide it", nil},
		{"MFA off, methods registered", Input{FreshPassword: true, Session: pwd(0), User: mfaOff}, ask{}, Done, fresh, nil},

		// The client's minimum.
		{"client requires mfa, user has none", Input{FreshPassword: true, Session: pwd(0)}, ask{ClientMinimumACR: "mfa"}, Unmet, "client requires a second factor (acr mfa); the user has no method that can provide it", nil},
		{"client requires mfa, MFA off but a method", Input{FreshPassword: true, Session: pwd(0), User: mfaOff}, ask{ClientMinimumACR: "mfa"}, Challenge, "client requires a second factor (acr mfa)", nil},
		{"client requires mfa, MFA session", Input{Session: mfa(time.Hour)}, ask{ClientMinimumACR: "mfa"}, Done, both, nil},
		{"request asks for mfa", Input{FreshPassword: true, Session: pwd(0), User: mfaOff}, ask{RequestedACR: "mfa"}, Challenge, "request asks for a second factor (acr mfa)", nil},
		{"request asks for phr, TOTP session", Input{Session: mfa(0), User: withKey}, ask{RequestedACR: "phr", ClientMinimumACR: "mfa"}, StepUp, "request asks for phishing-resistant sign-in (acr phr)", []string{"webauthn"}},
		{"request asks for pwd, client requires mfa", Input{Session: mfa(0), User: mfaOn}, ask{RequestedACR: "pwd", ClientMinimumACR: "mfa"}, Done, both, nil},
		{"client requires pwd", Input{Session: pwd(0)}, ask{ClientMinimumACR: "pwd"}, Done, sso, nil},
		{"client requires phr, TOTP session, has a key", Input{Session: mfa(0), User: withKey}, ask{ClientMinimumACR: "phr"}, StepUp, "client requires phishing-resistant sign-in (acr phr)", []string{"webauthn"}},
		{"client requires phr, no key", Input{Session: mfa(0), User: mfaOn}, ask{ClientMinimumACR: "phr"}, Unmet, "client requires phishing-resistant sign-in (acr phr); the user has no method that can provide it", nil},
		{"client requires phr, phr session", Input{Session: phr(time.Hour), User: withKey}, ask{ClientMinimumACR: "phr"}, Done, both, nil},

		// Org-unit settings and roles.
		{"OU optional, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "optional", OrgUnitName: "Root"}}, ask{}, Done, fresh, nil},
		{"OU prompted, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales"}}, ask{}, OfferEnrolment, "org unit Wales prompts for multi-factor authentication; the user has no method", nil},
		{"OU prompted, declined", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales"}}, ask{EnrolmentDeclined: true}, Done, fresh, nil},
		{"OU prompted, prompt=none", Input{Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales"}}, ask{Prompt: []string{"none"}}, Done, sso, nil},
		{"OU prompted, has a method (MFA off)", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "prompted", OrgUnitName: "Wales", Methods: []string{"totp"}, Registered: 1}}, ask{}, Challenge, "org unit Wales prompts for multi-factor authentication and the user has a method", nil},
		{"OU required, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards"}}, ask{}, RequireEnrolment, "org unit Wards requires multi-factor authentication; the user has no method yet", nil},
		{"OU required, declined is not an option", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards"}}, ask{EnrolmentDeclined: true}, RequireEnrolment, "org unit Wards requires multi-factor authentication; the user has no method yet", nil},
		{"OU required, no methods, prompt=none", Input{Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards"}}, ask{Prompt: []string{"none"}}, InteractionRequired, "org unit Wards requires multi-factor authentication; the user must set up a method; prompt=none forbids asking", nil},
		{"OU required, has a method", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1}}, ask{}, Challenge, "org unit Wards requires multi-factor authentication", nil},
		{"OU required, only method switched off", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "required", OrgUnitName: "Wards", Registered: 1}}, ask{}, Unmet, "org unit Wards requires multi-factor authentication; the user has no method that can provide it", nil},
		{"OU required, MFA session", Input{Session: mfa(time.Hour), User: User{OrgUnit: "required", OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1}}, ask{}, Done, both, nil},
		// Recovery codes or a pass answer the second factor; then the user
		// sets up a method of their own where the unit or a role asks.
		{"OU required, only recovery codes", Input{FreshPassword: true, Session: pwd(0), User: fallbacks("required")}, ask{}, Challenge, ouNeeds, nil},
		{"OU required, only recovery codes, answered", Input{FreshPassword: true, Session: mfa(0), User: fallbacks("required")}, ask{}, RequireEnrolment, "the second factor passed, but the user has no method of their own; a method of their own is required", nil},
		{"OU required, only a pass, answered, prompt=none", Input{Session: mfa(0), User: fallbacks("required")}, ask{Prompt: []string{"none"}}, InteractionRequired, "the second factor passed, but the user has no method of their own and must set up a method; prompt=none forbids asking", nil},
		{"OU prompted, only recovery codes, answered", Input{FreshPassword: true, Session: mfa(0), User: fallbacks("prompted")}, ask{}, OfferEnrolment, "the second factor passed, but the user has no method of their own; org unit Wards prompts for a method of their own", nil},
		{"OU prompted, only recovery codes, declined", Input{FreshPassword: true, Session: mfa(0), User: fallbacks("prompted")}, ask{EnrolmentDeclined: true}, Done, both, nil},
		{"OU optional, only recovery codes, answered", Input{FreshPassword: true, Session: mfa(0), User: fallbacks("optional")}, ask{}, Done, both, nil},
		{"admin in an optional OU, no methods", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "optional", Privileged: true}}, ask{}, RequireEnrolment, "admin and helpdesk roles always need a second factor; the user has no method yet", nil},
		{"admin in an optional OU, has a method", Input{FreshPassword: true, Session: pwd(0), User: User{OrgUnit: "optional", Privileged: true, Methods: []string{"webauthn"}, Registered: 1}}, ask{}, Challenge, "admin and helpdesk roles always need a second factor", nil},

		// Exceptions: only an approved, unexpired one, at a client that
		// honours them, and never for a request's own acr.
		{"exception active", Input{FreshPassword: true, Session: pwd(0), User: required(active)}, honoured, Done, waived, nil},
		{"exception active, SSO", Input{Session: pwd(time.Hour), User: required(active)}, honoured, Done, waived, nil},
		{"exception active, prompt=none", Input{Session: pwd(0), User: required(active)}, ask{ExceptionsAllowed: true, Prompt: []string{"none"}}, Done, waived, nil},
		{"exception active, client refuses exceptions", Input{FreshPassword: true, Session: pwd(0), User: required(active)}, ask{}, Challenge, ouNeeds, nil},
		{"exception expired", Input{FreshPassword: true, Session: pwd(0), User: required(exception(storage.ExceptionApproved, now))}, honoured, Challenge, ouNeeds, nil},
		{"exception revoked", Input{FreshPassword: true, Session: pwd(0), User: required(exception(storage.ExceptionRevoked, now.Add(time.Hour)))}, honoured, Challenge, ouNeeds, nil},
		{"exception rejected", Input{FreshPassword: true, Session: pwd(0), User: required(exception(storage.ExceptionRejected, time.Time{}))}, honoured, Challenge, ouNeeds, nil},
		{"exception requested, not yet approved", Input{FreshPassword: true, Session: pwd(0), User: required(exception(storage.ExceptionRequested, time.Time{}))}, honoured, Challenge, ouNeeds, nil},
		{"exception active, client minimum mfa honours it", Input{FreshPassword: true, Session: pwd(0), User: required(active)}, ask{ExceptionsAllowed: true, ClientMinimumACR: "mfa"},
			Done, "skipped: short-term exception until 23 Nov 2026 13:00 UTC (client requires a second factor (acr mfa))", nil},
		{"exception active, client minimum mfa refuses it", Input{FreshPassword: true, Session: pwd(0), User: required(active)}, ask{ClientMinimumACR: "mfa"}, Challenge, "client requires a second factor (acr mfa)", nil},
		{"exception active, request asks for mfa", Input{FreshPassword: true, Session: pwd(0), User: required(active)}, ask{ExceptionsAllowed: true, RequestedACR: "mfa"}, Challenge, "request asks for a second factor (acr mfa)", nil},
		{"exception active, request asks for phr", Input{FreshPassword: true, Session: pwd(0), User: User{Methods: []string{"webauthn"}, Registered: 1, Exceptions: active}}, ask{ExceptionsAllowed: true, RequestedACR: "phr"}, StepUp, "request asks for phishing-resistant sign-in (acr phr)", []string{"webauthn"}},
		{"exception active, recent factor wanted", Input{Session: pwd(0), User: required(active)}, ask{ExceptionsAllowed: true, MFAMaxAge: 10 * time.Minute}, Challenge, "a second factor within the last 10m0s is required", nil},
		{"exception active, admin", Input{FreshPassword: true, Session: pwd(0), User: User{Privileged: true, Methods: []string{"totp"}, Registered: 1, Exceptions: active}}, honoured,
			Done, "skipped: short-term exception until 23 Nov 2026 13:00 UTC (admin and helpdesk roles always need a second factor)", nil},
		{"exception active, MFA session anyway", Input{Session: mfa(0), User: required(active)}, honoured, Done, both, nil},

		// A device that passed a second factor within the remember window.
		{"remembered device", Input{FreshPassword: true, RememberedDevice: true, Session: pwd(0), User: required(nil)}, ask{}, Done, remembers, nil},
		{"remembered device, prompt=login", Input{FreshPassword: true, RememberedDevice: true, Session: pwd(0), User: required(nil)}, ask{Prompt: []string{"login"}}, Challenge, ouNeeds, nil},
		{"remembered device, max_age", Input{FreshPassword: true, RememberedDevice: true, Session: pwd(0), User: required(nil)}, ask{MaxAge: maxAge(1)}, Challenge, ouNeeds, nil},
		{"remembered device, request asks for mfa", Input{FreshPassword: true, RememberedDevice: true, Session: pwd(0), User: required(nil)}, ask{RequestedACR: "mfa"}, Challenge, "request asks for a second factor (acr mfa)", nil},
		{"remembered device, client requires mfa", Input{FreshPassword: true, RememberedDevice: true, Session: pwd(0), User: required(nil)}, ask{ClientMinimumACR: "mfa"}, Challenge, "client requires a second factor (acr mfa)", nil},
		{"remembered device, admin", Input{FreshPassword: true, RememberedDevice: true, Session: pwd(0), User: User{Privileged: true, Methods: []string{"totp"}, Registered: 1}}, ask{}, Challenge, "admin and helpdesk roles always need a second factor", nil},
		{"remembered device, recent factor wanted", Input{RememberedDevice: true, Session: pwd(0), User: required(nil)}, ask{MFAMaxAge: 10 * time.Minute}, Challenge, "a second factor within the last 10m0s is required", nil},

		// A recent second factor (the Security info page).
		{"recent factor wanted, fresh enough", Input{Session: mfa(5 * time.Minute), User: mfaOn}, ask{MFAMaxAge: 10 * time.Minute}, Done, both, nil},
		{"recent factor wanted, too old", Input{Session: mfa(11 * time.Minute), User: mfaOn}, ask{MFAMaxAge: 10 * time.Minute}, Challenge, "a second factor within the last 10m0s is required", nil},
		{"recent factor wanted, MFA off but a method", Input{Session: pwd(0), User: mfaOff}, ask{MFAMaxAge: 10 * time.Minute}, Challenge, "a second factor within the last 10m0s is required", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = now
			got := Decide(tt.ask.input(tt.in))
			if got.Outcome != tt.want || got.Reason != tt.wantWhy || !slices.Equal(got.Methods, tt.methods) {
				t.Errorf("Decide() = %q (%s) %v, want %q (%s) %v", got.Outcome, got.Reason, got.Methods, tt.want, tt.wantWhy, tt.methods)
			}
			if waivedByException := strings.HasPrefix(got.Reason, "skipped: short-term"); waivedByException != (got.Exception != nil) {
				t.Errorf("Decide().Exception = %v for reason %q", got.Exception, got.Reason)
			}
		})
	}
}

// ask is what a client and its request (or one of Gatehouse's pages) ask
// for, as the tables state it; input builds the Requirement from it as the
// provider and login do.
type ask struct {
	Prompt            []string
	MaxAge            *uint
	HintUserID        string
	ClientMinimumACR  string
	RequestedACR      string
	EnrolmentDeclined bool
	MFAMaxAge         time.Duration
	ExceptionsAllowed bool
}

func (a ask) input(in Input) Input {
	in.Need = ForClient(storage.Client{MinimumACR: a.ClientMinimumACR, ExceptionsAllowed: a.ExceptionsAllowed}, []string{a.RequestedACR}, a.MaxAge, a.Prompt)
	if a.MFAMaxAge > 0 {
		// As ForPage(RecentMFA) asks, without its acr.
		in.Need.MFAWithin, in.Need.ExceptionsAnswer, in.Need.RememberedAnswers = a.MFAMaxAge, false, false
	}
	in.HintUserID, in.EnrolmentDeclined = a.HintUserID, a.EnrolmentDeclined
	return in
}

func TestEffective(t *testing.T) {
	ou := func(name string, mfa storage.MFASetting) storage.OrgUnit {
		return storage.OrgUnit{Name: name, MFA: mfa}
	}
	hours := func(h int) *time.Duration { d := time.Duration(h) * time.Hour; return &d }
	tests := []struct {
		name  string
		chain []storage.OrgUnit
		want  OrgPolicy
	}{
		{"root only, unset", []storage.OrgUnit{ou("Root", "")}, OrgPolicy{MFA: "optional", MFAFrom: "Root"}},
		{"own setting", []storage.OrgUnit{ou("Ward", "required"), ou("Root", "optional")}, OrgPolicy{MFA: "required", MFAFrom: "Ward"}},
		{"inherit from parent", []storage.OrgUnit{ou("Ward", "inherit"), ou("Trust", "prompted"), ou("Root", "optional")}, OrgPolicy{MFA: "prompted", MFAFrom: "Trust"}},
		{"inherit all the way", []storage.OrgUnit{ou("Ward", "inherit"), ou("Trust", "inherit"), ou("Root", "inherit")}, OrgPolicy{MFA: "optional", MFAFrom: "Root"}},
		{"nearest wins", []storage.OrgUnit{ou("Ward", "optional"), ou("Trust", "required")}, OrgPolicy{MFA: "optional", MFAFrom: "Ward"}},
		{"no chain", nil, OrgPolicy{MFA: "optional"}},
		{"overrides inherit one by one", []storage.OrgUnit{
			{Name: "Ward", MFA: "inherit", PhoneRegions: []string{"IE"}},
			{Name: "Trust", MFA: "required", AllowedMethods: []string{"totp", "webauthn"}, RememberMFA: hours(12)},
			{Name: "Root", MFA: "optional", AllowedMethods: []string{"sms"}, PhoneRegions: []string{"GB"}, RememberMFA: hours(24)},
		}, OrgPolicy{MFA: "required", MFAFrom: "Trust", AllowedMethods: []string{"totp", "webauthn"}, PhoneRegions: []string{"IE"}, RememberMFA: 12 * time.Hour, RememberSet: true}},
		{"a zero remember window is set, not inherited", []storage.OrgUnit{
			{Name: "Ward", RememberMFA: hours(0)}, {Name: "Root", RememberMFA: hours(12)},
		}, OrgPolicy{MFA: "optional", MFAFrom: "Root", RememberMFA: 0, RememberSet: true}},
	}
	for _, tt := range tests {
		if got := Effective(tt.chain); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Effective() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestActiveExceptionLastsLongest(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	u := User{Exceptions: []storage.Exception{
		{ID: "short", State: storage.ExceptionApproved, ExpiresAt: now.Add(24 * time.Hour)},
		{ID: "long", State: storage.ExceptionApproved, ExpiresAt: now.Add(180 * 24 * time.Hour)},
		{ID: "revoked", State: storage.ExceptionRevoked, ExpiresAt: now.Add(365 * 24 * time.Hour)},
	}}
	if e, ok := ActiveException(u.Exceptions, now); !ok || e.ID != "long" {
		t.Errorf("ActiveException = %q, %v; want the long one", e.ID, ok)
	}
	if e, ok := ActiveException(u.Exceptions, now.Add(200*24*time.Hour)); ok {
		t.Errorf("ActiveException after both ended = %q", e.ID)
	}
}

func TestLooserThan(t *testing.T) {
	hours := func(n int) time.Duration { return time.Duration(n) * time.Hour }
	floor := OrgPolicy{MFA: storage.MFARequired, AllowedMethods: []string{"totp", "webauthn"}, PhoneRegions: []string{"GB"}, RememberMFA: hours(8), RememberSet: true}
	for _, tc := range []struct {
		name string
		p    OrgPolicy
		want []string
	}{
		{"same", floor, nil},
		{"stricter everywhere", OrgPolicy{MFA: storage.MFARequired, AllowedMethods: []string{"webauthn"}, PhoneRegions: []string{"GB"}, RememberMFA: 0}, nil},
		{"weaker MFA", OrgPolicy{MFA: storage.MFAPrompted, AllowedMethods: floor.AllowedMethods, PhoneRegions: floor.PhoneRegions, RememberMFA: floor.RememberMFA}, []string{SettingMFA}},
		{"a method the floor forbids", OrgPolicy{MFA: storage.MFARequired, AllowedMethods: []string{"totp", "sms"}, PhoneRegions: floor.PhoneRegions, RememberMFA: floor.RememberMFA}, []string{SettingMethods}},
		{"every method", OrgPolicy{MFA: storage.MFARequired, PhoneRegions: floor.PhoneRegions, RememberMFA: floor.RememberMFA}, []string{SettingMethods}},
		{"another region", OrgPolicy{MFA: storage.MFARequired, AllowedMethods: floor.AllowedMethods, PhoneRegions: []string{"GB", "FR"}, RememberMFA: floor.RememberMFA}, []string{SettingRegions}},
		{"longer remember", OrgPolicy{MFA: storage.MFARequired, AllowedMethods: floor.AllowedMethods, PhoneRegions: floor.PhoneRegions, RememberMFA: hours(24)}, []string{SettingRemember}},
		{"everything looser", OrgPolicy{MFA: storage.MFAOptional, PhoneRegions: []string{"IE"}, RememberMFA: hours(168)}, []string{SettingMFA, SettingMethods, SettingRegions, SettingRemember}},
	} {
		if got := tc.p.LooserThan(floor, []string{"GB"}); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: LooserThan = %v, want %v", tc.name, got, tc.want)
		}
	}
	// nil regions are the server's default, on either side.
	if got := (OrgPolicy{PhoneRegions: []string{"GB", "IE"}}).LooserThan(OrgPolicy{}, []string{"GB"}); !reflect.DeepEqual(got, []string{SettingRegions}) {
		t.Errorf("regions beyond the default: LooserThan = %v, want [regions]", got)
	}
	if got := (OrgPolicy{}).LooserThan(OrgPolicy{PhoneRegions: []string{"GB"}}, []string{"GB"}); got != nil {
		t.Errorf("the default against itself: LooserThan = %v, want none", got)
	}
	if got := (OrgPolicy{AppPasswords: true}).LooserThan(OrgPolicy{}, nil); !reflect.DeepEqual(got, []string{SettingAppPasswords}) {
		t.Errorf("app passwords where the floor forbids them: LooserThan = %v, want [app_passwords]", got)
	}
	// A remember window nobody set bounds nothing.
	if got := (OrgPolicy{RememberMFA: hours(12)}).LooserThan(OrgPolicy{}, nil); got != nil {
		t.Errorf("a window below an unset one: LooserThan = %v, want none", got)
	}
}

// TestLooserThanKnowsEverySetting fails when OrgPolicy grows a setting
// that LooserThan does not compare: a scoped admin could loosen it.
func TestLooserThanKnowsEverySetting(t *testing.T) {
	compared := map[string]bool{"MFA": true, "AllowedMethods": true, "PhoneRegions": true, "RememberMFA": true, "AppPasswords": true,
		"MFAFrom": false, "MFAFromID": false, "RememberSet": false} // where settings come from
	for f := range reflect.TypeFor[OrgPolicy]().Fields() {
		if _, ok := compared[f.Name]; !ok {
			t.Errorf("OrgPolicy.%s is new: compare it in LooserThan (or list it here as not a setting)", f.Name)
		}
	}
}

func TestRefresh(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pwd := Proof{UserID: "alice", AuthTime: now.Add(-time.Hour), AMR: []string{"pwd"}, ACR: "pwd"}
	mfa := Proof{UserID: "alice", AuthTime: now.Add(-time.Hour), AMR: []string{"pwd", "otp", "mfa"}, ACR: "mfa", MFAAt: now.Add(-time.Hour)}
	withTOTP := func(ou storage.MFASetting) User {
		return User{OrgUnit: ou, OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1}
	}
	active := []storage.Exception{{ID: "e1", Kind: storage.ExceptionShortTerm, State: storage.ExceptionApproved, ExpiresAt: now.Add(time.Hour)}}
	for _, tc := range []struct {
		name       string
		user       User
		family     Proof
		remembered bool
		client     storage.Client
		want       Outcome
	}{
		{"nothing changed", withTOTP(storage.MFAOptional), pwd, false, storage.Client{}, Done},
		{"unit now requires MFA", withTOTP(storage.MFARequired), pwd, false, storage.Client{}, Challenge},
		{"unit requires MFA, family proved it", withTOTP(storage.MFARequired), mfa, false, storage.Client{}, Done},
		{"unit requires MFA, remembered device", withTOTP(storage.MFARequired), pwd, true, storage.Client{}, Done},
		{"a role now", User{Privileged: true, Methods: []string{"totp"}, Registered: 1}, pwd, true, storage.Client{}, Challenge},
		{"client now needs mfa", withTOTP(storage.MFAOptional), pwd, false, storage.Client{MinimumACR: "mfa"}, Challenge},
		{"client needs mfa, exception honoured", User{OrgUnit: storage.MFARequired, Methods: []string{"totp"}, Registered: 1, Exceptions: active}, pwd, false,
			storage.Client{MinimumACR: "mfa", ExceptionsAllowed: true}, Done},
		{"exception no longer honoured", User{OrgUnit: storage.MFARequired, Methods: []string{"totp"}, Registered: 1, Exceptions: active}, pwd, false, storage.Client{}, Challenge},
		{"required and no method yet", User{OrgUnit: storage.MFARequired}, pwd, false, storage.Client{}, RequireEnrolment},
		{"prompted and no method: the offer waits", User{OrgUnit: storage.MFAPrompted}, pwd, false, storage.Client{}, Done},
	} {
		if got := Refresh(tc.user, tc.family, tc.remembered, tc.client, now); got.Outcome != tc.want {
			t.Errorf("%s: Refresh = %s (%s), want %s", tc.name, got.Outcome, got.Reason, tc.want)
		}
	}
}
