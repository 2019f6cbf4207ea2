package policy

import (
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Each stage of Decide, alone. TestDecide and TestEveryCombination check
// them together.

var stageNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func sessionAged(age time.Duration, amr ...string) *Proof {
	p := &Proof{UserID: "alice", AuthTime: stageNow.Add(-age), AMR: append([]string{"pwd"}, amr...), ACR: "pwd"}
	if HasMFA(p.AMR) {
		p.ACR, p.MFAAt = "mfa", p.AuthTime
	}
	return p
}

func TestSessionFalls(t *testing.T) {
	minute, zero := time.Minute, time.Duration(0)
	for _, tc := range []struct {
		name string
		in   Input
		want string
	}{
		{"no session", Input{}, "no session"},
		{"a session", Input{Session: sessionAged(time.Hour)}, ""},
		{"hint names another", Input{Session: sessionAged(0), HintUserID: "bob"}, "id_token_hint names another user"},
		{"hint names the user", Input{Session: sessionAged(0), HintUserID: "alice"}, ""},
		{"prompt=login", Input{Session: sessionAged(0), Need: storage.Requirement{Prompt: []string{"login"}}}, "prompt=login"},
		{"password now", Input{Session: sessionAged(0), Need: storage.Requirement{PasswordWithin: &zero}}, "max_age=0"},
		{"password within a minute, 61s old", Input{Session: sessionAged(61 * time.Second), Need: storage.Requirement{PasswordWithin: &minute}},
			"session authenticated 1m1s ago, beyond max_age=60"},
		{"password within a minute, 60s old", Input{Session: sessionAged(time.Minute), Need: storage.Requirement{PasswordWithin: &minute}}, ""},
	} {
		tc.in.Now = stageNow
		if got := sessionFalls(tc.in); got != tc.want {
			t.Errorf("%s: sessionFalls = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestRequired(t *testing.T) {
	withTOTP := func(ou storage.MFASetting) User {
		return User{OrgUnit: ou, OrgUnitName: "Wards", Methods: []string{"totp"}, Registered: 1}
	}
	for _, tc := range []struct {
		name string
		in   Input
		want need
	}{
		{"nothing asks", Input{Session: sessionAged(0), User: withTOTP(storage.MFAOptional)}, need{}},
		{"client phr, mfa session", Input{Session: sessionAged(0, "otp", "mfa"), Need: storage.Requirement{ACR: "phr", ACRBy: byClient}},
			need{acr: ACRPhishingResistant, why: "client requires phishing-resistant sign-in (acr phr)"}},
		{"request mfa", Input{Session: sessionAged(0), Need: storage.Requirement{ACR: "mfa", ACRBy: byRequest}},
			need{acr: ACRMFA, why: "request asks for a second factor (acr mfa)"}},
		{"request mfa, mfa session", Input{Session: sessionAged(0, "otp", "mfa"), Need: storage.Requirement{ACR: "mfa", ACRBy: byRequest}}, need{}},
		{"a recent factor, an old one", Input{Session: sessionAged(time.Hour, "otp", "mfa"), Need: storage.Requirement{MFAWithin: 10 * time.Minute}},
			need{acr: ACRMFA, why: "a second factor within the last 10m0s is required"}},
		{"a role", Input{Session: sessionAged(0), User: User{Privileged: true}}, need{acr: ACRMFA, why: "admin and helpdesk roles always need a second factor"}},
		{"unit requires", Input{Session: sessionAged(0), User: withTOTP(storage.MFARequired)}, need{acr: ACRMFA, why: "org unit Wards requires multi-factor authentication"}},
		{"unit prompts, a method", Input{Session: sessionAged(0), User: withTOTP(storage.MFAPrompted)},
			need{acr: ACRMFA, why: "org unit Wards prompts for multi-factor authentication and the user has a method"}},
		{"unit prompts, no method", Input{Session: sessionAged(0), User: User{OrgUnit: storage.MFAPrompted, OrgUnitName: "Wards"}},
			need{offer: true, why: "org unit Wards prompts for multi-factor authentication; the user has no method"}},
		{"unit prompts, no method, declined", Input{Session: sessionAged(0), EnrolmentDeclined: true, User: User{OrgUnit: storage.MFAPrompted}}, need{}},
		{"user's switch on", Input{Session: sessionAged(0), User: User{MFAEnabled: true, Methods: []string{"totp"}, Registered: 1}},
			need{acr: ACRMFA, why: "the user has turned multi-factor authentication on"}},
	} {
		tc.in.Now = stageNow
		if got := required(tc.in); got != tc.want {
			t.Errorf("%s: required = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestWaived(t *testing.T) {
	active := []storage.Exception{{ID: "e1", Kind: storage.ExceptionShortTerm, State: storage.ExceptionApproved, ExpiresAt: stageNow.Add(time.Hour)}}
	mfaNeed, phrNeed := need{acr: ACRMFA, why: "why"}, need{acr: ACRPhishingResistant, why: "why"}
	for _, tc := range []struct {
		name   string
		in     Input
		n      need
		waived bool
		by     string // "exception" or "device"
	}{
		{"exception where exceptions answer", Input{User: User{Exceptions: active}, Need: storage.Requirement{ExceptionsAnswer: true}}, mfaNeed, true, "exception"},
		{"exception where they do not", Input{User: User{Exceptions: active}}, mfaNeed, false, ""},
		{"exception for phr", Input{User: User{Exceptions: active}, Need: storage.Requirement{ExceptionsAnswer: true}}, phrNeed, false, ""},
		{"device where devices answer", Input{RememberedDevice: true, Need: storage.Requirement{RememberedAnswers: true}}, mfaNeed, true, "device"},
		{"device where they do not", Input{RememberedDevice: true}, mfaNeed, false, ""},
		{"device for a role", Input{RememberedDevice: true, User: User{Privileged: true}, Need: storage.Requirement{RememberedAnswers: true}}, mfaNeed, false, ""},
		{"nothing needed", Input{User: User{Exceptions: active}, Need: storage.Requirement{ExceptionsAnswer: true}}, need{}, false, ""},
	} {
		tc.in.Now = stageNow
		d, ok := waived(tc.in, tc.n)
		by := ""
		switch {
		case d.Exception != nil:
			by = "exception"
		case d.Remembered:
			by = "device"
		}
		if ok != tc.waived || by != tc.by || ok && d.Outcome != Done {
			t.Errorf("%s: waived = %v by %q (%s), want %v by %q", tc.name, ok, by, d.Outcome, tc.waived, tc.by)
		}
	}
}

func TestOutcome(t *testing.T) {
	mfaNeed, phrNeed := need{acr: ACRMFA, why: "why"}, need{acr: ACRPhishingResistant, why: "why"}
	none := storage.Requirement{Prompt: []string{"none"}}
	for _, tc := range []struct {
		name    string
		in      Input
		n       need
		want    Outcome
		methods []string
	}{
		{"nothing needed", Input{FreshPassword: true}, need{}, Done, nil},
		{"offer", Input{}, need{offer: true, why: "why"}, OfferEnrolment, nil},
		{"mfa, a method", Input{User: User{Methods: []string{"totp"}, Registered: 1}}, mfaNeed, Challenge, nil},
		{"mfa, a method, prompt=none", Input{User: User{Methods: []string{"totp"}, Registered: 1}, Need: none}, mfaNeed, InteractionRequired, nil},
		{"mfa, none, unit requires", Input{User: User{OrgUnit: storage.MFARequired}}, mfaNeed, RequireEnrolment, nil},
		{"mfa, none, a role, prompt=none", Input{User: User{Privileged: true}, Need: none}, mfaNeed, InteractionRequired, nil},
		{"mfa, only a switched-off one", Input{User: User{OrgUnit: storage.MFARequired, Registered: 1}}, mfaNeed, Unmet, nil},
		{"mfa, none, optional unit", Input{User: User{}}, mfaNeed, Unmet, nil},
		{"phr, a key", Input{User: User{Methods: []string{"totp", "webauthn"}, Registered: 2}}, phrNeed, StepUp, []string{"webauthn"}},
		{"phr, no key", Input{User: User{Methods: []string{"totp"}, Registered: 1}}, phrNeed, Unmet, nil},
	} {
		tc.in.Now = stageNow
		if got := outcome(tc.in, tc.n); got.Outcome != tc.want || !reflect.DeepEqual(got.Methods, tc.methods) {
			t.Errorf("%s: outcome = %s %v, want %s %v", tc.name, got.Outcome, got.Methods, tc.want, tc.methods)
		}
	}
}

func TestForClient(t *testing.T) {
	sixty, zero := time.Minute, time.Duration(0)
	one := func(n uint) *uint { return &n }
	for _, tc := range []struct {
		name      string
		client    storage.Client
		acrValues []string
		maxAge    *uint
		prompt    []string
		want      storage.Requirement
	}{
		{"nothing asked", storage.Client{MinimumACR: "pwd", ExceptionsAllowed: true}, nil, nil, nil,
			storage.Requirement{ACR: "pwd", ACRBy: byClient, ExceptionsAnswer: true, RememberedAnswers: true}},
		{"client mfa, honours exceptions", storage.Client{MinimumACR: "mfa", ExceptionsAllowed: true}, nil, nil, nil,
			storage.Requirement{ACR: "mfa", ACRBy: byClient, ExceptionsAnswer: true}},
		{"request mfa", storage.Client{MinimumACR: "pwd", ExceptionsAllowed: true}, []string{"mfa"}, nil, nil,
			storage.Requirement{ACR: "mfa", ACRBy: byRequest}},
		{"any of phr or mfa: the weakest", storage.Client{MinimumACR: "pwd"}, []string{"phr", "urn:other", "mfa"}, nil, nil,
			storage.Requirement{ACR: "mfa", ACRBy: byRequest}},
		{"unknown values only", storage.Client{MinimumACR: "pwd"}, []string{"urn:other"}, nil, nil,
			storage.Requirement{ACR: "pwd", ACRBy: byClient, RememberedAnswers: true}},
		{"max_age and prompt=login", storage.Client{MinimumACR: "pwd", ExceptionsAllowed: true}, nil, one(60), []string{"login"},
			storage.Requirement{ACR: "pwd", ACRBy: byClient, PasswordWithin: &sixty, Prompt: []string{"login"}, ExceptionsAnswer: true}},
		{"max_age=0", storage.Client{}, nil, one(0), nil, storage.Requirement{ACRBy: byClient, PasswordWithin: &zero}},
	} {
		if got := ForClient(tc.client, tc.acrValues, tc.maxAge, tc.prompt); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ForClient = %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The client as it is now holds the sign-in to more, never to less.
	r := ForClient(storage.Client{MinimumACR: "pwd", ExceptionsAllowed: true}, nil, nil, nil)
	if got, want := WithClient(r, storage.Client{MinimumACR: "mfa"}), (storage.Requirement{ACR: "mfa", ACRBy: byClient}); !reflect.DeepEqual(got, want) {
		t.Errorf("WithClient, minimum raised and exceptions refused = %+v, want %+v", got, want)
	}
	if got := WithClient(ForClient(storage.Client{MinimumACR: "mfa"}, nil, nil, nil), storage.Client{MinimumACR: "pwd", ExceptionsAllowed: true}); got.ACR != "mfa" || got.ExceptionsAnswer {
		t.Errorf("WithClient, minimum lowered = %+v, want the stricter one kept", got)
	}
}

func TestForPage(t *testing.T) {
	ten, zero := RecentFactor, time.Duration(0)
	for _, tc := range []struct {
		page Page
		want storage.Requirement
	}{
		{AnySession, storage.Requirement{ExceptionsAnswer: true, RememberedAnswers: true}},
		{RecentPassword, storage.Requirement{PasswordWithin: &ten, ExceptionsAnswer: true}},
		{RecentMFA, storage.Requirement{ACR: "mfa", ACRBy: byRequest, MFAWithin: RecentFactor}},
		{AdminMFA, storage.Requirement{ACR: "mfa", ACRBy: byRequest}},
		{AdminReauth, storage.Requirement{ACR: "mfa", ACRBy: byRequest, PasswordWithin: &zero}},
	} {
		if got := ForPage(tc.page); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ForPage(%d) = %+v, want %+v", tc.page, got, tc.want)
		}
	}
}

func TestProofOf(t *testing.T) {
	for _, tc := range []struct {
		typ, amr string
		acr      ACR
	}{
		{storage.MethodTOTP, "otp", ACRMFA},
		{storage.MethodSMS, "sms", ACRMFA},
		{storage.MethodVoice, "tel", ACRMFA},
		{storage.MethodRecovery, "otp", ACRMFA},
		{storage.MethodWebAuthn, "hwk", ACRPhishingResistant},
		{storage.MethodWebAuthn, "swk", ACRPhishingResistant},
	} {
		acr, amr := ProofOf(tc.typ, tc.amr)
		if acr != tc.acr || !reflect.DeepEqual(amr, []string{"pwd", tc.amr, "mfa"}) {
			t.Errorf("ProofOf(%s, %s) = %s %v, want %s [pwd %s mfa]", tc.typ, tc.amr, acr, amr, tc.acr, tc.amr)
		}
	}
}
