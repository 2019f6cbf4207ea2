package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/login"
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

var fieldError = regexp.MustCompile(`(?s)<div class="error-summary"[^>]*>\s*<p><a href="#([^"]+)">(.*?)</a></p>`)

// fieldError is the error p's summary shows and the field it links to.
func (p page) fieldError() (field, msg string) {
	m := fieldError.FindStringSubmatch(p.body)
	if m == nil {
		return "", ""
	}
	return m[1], htmlUnescape(m[2])
}

// changePassword posts the change-password form of Security info.
func (b *browser) changePassword(current, next, confirm string) page {
	b.e.t.Helper()
	p := b.get(b.e.issuer + "/security/password")
	if !strings.Contains(p.body, "<h1>Change your password</h1>") {
		b.e.t.Fatalf("want the change-password page, got status %d:\n%s", p.status(), p.body)
	}
	return b.post("/security/password", url.Values{"csrf": {p.form().Get("csrf")},
		"current_password": {current}, "new_password": {next}, "confirm_password": {confirm}})
}

// TestChangeOwnPassword: a user changes their password on Security info
// with their current one, after a recent sign-in; a wrong current
// password, a new one the rules refuse or a confirmation that does not
// match changes nothing and says why. A change ends every other session
// and revokes the user's tokens, keeps this session, and is audited.
func TestChangeOwnPassword(t *testing.T) {
	ctx := context.Background()
	e, app := newAliceEnv(t)
	alice := mustUser(t, e, "alice")
	const chosen = "a kettle, two lemons and a violin"

	here, elsewhere := e.newBrowser(), e.newBrowser()
	var toks []*tokens
	for _, b := range []*browser{here, elsewhere} {
		a := app.authorize()
		tok, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword))
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, tok)
	}
	if p := here.get(e.issuer + "/security"); !strings.Contains(p.body, `href="/security/password">Change password</a>`) {
		t.Fatalf("Security info offers no Change password: status %d", p.status())
	}

	for _, tc := range []struct {
		name                   string
		current, next, confirm string
		status                 int
		field, want            string
	}{
		{"wrong current password", "not my password", chosen, chosen, http.StatusUnauthorized, "current_password", "Your current password is incorrect."},
		{"no current password", "", chosen, chosen, http.StatusUnprocessableEntity, "current_password", "Enter your current password."},
		{"a common password", alicePassword, "password123", "password123", http.StatusUnprocessableEntity, "new_password", "Your new password is one of the most common passwords."},
		{"too short", alicePassword, "Xq7#", "Xq7#", http.StatusUnprocessableEntity, "new_password", "Your new password must be at least 8 characters."},
		{"built on the username", alicePassword, "alice2026", "alice2026", http.StatusUnprocessableEntity, "new_password", "Your new password contains your username."},
		{"confirmation differs", alicePassword, chosen, chosen + "!", http.StatusUnprocessableEntity, "new_password", "The two passwords do not match."},
		{"the same password", alicePassword, alicePassword, alicePassword, http.StatusUnprocessableEntity, "new_password", "Choose a password different from your current one."},
	} {
		p := here.changePassword(tc.current, tc.next, tc.confirm)
		if field, msg := p.fieldError(); p.status() != tc.status || field != tc.field || msg != tc.want {
			t.Errorf("%s: status %d, error %q about %q; want %d, %q about %q", tc.name, p.status(), msg, field, tc.status, tc.want, tc.field)
		}
		if got := mustUser(t, e, "alice"); got.PasswordHash != alice.PasswordHash {
			t.Fatalf("%s: the password changed", tc.name)
		}
	}
	if events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "user.password_changed", Outcome: storage.OutcomeFailure}); len(events) != 1 {
		t.Errorf("%d failed password changes audited, want 1 (the wrong current password)", len(events))
	}
	if _, err := app.refresh(toks[1].RefreshToken); err != nil {
		t.Fatalf("refused changes revoked tokens: %v", err)
	}

	p := here.changePassword(alicePassword, chosen, chosen)
	if !strings.Contains(p.body, "Password changed. Your other sessions are signed out.") {
		t.Fatalf("change password: status %d\n%s", p.status(), p.body)
	}
	if events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "user.password_changed", Outcome: storage.OutcomeSuccess}); len(events) != 1 || events[0].Details["sessions_ended"] != "1" {
		t.Errorf("audit of the change: %+v", events)
	}
	// This browser stays signed in; the other is asked for the password,
	// and every token is revoked.
	if p := here.get(e.issuer + "/security"); !strings.Contains(p.body, "<h1>Security info</h1>") {
		t.Errorf("this browser after the change: status %d, want Security info", p.status())
	}
	if p := elsewhere.get(app.authorize().url); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("the other browser after the change: status %d location %q, want the password page", p.status(), p.location())
	}
	for i, tok := range toks {
		_, err := app.refresh(tok.RefreshToken)
		wantRetrieveError(t, fmt.Sprintf("refresh of sign-in %d after the change", i), err, http.StatusBadRequest, "invalid_grant")
	}
	// The new password signs in; the old one no longer does.
	b := e.newBrowser()
	if p := b.submitPassword(b.get(app.authorize().url), "alice", alicePassword); p.status() != http.StatusUnauthorized {
		t.Errorf("the old password after the change: status %d, want 401", p.status())
	}
	a := app.authorize()
	if _, err := app.exchange(a, b.signIn(app, a, "alice", chosen)); err != nil {
		t.Fatalf("the new password: %v", err)
	}

	// The page needs a recent sign-in, like any change on Security info.
	e.clock.Advance(11 * time.Minute)
	if p := here.get(e.issuer + "/security/password"); !strings.Contains(p.body, `name="password"`) || strings.Contains(p.body, "Change your password") {
		t.Errorf("change password 11 minutes after signing in: status %d, want the password asked again", p.status())
	}
}

// TestChangeOwnPasswordThrottled: wrong current passwords on Security info
// are charged to the account as wrong passwords at sign-in are: past the
// free tries even the right one is refused for a while, and the lock is
// audited.
func TestChangeOwnPasswordThrottled(t *testing.T) {
	ctx := context.Background()
	e, app := newAliceEnv(t)
	alice := mustUser(t, e, "alice")
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	const chosen = "a kettle, two lemons and a violin"
	free := login.DefaultAccountRule.Free
	for i := range free + 1 {
		if p := b.changePassword(fmt.Sprintf("guess %d", i), chosen, chosen); p.status() != http.StatusUnauthorized {
			t.Fatalf("wrong guess %d: status %d, want 401", i+1, p.status())
		}
	}
	p := b.changePassword(alicePassword, chosen, chosen)
	if _, msg := p.fieldError(); p.status() != http.StatusTooManyRequests || !strings.HasPrefix(msg, "Too many failed attempts. Wait 1 second") {
		t.Fatalf("the right password while locked: status %d, error %q", p.status(), msg)
	}
	if got := mustUser(t, e, "alice"); got.PasswordHash != alice.PasswordHash {
		t.Fatal("the password changed while locked")
	}
	if events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "login.locked"}); len(events) != 1 {
		t.Errorf("%d account locks audited, want 1", len(events))
	}
	e.clock.Advance(time.Second)
	if p := b.changePassword(alicePassword, chosen, chosen); !strings.Contains(p.body, "Password changed.") {
		t.Errorf("the right password once the lock is over: status %d\n%s", p.status(), p.body)
	}
}

var backLink = regexp.MustCompile(`<header class="banner">[^\n]*\n<span class="who"><a href="([^"]*)">Back to ([^<]*)</a>`)

// backOn is the "Back to" link in p's header and the app it names, or "".
func backOn(p page) (href, name string) {
	m := backLink.FindStringSubmatch(p.body)
	if m == nil {
		return "", ""
	}
	return htmlUnescape(m[1]), htmlUnescape(m[2])
}

// TestBackToTheApp: Security info links back to the app the user came
// from, by name, only ever on the origin of one of the client's
// registered redirect URIs: an app linking to it with its client_id (and
// a page of its own), or the app whose sign-in's enrolment led there. The
// choice lasts through the browser session; a return on another origin,
// an unknown client or a deleted one shows no link elsewhere.
func TestBackToTheApp(t *testing.T) {
	ctx := context.Background()
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	home := "https://" + e.rpHost + "/"

	if href, _ := backOn(b.get(e.issuer + "/security")); href != "" {
		t.Errorf("Security info reached directly links back to %q", href)
	}
	security := func(q url.Values) page { return b.get(e.issuer + "/security?" + q.Encode()) }
	for _, tc := range []struct {
		name     string
		returnTo string
		want     string
	}{
		{"the app's own link", "", home},
		{"a page of the app", home + "app/settings?tab=security", home + "app/settings?tab=security"},
		{"another origin", "https://evil.example/phish", home},
		{"another origin behind user information", "https://" + e.rpHost + "@evil.example/", home},
		{"another scheme", "javascript:alert(1)", home},
		{"a relative link", "//evil.example/", home},
		{"another port", "https://" + e.rpHost + ":8443/", home},
	} {
		q := url.Values{"client_id": {"app"}}
		if tc.returnTo != "" {
			q.Set("return_to", tc.returnTo)
		}
		p := security(q)
		if href, name := backOn(p); href != tc.want || name != "App app" {
			t.Errorf("%s: back link %q to %q, want \"App app\" to %q", tc.name, name, href, tc.want)
		}
		if strings.Contains(p.body, "evil.example") {
			t.Errorf("%s: the page mentions the crafted origin", tc.name)
		}
	}
	// The choice lasts the browser session: Security info's own links keep it.
	security(url.Values{"client_id": {"app"}, "return_to": {home + "app/settings"}})
	if href, _ := backOn(b.get(e.issuer + "/security?verified=1")); href != home+"app/settings" {
		t.Errorf("Security info again: back link to %q, want %q", href, home+"app/settings")
	}
	// An unknown client shows none, and forgets the one before.
	if href, _ := backOn(security(url.Values{"client_id": {"nope"}, "return_to": {"https://evil.example/"}})); href != "" {
		t.Errorf("an unknown client: back link to %q", href)
	}
	if href, _ := backOn(b.get(e.issuer + "/security")); href != "" {
		t.Errorf("after an unknown client: back link to %q", href)
	}
	// A client deleted since shows none.
	other := e.addRP("other", false)
	security(url.Values{"client_id": {other.client.ID}})
	if err := e.store.DeleteClient(ctx, other.client.ID); err != nil {
		t.Fatal(err)
	}
	if href, _ := backOn(b.get(e.issuer + "/security")); href != "" {
		t.Errorf("a deleted client: back link to %q", href)
	}

	// A sign-in's enrolment step: the app it is for.
	e.setRootMFA(storage.MFAPrompted)
	e.addUser("carol", alicePassword)
	b = e.newBrowser()
	p := b.submitPassword(b.get(app.authorize().url), "carol", alicePassword)
	m := setupLink.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("carol: want the set-up page, got status %d", p.status())
	}
	b.get(e.issuer + htmlUnescape(m[1]))
	if href, name := backOn(b.get(e.issuer + "/security")); href != home || name != "App app" {
		t.Errorf("after the enrolment step: back link %q to %q, want \"App app\" to %q", name, href, home)
	}
}
