package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Journeys through Gatehouse's pages in a real browser. Each page met is
// checked with axe-core (checkA11y) and saved as a screenshot; each journey
// asserts what the user ends up with, not only that pages load.

// TestBrowserAdminFirstSignIn: the bootstrap admin signs in at the demo
// app: a wrong password first, then the one-time password, a new password,
// the MFA setup an admin cannot skip (an authenticator app, its key read
// off the page), the challenge, and the demo showing acr mfa.
func TestBrowserAdminFirstSignIn(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	const oneTime, chosen = "one-time password 1", "a password of my own"
	e.setPassword("admin", oneTime)
	b := newTab(t)

	b.open(demo + "/")
	b.wantPage("Demo app")
	checkA11y(t, b, "demo, signed out")
	b.submit(`form[action="/login"] button`)
	b.wantPage("Sign in")
	b.wantText(".lead", "Gatehouse demo app")
	checkA11y(t, b, "sign in")

	b.fill("#username", "admin")
	b.fill("#password", "not my password")
	if got := b.submit(`form[action="/login/password"] button`); got != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", got)
	}
	b.wantText(".error-summary", "The username or password is incorrect.")
	checkA11y(t, b, "sign in, wrong password")

	b.fill("#username", "admin")
	b.fill("#password", oneTime)
	b.submit(`form[action="/login/password"] button`)
	b.wantPage("Choose a new password")
	checkA11y(t, b, "choose a new password")
	b.fill("#new_password", chosen)
	b.fill("#confirm_password", "something else entirely")
	b.submit(`form[action="/login/change-password"] button`)
	b.wantPage("Choose a new password")
	if !b.has(".error-summary") {
		t.Error("mismatched passwords: no error shown")
	}
	checkA11y(t, b, "choose a new password, error")
	b.fill("#new_password", chosen)
	b.fill("#confirm_password", chosen)
	b.submit(`form[action="/login/change-password"] button`)

	b.wantPage("Set up multi-factor authentication")
	if b.has(`form[action="/login/not-now"]`) {
		t.Error("an admin is offered Not now")
	}
	checkA11y(t, b, "set up MFA, required")
	b.submit(`a.button[href^="/security/add/totp"]`)
	b.wantPage("Add Authenticator app")
	checkA11y(t, b, "add authenticator app")
	// The app's first code is the sign-in's second factor: no challenge
	// follows it.
	key := b.enrolTOTP(e, "Work phone")
	b.saveCodes()
	b.wantPage("Demo app")
	if got := b.demoClaim("acr"); got != `"mfa"` {
		t.Errorf("demo: acr = %s, want \"mfa\"", got)
	}
	if got := b.demoClaim("preferred_username"); got != `"admin"` {
		t.Errorf("demo: preferred_username = %s, want \"admin\"", got)
	}
	checkA11y(t, b, "demo, signed in")

	b.submit(`a[href*="/security?client_id="]`) // the demo's link to Security info
	b.wantPage("Security info")
	b.wantText("table", "Work phone")
	b.wantText("main", "Your admin or helpdesk role always needs multi-factor authentication")
	checkA11y(t, b, "security info, admin")

	// After 15 idle minutes the admin pages ask for both factors again.
	e.clock.Advance(16 * time.Minute)
	b.open(e.issuer + "/admin")
	b.wantPage("Sign in")
	b.fill("#password", chosen)
	b.submit(`form[action="/login/password"] button`)
	b.wantPage("Verify it's you")
	checkA11y(t, b, "challenge, authenticator app")
	b.fill("#code", "000000")
	if got := b.submit(`#challenge button[type=submit]`); got != http.StatusUnauthorized {
		t.Errorf("wrong code: status %d, want 401", got)
	}
	b.wantText(".error-summary", "That didn't work")
	if !b.has(`#code[aria-invalid="true"][aria-describedby~="code_error"]`) {
		t.Error("the code field is not marked invalid, or not described by the error")
	}
	checkA11y(t, b, "challenge, wrong code")
	b.fill("#code", e.totpCode(key))
	b.submit(`#challenge button[type=submit]`)
	b.wantPage("Admin")
}

// TestBrowserPromptedNotNow: in an org unit that asks for MFA but does not
// require it, the setup page offers Not now, and choosing it signs the
// user in with the password alone.
func TestBrowserPromptedNotNow(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addUser("alice", alicePassword)
	e.setRootMFA(storage.MFAPrompted)
	b := newTab(t)

	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Set up multi-factor authentication")
	b.wantText(".lead", "asks you to add a second way")
	checkA11y(t, b, "set up MFA, prompted")
	b.submit(`form[action="/login/not-now"] button`)
	b.wantPage("Demo app")
	if got := b.demoClaim("acr"); got != `"pwd"` {
		t.Errorf("after Not now: acr = %s, want \"pwd\"", got)
	}
}

// TestBrowserSecurityInfo: a user adds each kind of method on Security
// info (an authenticator app, a security key through the browser's
// WebAuthn API, an email address and a phone for calls, the codes read
// from the dev outbox) and gets recovery codes; then signs in with each
// kind of second factor, switching with "Use another method".
func TestBrowserSecurityInfo(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addUser("alice", alicePassword)
	e.setRootRememberMFA(30 * 24 * time.Hour)
	b := newTab(t)
	authenticator := b.addVirtualAuthenticator()
	phone := b.otherTab() // the dev outbox, open beside the sign-in

	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Demo app")
	b.open(e.issuer + "/security")
	b.wantPage("Security info")
	b.wantText("main", "You have no second factor yet")
	checkA11y(t, b, "security info, no methods")

	// An authenticator app: the first method turns MFA on.
	b.submit(`a.button[href="/security/add/totp"]`)
	key := b.enrolTOTP(e, "Phone app")
	b.saveCodes()
	b.wantNotice("Method added.")
	b.wantText("table", "Phone app")
	b.wantText("main", "On: you are asked for a second factor")
	b.wantText(".warning", "You have only one method")
	checkA11y(t, b, "security info, one method")

	// A second method needs a recent second factor, the app's next code,
	// and then the user is back where they were going.
	b.submit(`a.button[href="/security/add/webauthn"]`)
	b.wantPage("Verify it's you")
	e.clock.Advance(30 * time.Second)
	b.fill("#code", e.totpCode(key))
	b.submit(`#challenge button[type=submit]`)

	// A security key, registered by the browser's own WebAuthn code.
	b.wantPage("Add Security key or passkey")
	checkA11y(t, b, "add security key")
	b.fill("#name", "Laptop passkey")
	b.submit(`form[action="/security/add/webauthn"] button`)
	b.wantPage("Add Security key or passkey")
	checkA11y(t, b, "enrol security key")
	b.click(`#enrol button[type=submit]`)
	b.waitFor(".notice")
	b.wantNotice("Method added.")
	b.wantText("table", "Laptop passkey")
	if creds := b.credentials(authenticator); len(creds) != 1 || creds[0].RpID != "localhost" {
		t.Errorf("the virtual authenticator holds %d credentials (%+v), want 1 for localhost", len(creds), creds)
	}

	// An email address: the code arrives in the dev outbox.
	b.submit(`a.button[href="/security/add/email"]`)
	b.wantPage("Add Email code")
	checkA11y(t, b, "add email code")
	b.fill("#target", "alice@example.org")
	b.submit(`form[action="/security/add/email"] button`)
	b.wantText("#enrol_hint", "We sent a code to")
	checkA11y(t, b, "enrol email code")
	code := phone.sentCode(e.issuer, "alice@example.org")
	checkA11y(t, phone, "dev outbox")
	b.fill("#code", "000000")
	b.submit(`#enrol button[type=submit]`)
	b.wantText(".error-summary", "That didn't work")
	checkA11y(t, b, "enrol email code, wrong code")
	b.fill("#code", code)
	b.submit(`#enrol button[type=submit]`)
	b.wantNotice("Method added.")

	// A phone for voice calls: Gatehouse calls, the user presses #.
	b.submit(`a.button[href="/security/add/voice"]`)
	b.wantPage("Add Voice call")
	checkA11y(t, b, "add voice call")
	b.fill("#name", "Desk phone")
	b.fill("#target", "+33 6 12 34 56 78")
	if got := b.submit(`form[action="/security/add/voice"] button`); got != http.StatusUnprocessableEntity {
		t.Errorf("a French number: status %d, want 422", got)
	}
	b.wantText(".error-summary", "UK")
	checkA11y(t, b, "add voice call, error")
	b.fill("#target", "07700 900123")
	b.submit(`form[action="/security/add/voice"] button`)
	b.wantText("#enrol_hint", "We're calling")
	checkA11y(t, b, "enrol voice call")
	phone.pressHash(e.issuer)
	b.waitForPage("Security info") // the page goes on by itself: see TestBrowserCallGoesOnByItself
	b.wantNotice("Method added.")
	for _, want := range []string{"Authenticator app", "Security key or passkey", "Email code", "Voice call"} {
		b.wantText("table", want)
	}

	// Recovery codes, shown once.
	b.submit(`form[action="/security/recovery"] button`)
	b.wantPage("Your recovery codes")
	if n := b.count(".codes code"); n != 10 {
		t.Errorf("%d recovery codes shown, want 10", n)
	}
	checkA11y(t, b, "recovery codes")
	b.submit(`a.button[href="/security"]`)
	b.wantText("table", "10 of 10 codes left")
	checkA11y(t, b, "security info, every method")

	// Sign in again with each kind of second factor.
	signInAgain := func() {
		t.Helper()
		b.open(demo + "/")
		b.submit(`form[action="/logout"] button`)
		b.wantPage("Demo app")
		b.signInAtDemo(demo, "alice", alicePassword)
		b.wantPage("Verify it's you")
		b.wantText(".lead", "Phone app") // the preferred method: the first added
	}
	choose := func(label string) {
		t.Helper()
		b.submit(`a[href^="/login/methods"]`)
		b.wantPage("Choose a way to verify")
		b.submit(methodChoice(label))
		b.wantPage("Verify it's you")
	}
	wantSignedIn := func(acr, amr string) {
		t.Helper()
		b.wantPage("Demo app")
		if got := b.demoClaim("acr"); got != `"`+acr+`"` {
			t.Errorf("acr = %s, want %q", got, acr)
		}
		if got := b.demoClaim("amr"); !strings.Contains(got, `"`+amr+`"`) {
			t.Errorf("amr = %s, want it to contain %q", got, amr)
		}
	}

	signInAgain()
	b.submit(`a[href^="/login/methods"]`)
	b.wantPage("Choose a way to verify")
	checkA11y(t, b, "choose a way to verify")
	b.submit(methodChoice("Email code"))
	b.wantText("#challenge_hint", "We sent a code to")
	checkA11y(t, b, "challenge, email code")
	b.fill("#code", phone.sentCode(e.issuer, "alice@example.org"))
	b.submit(`#challenge button[type=submit]`)
	wantSignedIn("mfa", "otp")

	signInAgain()
	choose("Security key or passkey")
	checkA11y(t, b, "challenge, security key")
	b.click(`#challenge button[type=submit]`)
	b.waitFor("table")
	wantSignedIn("phr", "hwk") // a key that cannot be copied: not backup eligible

	signInAgain()
	choose("Voice call")
	b.wantText("#challenge_hint", "We're calling")
	checkA11y(t, b, "challenge, voice call")
	b.click("#remember") // "Don't ask again on this device for 720 hours"
	phone.pressHash(e.issuer)
	b.waitForPage("Demo app")
	wantSignedIn("mfa", "tel")

	// This browser is remembered: the next sign-in asks for the password only.
	b.submit(`form[action="/logout"] button`)
	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Demo app")
	if got := b.demoClaim("acr"); got != `"pwd"` {
		t.Errorf("sign-in on a remembered device: acr = %s, want \"pwd\"", got)
	}

	// A change then needs "Verify it's you", which comes back to the
	// action pressed, to press again.
	b.open(e.issuer + "/security")
	b.submit(`form[action="/security/remove"] button`)
	b.wantPage("Verify it's you")
	e.clock.Advance(30 * time.Second)
	b.fill("#code", e.totpCode(key))
	b.submit(`#challenge button[type=submit]`)
	b.wantText("h1", "Remove ")
	checkA11y(t, b, "confirm after verifying")
	b.submit(`main form button[type=submit]`)
	b.wantNotice("Method removed.")
}

// TestBrowserSignOutAndErrors: the sign-out confirmation (asked when the
// request does not name the signed-in user), the signed-out page, and the
// error page for a sign-in link that is not valid.
func TestBrowserSignOutAndErrors(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addUser("alice", alicePassword)
	b := newTab(t)

	if got := b.open(e.issuer + "/login?id=not-a-sign-in"); got != http.StatusBadRequest {
		t.Errorf("bad sign-in id: status %d, want 400", got)
	}
	b.wantPage("This sign-in link has expired")
	checkA11y(t, b, "error page")

	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Demo app")
	b.open(e.issuer + "/end_session")
	b.wantPage("Sign out?")
	b.wantText(".lead", "alice")
	checkA11y(t, b, "sign out, confirm")
	b.submit(`form[action="/end_session"] button`)
	b.wantPage("You are signed out")
	checkA11y(t, b, "signed out")

	b.open(e.issuer + "/security")
	b.wantPage("Sign in") // the session really ended
}

// TestBrowserPhoneWidth: the sign-in page and Security info, with a method
// table, fit a 375 px wide phone screen without scrolling sideways.
func TestBrowserPhoneWidth(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addUser("alice", alicePassword)
	b := newTab(t)
	const width = 375
	b.viewport(width, 740, chromedp.EmulateMobile)

	b.open(demo + "/")
	b.submit(`form[action="/login"] button`)
	b.wantPage("Sign in")
	b.wantFits(width)
	checkA11y(t, b, "sign in, phone")
	b.fill("#username", "alice")
	b.fill("#password", alicePassword)
	b.submit(`form[action="/login/password"] button`)
	b.wantPage("Demo app")
	b.wantFits(width)

	b.open(e.issuer + "/security/add/totp")
	b.enrolTOTP(e, "Phone app with a rather long name to wrap")
	b.wantPage("Save your recovery codes")
	b.wantFits(width)
	b.saveCodes()
	b.wantNotice("Method added.")
	b.wantFits(width)

	// More rows, with every kind of action: stored as if added before.
	alice, err := e.store.GetUserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateMethod(t.Context(), storage.Method{ID: storage.NewID(), UserID: alice.ID, Type: storage.MethodEmail,
		Name: "Personal email", Target: "alice.with.a.long.address@example.org", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	recoveryGenerate(alice.ID, e)
	b.open(e.issuer + "/security")
	b.wantText("table", "Personal email")
	b.wantFits(width)
	checkA11y(t, b, "security info, phone")
}

// TestBrowserCallGoesOnByItself: a page waiting on a voice call, adding
// a phone or signing in, goes on by itself once # is pressed on the phone
// (the dev outbox, in another tab): no Continue needed. Continue pressed
// too early says so, in a neutral note, not an error.
func TestBrowserCallGoesOnByItself(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addUser("alice", alicePassword)
	b := newTab(t)
	phone := b.otherTab()

	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Demo app")
	b.open(e.issuer + "/security/add/voice")
	b.wantPage("Add Voice call")
	b.fill("#name", "Desk phone")
	b.fill("#target", "01632 960123")
	b.submit(`form[action="/security/add/voice"] button`)
	b.wantText("#enrol_hint", "We're calling ••••123")
	b.wantText("#call_hint", "this page goes on by itself")
	checkA11y(t, b, "enrol voice call, waiting")
	if got := b.submit(`#enrol button[type=submit]`); got != http.StatusAccepted {
		t.Errorf("Continue before #: status %d, want 202", got)
	}
	b.wantText("#call_status .notice", "We haven't had your answer yet")
	if b.has(".error-summary") {
		t.Error("Continue before # shows an error")
	}
	checkA11y(t, b, "enrol voice call, not answered yet")
	phone.pressHash(e.issuer)
	b.waitForPage("Save your recovery codes") // the first method's
	b.saveCodes()
	b.wantNotice("Method added.")

	b.open(demo + "/")
	b.submit(`form[action="/logout"] button`)
	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Verify it's you")
	b.wantText("#challenge_hint", "We're calling ••••123")
	checkA11y(t, b, "challenge, voice call, waiting")
	phone.pressHash(e.issuer)
	b.waitForPage("Demo app")
	if got := b.demoClaim("amr"); !strings.Contains(got, `"tel"`) {
		t.Errorf("amr = %s, want it to contain \"tel\"", got)
	}
}

// TestBrowserHarness: the harness itself works: the browser trusts an
// httptest TLS server, and axe runs and reports a page's faults with the
// impact checkA11y filters on.
func TestBrowserHarness(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head><title>Bad page</title></head><body>
<img src="data:,"><p style="color:#bbb;background:#fff">Faint text</p><input type="text"></body></html>`)
	}))
	t.Cleanup(srv.Close)
	b := newTab(t)
	if got := b.open(srv.URL); got != http.StatusOK {
		t.Fatalf("%s: status %d, want 200", srv.URL, got)
	}
	impact := map[string]string{}
	for _, v := range b.axe("bad page") {
		impact[v.ID] = v.Impact
	}
	for id, want := range map[string]string{"image-alt": "critical", "color-contrast": "serious", "label": "critical", "html-has-lang": "serious"} {
		if impact[id] != want {
			t.Errorf("axe on a bad page: %s has impact %q, want %q (all: %v)", id, impact[id], want, impact)
		}
	}
}

// setRootRememberMFA sets how long the root org unit lets a browser skip
// the second factor.
func (e *env) setRootRememberMFA(d time.Duration) {
	e.t.Helper()
	root, err := findOrgUnit(context.Background(), e.store, "")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.UpdateOrgUnit(context.Background(), root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
		ou.RememberMFA = &d
		return ou, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// setPassword gives an existing user a known password, keeping whether it
// must be changed: the bootstrap admin's one-time password is printed, not
// returned.
func (e *env) setPassword(username, pw string) {
	e.t.Helper()
	ctx := context.Background()
	hash, err := e.server.hasher.Hash(ctx, pw)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.store.GetUserByUsername(ctx, username)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) {
		u.PasswordHash = hash
		return u, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// signInAtDemo starts at the demo app and signs in with a password; the
// tab is then wherever Gatehouse sends it next.
func (b *tab) signInAtDemo(demo, username, pw string) {
	b.t.Helper()
	b.open(demo + "/")
	b.submit(`form[action="/login"] button`)
	b.wantPage("Sign in")
	b.fill("#username", username)
	b.fill("#password", pw)
	b.submit(`form[action="/login/password"] button`)
}

// enrolTOTP names the authenticator app on the add page the tab shows,
// reads the key the enrol page shows (as a user types it into the app),
// and answers with the app's code. It returns the key.
func (b *tab) enrolTOTP(e *env, name string) string {
	b.t.Helper()
	b.wantPage("Add Authenticator app")
	b.fill("#name", name)
	b.submit(`form[action="/security/add/totp"] button`)
	if !b.has(`img.qr[src^="data:image/png;base64,"]`) {
		b.t.Error("the enrol page shows no QR code")
	}
	key := b.text("code.secret")
	checkA11y(b.t, b, "enrol authenticator app")
	b.fill("#code", e.totpCode(key))
	b.submit(`#enrol button[type=submit]`)
	return key
}

// saveCodes checks the recovery codes shown after a first method (ten, to
// download, copy or print) and presses Done.
func (b *tab) saveCodes() {
	b.t.Helper()
	b.wantPage("Save your recovery codes")
	if n := b.count("#codes code"); n != 10 {
		b.t.Errorf("%d recovery codes shown, want 10", n)
	}
	if !b.has(`a[download="recovery-codes.txt"][href^="data:text/plain"]`) {
		b.t.Error("no download link for the codes")
	}
	b.waitFor("button[data-copy]") // shown by the script
	b.waitFor("button[data-print]")
	checkA11y(b.t, b, "recovery codes, first method")
	b.submit(`a.button:not([download])`)
}

// wantNotice fails the test unless Security info shows the notice.
func (b *tab) wantNotice(want string) {
	b.t.Helper()
	b.wantPage("Security info")
	b.wantText(".notice", want)
}

// demoClaim is the JSON of an ID token claim the demo app shows, or "".
func (b *tab) demoClaim(name string) string {
	b.t.Helper()
	q, _ := json.Marshal(name)
	return inTab(b, "read claim "+name, chromedp.Evaluate[string](fmt.Sprintf(`(() => {
  for (const row of document.querySelectorAll("tbody tr")) {
    if (row.querySelector("th").innerText.trim() === %s) return row.querySelector("td").innerText.trim();
  }
  return "";
})()`, q)))
}

// methodChoice selects the button for a method on "Choose a way to
// verify", by the label it shows.
func methodChoice(label string) string {
	q, _ := json.Marshal(label)
	return fmt.Sprintf(`js:[...document.querySelectorAll("button.choice")].find(b => b.textContent.startsWith(%s))`, q)
}

// count is how many elements sel matches now.
func (b *tab) count(sel string) int {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return inTab(b, "count "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%s).length", q)))
}

// wantFits fails the test if the page is wider than width CSS pixels,
// so it would scroll sideways (WCAG 1.4.10 Reflow). A phone's browser
// widens its layout viewport to fit, so innerWidth cannot tell.
func (b *tab) wantFits(width int) {
	b.t.Helper()
	if got := inTab(b, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); got > width {
		b.t.Errorf("at %s: the page is %d px wide, wider than the %d px screen", b.url(), got, width)
	}
}

var outboxCode = regexp.MustCompile(`code is ([0-9]{6})`)

// sentCode reads the newest code sent to to from issuer's dev outbox.
func (b *tab) sentCode(issuer, to string) string {
	b.t.Helper()
	b.open(issuer + "/dev/outbox")
	b.wantPage("Dev outbox")
	msg := b.text(".outbox-item")
	m := outboxCode.FindStringSubmatch(msg)
	if m == nil || !strings.Contains(msg, to) {
		b.t.Fatalf("the newest outbox message is not a code for %s:\n%s", to, msg)
	}
	return m[1]
}

// waitForPage waits until the tab shows a page whose h1 is heading: one
// it may reach by itself, as a page waiting on a call does.
func (b *tab) waitForPage(heading string) {
	b.t.Helper()
	inTab(b, "wait for the page "+heading, chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//h1[normalize-space()=%q]`, heading))))
}

// pressHash answers the newest call in issuer's dev outbox with #.
func (b *tab) pressHash(issuer string) {
	b.t.Helper()
	b.open(issuer + "/dev/outbox")
	b.submit(`.outbox-item form[action="/dev/outbox/press"] button`)
	b.wantText(".notice", "You pressed #")
}
