package main

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestRecoveryCodesAtFirstMethod: the first method set up (here during a
// sign-in that requires MFA) is followed by a set of recovery codes, shown
// once with a download, before the sign-in goes on; a second method is
// not. Recovery codes alone never count as a method: removing the others
// turns MFA off and keeps it off, the helpdesk cannot give an exception
// for them, and the next sign-in takes a recovery code and then asks for
// a method of the user's own.
func TestRecoveryCodesAtFirstMethod(t *testing.T) {
	e, app := newAliceEnv(t)
	e.setRootMFA(storage.MFARequired)
	b := e.newBrowser()
	a := app.authorize()
	setup := b.submitPassword(b.get(a.url), "alice", alicePassword)
	p := b.get(e.issuer + htmlUnescape(setupLink.FindStringSubmatch(setup.body)[1]))
	f := p.form()
	f.Set("name", "Phone")
	p = b.post("/security/add/totp", f)
	f = p.form()
	f.Set("code", e.totpCode(enrolKey(p.body)))
	p = b.post("/security/add/totp/finish", f)
	codes := recoveryCodes.FindAllStringSubmatch(p.body, -1)
	if !strings.Contains(p.body, "<h1>Save your recovery codes</h1>") || len(codes) != 10 {
		t.Fatalf("after the first method: want ten recovery codes, got status %d\n%s", p.status(), p.body)
	}
	if !strings.Contains(p.body, `download="recovery-codes.txt"`) || !strings.Contains(p.body, url.PathEscape(codes[9][1])) {
		t.Error("the codes cannot be downloaded")
	}
	if _, err := app.exchange(a, b.codeFrom(b.pastCodes(p), a)); err != nil {
		t.Fatalf("Done does not go on with the sign-in: %v", err)
	}

	// A second method: no new codes.
	p = b.startEnrol("email", "Work", "alice@example.org")
	if p = b.finishEnrol("email", p, e.outboxCode()); strings.Contains(p.body, "recovery codes</h1>") || !strings.Contains(p.body, "Method added.") {
		t.Errorf("after a second method: status %d\n%s", p.status(), p.body)
	}
	alice := mustUser(t, e, "alice")
	for _, m := range mustMethods(t, e, alice.ID) {
		if m.Type != storage.MethodRecovery {
			if p := b.securityPost("/security/remove", url.Values{"method": {m.ID}}); !strings.Contains(p.body, "Method removed.") {
				t.Fatalf("removing %s: status %d\n%s", m.Type, p.status(), p.body)
			}
		}
	}
	if mustUser(t, e, "alice").MFAEnabled {
		t.Error("MFA still on with only recovery codes left")
	}
	b.securityPost("/security/mfa", url.Values{"enabled": {"on"}})
	p = b.get(e.issuer + "/security")
	if mustUser(t, e, "alice").MFAEnabled || !strings.Contains(htmlUnescape(p.body), "You'll be asked for a recovery code, and then to set up a method of your own, at your next sign-in.") {
		t.Errorf("MFA turned on with only recovery codes, or the page does not say what the next sign-in asks:\n%s", p.body)
	}
	hd := admin.System("test")
	if _, err := e.adminService().RequestException(context.Background(), hd, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"}); err == nil {
		t.Error("an exception given to a user with only recovery codes")
	}

	// The next sign-in: a recovery code, then a method of her own.
	b = e.newBrowser()
	a = app.authorize()
	p = b.passChallenge(b.submitPassword(b.get(a.url), "alice", alicePassword), codes[0][1])
	if !strings.Contains(p.body, "but you have no sign-in method of your own") || strings.Contains(p.body, "/login/not-now") {
		t.Fatalf("after a recovery code with no method of her own: want the set-up page, got status %d\n%s", p.status(), p.body)
	}
	if b.get(e.issuer+"/authorize/callback?id="+setupRequest(t, p)).location().Host == e.rpHost {
		t.Fatal("the callback issued a code before a method was set up")
	}
	_, p = b.enrolDuringSignIn(p)
	tok, err := app.exchange(a, b.codeFrom(p, a))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["acr"] != "mfa" {
		t.Errorf("acr %v, want mfa", tok.claims["acr"])
	}
}

// TestSecurityInfoStatus: the MFA line on Security info is what the next
// sign-in will do, with the rule of the user's unit or role.
func TestSecurityInfoStatus(t *testing.T) {
	status := func(b *browser) string {
		t.Helper()
		p := b.get(b.e.issuer + "/security")
		return htmlUnescape(p.body)
	}
	t.Run("optional, no method", func(t *testing.T) {
		e, app := newAliceEnv(t)
		b := e.newBrowser()
		b.signIn(app, app.authorize(), "alice", alicePassword)
		if s := status(b); !strings.Contains(s, "Off: you sign in with your password only.") || !strings.Contains(s, "leaves multi-factor authentication up to you") {
			t.Errorf("status:\n%s", s)
		}
	})
	t.Run("prompted, Not now", func(t *testing.T) {
		e, app := newAliceEnv(t)
		e.setRootMFA(storage.MFAPrompted)
		b := e.newBrowser()
		setup := b.submitPassword(b.get(app.authorize().url), "alice", alicePassword)
		b.post("/login/not-now", setup.form())
		if s := status(b); !strings.Contains(s, "You chose Not now: your organisation will ask you to set up multi-factor authentication again") ||
			!strings.Contains(s, "asks everyone to use multi-factor authentication") || strings.Contains(s, `action="/security/mfa"`) {
			t.Errorf("status:\n%s", s)
		}
	})
	t.Run("required since the sign-in", func(t *testing.T) {
		e, app := newAliceEnv(t)
		b := e.newBrowser()
		b.signIn(app, app.authorize(), "alice", alicePassword)
		e.setRootMFA(storage.MFARequired)
		if s := status(b); !strings.Contains(s, "You'll be asked to set up multi-factor authentication at your next sign-in.") || !strings.Contains(s, "requires multi-factor authentication") {
			t.Errorf("status:\n%s", s)
		}
	})
	t.Run("optional, only recovery codes", func(t *testing.T) {
		e, _, b, secret := newTOTPAlice(t)
		e.clock.Advance(30 * time.Second)
		for _, m := range mustMethods(t, e, mustUser(t, e, "alice").ID) {
			if m.Type == storage.MethodTOTP {
				p := b.passChallenge(b.securityPost("/security/remove", url.Values{"method": {m.ID}}), e.totpCode(secret))
				b.post("/security/remove", p.form())
			}
		}
		if s := status(b); !strings.Contains(s, "Off: you sign in with your password only.") || !strings.Contains(s, "recovery codes alone don't count") {
			t.Errorf("status:\n%s", s)
		}
	})
	t.Run("on", func(t *testing.T) {
		_, _, b, _ := newTOTPAlice(t)
		if s := status(b); !strings.Contains(s, "On: you are asked for a second factor when you sign in.") || !strings.Contains(s, "Turn off") {
			t.Errorf("status:\n%s", s)
		}
	})
}

// TestVerifyReturnsToTheAction: when a change needs "Verify it's you", the
// user comes back to what they were doing: the page they asked for, or the
// action they pressed, to press again (a form is never replayed).
func TestVerifyReturnsToTheAction(t *testing.T) {
	e, _, b, secret := newTOTPAlice(t)
	alice := mustUser(t, e, "alice")
	app := mustMethods(t, e, alice.ID)[0]
	if app.Type != storage.MethodTOTP {
		app = mustMethods(t, e, alice.ID)[1]
	}

	e.clock.Advance(11 * time.Minute)
	p := b.passChallenge(b.get(e.issuer+"/security/add/email"), e.totpCode(secret))
	if !strings.Contains(p.body, "<h1>Add Email") {
		t.Errorf("after verifying for the add page: status %d\n%s", p.status(), p.body)
	}

	// A password change sent after the 10 minutes comes back to its form,
	// the password unchanged until it is sent again.
	e.clock.Advance(11 * time.Minute)
	p = b.passChallenge(b.securityPost("/security/password", url.Values{
		"current_password": {alicePassword}, "new_password": {"a new and long passphrase"}, "confirm_password": {"a new and long passphrase"},
	}), e.totpCode(secret))
	if !strings.Contains(p.body, "<h1>Change your password</h1>") || mustUser(t, e, "alice").PasswordHash != alice.PasswordHash {
		t.Errorf("after verifying for a password change: want its form again, the password unchanged; got status %d\n%s", p.status(), p.body)
	}

	e.clock.Advance(11 * time.Minute)
	p = b.passChallenge(b.securityPost("/security/remove", url.Values{"method": {app.ID}}), e.totpCode(secret))
	if !strings.Contains(htmlUnescape(p.body), "<h1>Remove Authenticator app (Phone)?</h1>") || len(mustMethods(t, e, alice.ID)) != 2 {
		t.Fatalf("after verifying for a removal: want it to confirm, nothing removed yet; got status %d\n%s", p.status(), p.body)
	}
	if p = b.post("/security/remove", p.form()); !strings.Contains(p.body, "Method removed.") {
		t.Errorf("confirming the removal: status %d\n%s", p.status(), p.body)
	}

	// Someone else's method, or none, is not confirmed.
	for _, q := range []string{"action=remove&method=nope", "action=mfa&enabled=on", "action=anything"} {
		if p := b.get(e.issuer + "/security/confirm?" + q); !strings.Contains(p.body, "<h1>Security info</h1>") {
			t.Errorf("confirm?%s: status %d, want Security info", q, p.status())
		}
	}
}
