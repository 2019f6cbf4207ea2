package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// End-to-end tests of what a user manages on Security info besides their
// methods: remembered devices, their password, signing out, and the way
// back to the app they came from.

const (
	firefoxOnWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0"
	chromeOnAndroid  = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36"
)

// newBrowserAs is a new browser that sends the User-Agent ua.
func (e *env) newBrowserAs(ua string) *browser {
	b := e.newBrowser()
	b.userAgent = ua
	return b
}

// passRemembering answers the challenge p with the authenticator app's
// code, ticking "Don't ask again on this device", and a moment later (a
// code is accepted once) returns the page that follows.
func (b *browser) passRemembering(p page, secret string) page {
	b.e.t.Helper()
	f := p.form()
	if !strings.Contains(p.body, "Don't ask again on this device") {
		b.e.t.Fatalf("the challenge does not offer to remember the device: status %d\n%s", p.status(), p.body)
	}
	f.Set("code", b.e.totpCode(secret))
	f.Set("remember", "on")
	next := b.post("/login/second-factor", f)
	b.e.clock.Advance(30 * time.Second)
	return next
}

// deviceRow is the Security info row of a remembered device.
var deviceRow = regexp.MustCompile(`(?s)<tr>\s*<td><strong>([^<]+)</strong>(<br><span class="badge">This device</span>)?</td>\s*<td>([^<]+)</td>\s*<td>([^<]+)</td>.*?name="device" value="([^"]+)"`)

// rememberedDevices are the rows of Security info's remembered devices, in
// the order shown: name, "This device" or "", remembered, until, id.
func rememberedDevices(p page) [][]string {
	var rows [][]string
	for _, m := range deviceRow.FindAllStringSubmatch(p.body, -1) {
		current := ""
		if m[2] != "" {
			current = "This device"
		}
		rows = append(rows, []string{m[1], current, m[3], m[4], m[5]})
	}
	return rows
}

// TestRememberedDevices: Security info lists the browsers that skip the
// user's second factor (named from their User-Agent, when remembered and
// until when, this one marked), and forgetting one really ends it: its
// next sign-in, even by single sign-on, asks for the second factor, and
// the tokens its remembering let through stop refreshing; the other
// devices stay remembered until "Forget all devices".
func TestRememberedDevices(t *testing.T) {
	ctx := context.Background()
	e, app, secret := newRequiredAliceEnv(t)
	const window = 12 * time.Hour
	e.setRootRememberMFA(window)
	alice := mustUser(t, e, "alice")

	laptop, phone := e.newBrowserAs(firefoxOnWindows), e.newBrowserAs(chromeOnAndroid)
	a := app.authorize()
	laptopAt := e.clock.Now()
	if _, err := app.exchange(a, laptop.codeFrom(laptop.passRemembering(laptop.submitPassword(laptop.get(a.url), "alice", alicePassword), secret), a)); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	// The phone signs in twice: its second sign-in skips the second
	// factor, and so claims the password only.
	a = app.authorize()
	phoneAt := e.clock.Now()
	if _, err := app.exchange(a, phone.codeFrom(phone.passRemembering(phone.submitPassword(phone.get(a.url), "alice", alicePassword), secret), a)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteUserSessions(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	a = app.authorize()
	phoneTok, err := app.exchange(a, phone.signIn(app, a, "alice", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	wantPasswordOnly(t, phoneTok, e.clock.Now())

	// The laptop signs in to Security info (the password, then its
	// remembered device) and sees both, newest first.
	p := laptop.get(e.issuer + "/security")
	p = laptop.submitPassword(p, "alice", alicePassword)
	if !strings.Contains(p.body, "<h2>Remembered devices</h2>") {
		t.Fatalf("Security info lists no remembered devices: status %d\n%s", p.status(), p.body)
	}
	stamp := func(at time.Time) string { return at.Format("2 Jan 2006 15:04") }
	rows := rememberedDevices(p)
	want := [][]string{
		{"Chrome on Android", "", stamp(phoneAt), stamp(phoneAt.Add(window))},
		{"Firefox on Windows", "This device", stamp(laptopAt), stamp(laptopAt.Add(window))},
	}
	if len(rows) != len(want) {
		t.Fatalf("remembered devices shown: %q, want %q", rows, want)
	}
	for i := range want {
		if got := rows[i][:4]; strings.Join(got, "|") != strings.Join(want[i], "|") {
			t.Errorf("remembered device %d: %q, want %q", i, got, want[i])
		}
	}
	phoneID := rows[0][4]

	// Bad requests change nothing.
	bob := e.addUser("bob", alicePassword)
	bobsDevice, err := e.store.RememberDevice(ctx, storage.RememberedDevice{ID: storage.NewID(), UserID: bob.ID, BrowserHash: []byte("bob's browser"),
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(window)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"another user's device", url.Values{"device": {bobsDevice.ID}}, http.StatusNotFound},
		{"an unknown device", url.Values{"device": {"nope"}}, http.StatusNotFound},
	} {
		if p := laptop.securityPost("/security/devices/forget", tc.form); p.status() != tc.status {
			t.Errorf("forget %s: status %d, want %d", tc.name, p.status(), tc.status)
		}
	}
	if p := laptop.post("/security/devices/forget", url.Values{"device": {phoneID}, "csrf": {"forged"}}); p.status() != http.StatusForbidden {
		t.Errorf("forget without the form token: status %d, want 403", p.status())
	}
	if p := laptop.post("/security/devices/forget-all", url.Values{"csrf": {"forged"}}); p.status() != http.StatusForbidden {
		t.Errorf("forget all without the form token: status %d, want 403", p.status())
	}
	if _, err := e.store.GetRememberedDevice(ctx, bobsDevice.ID); err != nil {
		t.Errorf("bob's device after alice's attempt to forget it: %v", err)
	}
	if n := len(rememberedDevices(laptop.get(e.issuer + "/security"))); n != 2 {
		t.Fatalf("after the refused requests %d devices are shown, want 2", n)
	}

	// The laptop forgets the lost phone.
	p = laptop.securityPost("/security/devices/forget", url.Values{"device": {phoneID}})
	if !strings.Contains(p.body, "Device forgotten") {
		t.Fatalf("forget the phone: status %d\n%s", p.status(), p.body)
	}
	if rows := rememberedDevices(p); len(rows) != 1 || rows[0][0] != "Firefox on Windows" {
		t.Errorf("after forgetting the phone: %q", rows)
	}
	if events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "mfa.device_forgotten"}); len(events) != 1 || events[0].Details["device"] != phoneID {
		t.Errorf("audit of the forgotten device: %+v", events)
	}
	// The phone's tokens from its remembered sign-in stop at once, and its
	// next sign-in asks for the second factor, even with its session.
	_, err = app.refresh(phoneTok.RefreshToken)
	wantRetrieveError(t, "refresh of the forgotten phone's sign-in", err, http.StatusBadRequest, "invalid_grant")
	a = app.authorize()
	p = phone.get(a.url)
	if !strings.Contains(p.body, "Verify it's you") {
		t.Fatalf("single sign-on on the forgotten phone: want the challenge, got status %d location %q", p.status(), p.location())
	}
	// The phone is remembered again; the laptop never stopped being.
	if _, err := app.exchange(a, phone.codeFrom(phone.passRemembering(p, secret), a)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteUserSessions(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*browser{laptop, phone} {
		a := app.authorize()
		if _, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword)); err != nil {
			t.Fatal(err)
		}
	}

	// Forget all: both are asked again.
	if p := laptop.securityPost("/security/devices/forget-all", nil); !strings.Contains(p.body, "All devices forgotten") || strings.Contains(p.body, "Remembered devices") {
		t.Fatalf("forget all: status %d\n%s", p.status(), p.body)
	}
	if err := e.store.DeleteUserSessions(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*browser{"laptop": laptop, "phone": phone} {
		if p := b.submitPassword(b.get(app.authorize().url), "alice", alicePassword); !strings.Contains(p.body, "Verify it's you") {
			t.Errorf("%s after forgetting all devices: want the challenge, got status %d location %q", name, p.status(), p.location())
		}
	}
	if bobs, _ := e.store.ListUserRememberedDevices(ctx, bob.ID); len(bobs) != 1 {
		t.Errorf("bob's devices after alice forgot all of hers: %d, want 1", len(bobs))
	}
}

// signOutForm is the header's Sign out form, with its form token.
var signOutForm = regexp.MustCompile(`<header class="banner">.*?<form method="post" action="/end_session" class="signout"><input type="hidden" name="csrf" value="([^"]+)"><button type="submit" name="confirm" value="yes"`)

// signOut presses Sign out in p's header, and fails the test unless the
// browser ends up signed out.
func (b *browser) signOut(t *testing.T, what string, p page) {
	t.Helper()
	m := signOutForm.FindStringSubmatch(strings.ReplaceAll(p.body, "\n", " "))
	if m == nil {
		t.Fatalf("%s: no Sign out in the header (status %d):\n%s", what, p.status(), p.body)
	}
	if p := b.post("/end_session", url.Values{"csrf": {m[1]}, "confirm": {"yes"}}); !strings.Contains(p.body, "<h1>You are signed out</h1>") {
		t.Errorf("%s: Sign out: status %d\n%s", what, p.status(), p.body)
	}
	if p := b.get(b.e.issuer + "/security"); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("%s: after Sign out Security info does not ask for the password: status %d", what, p.status())
	}
}

// TestSignOutOnSignedInPages: every page shown to a signed-in browser
// (Security info and its add pages, the challenge, setting up a method,
// the admin pages) has Sign out, which ends the session at once, as the
// confirmed end_session does; the sign-in page before there is a session
// has none, and a forged Sign out only asks.
func TestSignOutOnSignedInPages(t *testing.T) {
	ctx := context.Background()
	e, app, secret := newRequiredAliceEnv(t)

	b := e.newBrowser()
	a := app.authorize()
	p := b.get(a.url)
	if strings.Contains(p.body, `action="/end_session"`) {
		t.Error("the sign-in page before there is a session has Sign out")
	}
	p = b.submitPassword(p, "alice", alicePassword)
	if !signOutForm.MatchString(strings.ReplaceAll(p.body, "\n", " ")) {
		t.Fatalf("the challenge has no Sign out: status %d\n%s", p.status(), p.body)
	}
	// A forged Sign out (no form token) only asks; the real one signs out.
	if fp := b.post("/end_session", url.Values{"confirm": {"yes"}}); !strings.Contains(fp.body, "Sign out?") {
		t.Errorf("a Sign out without the form token: status %d, want the confirmation", fp.status())
	}
	b.signOut(t, "challenge", p)
	if events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: mustUser(t, e, "alice").ID, Action: "logout"}); len(events) != 1 {
		t.Errorf("%d logout events audited, want 1", len(events))
	}
	// The sign-in it interrupted starts again at the password.
	if p := b.get(e.issuer + journeyPath(p)); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("the interrupted sign-in after Sign out: status %d, want the password page", p.status())
	}

	for _, path := range []string{"/security", "/security/add/email"} {
		b := e.newBrowser()
		a := app.authorize()
		e.clock.Advance(30 * time.Second)
		if _, err := app.exchange(a, b.codeFrom(b.passChallenge(b.submitPassword(b.get(a.url), "alice", alicePassword), e.totpCode(secret)), a)); err != nil {
			t.Fatal(err)
		}
		b.signOut(t, path, b.get(e.issuer+path))
	}

	// Setting up a first method, during a sign-in.
	e.addUser("carol", alicePassword)
	b = e.newBrowser()
	p = b.submitPassword(b.get(app.authorize().url), "carol", alicePassword)
	if !strings.Contains(p.body, "Set up multi-factor authentication") {
		t.Fatalf("carol: want the set-up page, got status %d", p.status())
	}
	b.signOut(t, "set-up", p)

	// The admin pages.
	e.withRole(e.addUser("boss", alicePassword), storage.RoleGlobalAdmin)
	admin, _ := e.adminSignIn(t, "boss")
	admin.signOut(t, "admin", admin.get(e.issuer+"/admin/users"))
	if p := admin.get(e.issuer + "/admin"); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("the admin pages after Sign out: status %d, want the password page", p.status())
	}
}

// journeyPath is the sign-in journey page a form on p posts back to.
func journeyPath(p page) string { return "/login?id=" + url.QueryEscape(p.form().Get("id")) }
