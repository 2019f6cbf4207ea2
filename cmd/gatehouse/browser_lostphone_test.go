package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestBrowserLostPhone walks the lost phone in a real browser: alice, in
// a unit that requires MFA, cannot get the text to her phone and finds
// how to reach the helpdesk; the helpdesk removes the lost phone and
// reads her a temporary access pass; she signs in with it, is asked to
// set up a method of her own, adds an authenticator app and saves her
// recovery codes, and signs in again with the app. Every page is checked
// with axe.
func TestBrowserLostPhone(t *testing.T) {
	e, demo := newBrowserEnv(t, nil, func(c *Config) {
		c.Organisation.Name, c.Organisation.Helpdesk = "Hill Trust", "0300 123 4567 (IT service desk)"
	})
	e.setRootMFA(storage.MFARequired)
	_, hdKey := e.addAdmin("hd", storage.RoleHelpdesk, "")
	alice := e.addUser("alice", alicePassword)
	if err := e.store.CreateMethod(t.Context(), storage.Method{ID: storage.NewID(), UserID: alice.ID, Type: storage.MethodSMS,
		Name: "Old phone", Target: "+447700900123", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}

	// Alice cannot use her phone: the challenge says what to do.
	b := newTab(t)
	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Verify it's you")
	b.submit(`a[href^="/login/methods"]`)
	b.wantText("main", "0300 123 4567 (IT service desk)")
	checkA11y(t, b, "choose a way to verify, helpdesk")

	// The helpdesk removes the lost phone and issues a pass.
	hd := newTab(t)
	hd.signInToAdmin(e, "hd", hdKey)
	hd.open(e.issuer + "/admin/users/" + alice.ID)
	hd.wantText("main", "Old phone")
	checkA11y(t, hd, "user page, helpdesk")
	hd.submit(`form[action$="/methods/remove"] button`)
	checkA11y(t, hd, "remove a method, confirm")
	hd.submit(`main form button[type=submit]`)
	hd.wantText(".notice", "Method removed.")
	hd.open(e.issuer + "/admin/users/" + alice.ID)
	hd.submit(`form[action$="/access-pass"] button`)
	hd.wantText("main", "60 random bits")
	checkA11y(t, hd, "temporary access pass, shown once")
	pass := hd.text("code.secret")

	// Alice, back at the app (her password still good in this browser),
	// signs in with it and sets up a method of her own at once.
	b.open(demo + "/")
	b.submit(`form[action="/login"] button`)
	b.wantPage("Verify it's you")
	b.wantText("main", "temporary access pass")
	checkA11y(t, b, "challenge, temporary access pass")
	b.fill("#code", pass)
	b.submit(`#challenge button[type=submit]`)
	b.wantPage("Set up multi-factor authentication")
	b.wantText(".lead", "temporary access pass")
	if b.has(`form[action="/login/not-now"]`) {
		t.Error("Not now offered where the unit requires a method")
	}
	checkA11y(t, b, "set up after a pass")
	b.submit(`a.button[href^="/security/add/totp"]`)
	key := b.enrolTOTP(e, "New phone")
	b.saveCodes()
	b.wantPage("Demo app")
	if got := b.demoClaim("acr"); got != `"mfa"` {
		t.Errorf("after the pass and a new app: acr = %s, want \"mfa\"", got)
	}

	// The next sign-in asks for the new app.
	b.submit(`form[action="/logout"] button`)
	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Verify it's you")
	b.wantText(".lead", "New phone")
	e.clock.Advance(30 * time.Second)
	b.fill("#code", e.totpCode(key))
	b.submit(`#challenge button[type=submit]`)
	b.wantPage("Demo app")
	if got := b.demoClaim("amr"); !strings.Contains(got, `"otp"`) {
		t.Errorf("signed in with the new app: amr = %s", got)
	}
}
