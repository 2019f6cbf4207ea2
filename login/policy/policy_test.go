package policy

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	maxAge := func(s uint) *uint { return &s }
	session := func(age time.Duration) *Proof {
		return &Proof{UserID: "alice", AuthTime: now.Add(-age), AMR: []string{"pwd"}}
	}
	tests := []struct {
		name    string
		in      Input
		want    Outcome
		wantWhy string
	}{
		{"no session", Input{}, Reauthenticate, "no session"},
		{"no session, prompt=none", Input{Request: Request{Prompt: []string{"none"}}}, LoginRequired, "no session; prompt=none forbids asking"},
		{"session", Input{Session: session(time.Hour)}, Done, "single sign-on: session satisfies the request"},
		{"session, prompt=none", Input{Session: session(time.Hour), Request: Request{Prompt: []string{"none"}}}, Done, "single sign-on: session satisfies the request"},
		{"prompt=login", Input{Session: session(0), Request: Request{Prompt: []string{"login"}, MaxAge: maxAge(0)}}, Reauthenticate, "prompt=login"},
		{"max_age=0", Input{Session: session(0), Request: Request{MaxAge: maxAge(0)}}, Reauthenticate, "max_age=0"},
		{"within max_age", Input{Session: session(59 * time.Second), Request: Request{MaxAge: maxAge(60)}}, Done, "single sign-on: session satisfies the request"},
		{"at max_age", Input{Session: session(60 * time.Second), Request: Request{MaxAge: maxAge(60)}}, Done, "single sign-on: session satisfies the request"},
		{"beyond max_age", Input{Session: session(61 * time.Second), Request: Request{MaxAge: maxAge(60)}}, Reauthenticate, "session authenticated 1m1s ago, beyond max_age=60"},
		{"beyond max_age, prompt=none", Input{Session: session(2 * time.Hour), Request: Request{MaxAge: maxAge(60), Prompt: []string{"none"}}}, LoginRequired, "session authenticated 2h0m0s ago, beyond max_age=60; prompt=none forbids asking"},
		{"hint names the session user", Input{Session: session(0), Request: Request{HintUserID: "alice"}}, Done, "single sign-on: session satisfies the request"},
		{"hint names another user", Input{Session: session(0), Request: Request{HintUserID: "bob"}}, Reauthenticate, "id_token_hint names another user"},
		{"hint names another user, prompt=none", Input{Session: session(0), Request: Request{HintUserID: "bob", Prompt: []string{"none"}}}, LoginRequired, "id_token_hint names another user; prompt=none forbids asking"},
		{"client requires mfa", Input{FreshPassword: true, Request: Request{ClientMinimumACR: "mfa"}}, Unmet, "client requires acr mfa; only a password can be proved"},
		{"client requires phr, SSO", Input{Session: session(0), Request: Request{ClientMinimumACR: "phr"}}, Unmet, "client requires acr phr; only a password can be proved"},
		{"client requires pwd", Input{Session: session(0), Request: Request{ClientMinimumACR: "pwd"}}, Done, "single sign-on: session satisfies the request"},
		{"fresh password", Input{FreshPassword: true, Session: session(0), Request: Request{Prompt: []string{"login"}, MaxAge: maxAge(0)}}, Done, "password verified; no second factor configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = now
			got := Decide(tt.in)
			if got.Outcome != tt.want || got.Reason != tt.wantWhy {
				t.Errorf("Decide() = %q (%s), want %q (%s)", got.Outcome, got.Reason, tt.want, tt.wantWhy)
			}
		})
	}
}
