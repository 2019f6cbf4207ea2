package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/factors/recovery"
)

var (
	// totpKey is the enrol page's key, shown in groups of four.
	totpKey       = regexp.MustCompile(`<code class="secret key">((?:<span>[A-Z2-7]{1,4}</span>)+)</code>`)
	recoveryCodes = regexp.MustCompile(`<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>`)
)

// enrolKey is the authenticator app's key on enrol page body, as typed
// into the app (its groups run together), or "".
func enrolKey(body string) string {
	m := totpKey.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.NewReplacer("<span>", "", "</span>", "").Replace(m[1])
}

// totpCode is what the user's authenticator app shows at the env's time.
func (e *env) totpCode(secret string) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// securityPost posts a Security info form, carrying its csrf token.
func (b *browser) securityPost(path string, form url.Values) page {
	b.e.t.Helper()
	p := b.get(b.e.issuer + "/security")
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", p.form().Get("csrf"))
	return b.post(path, form)
}

// enrolTOTP adds an authenticator app on the Security info page and
// returns its key.
func (b *browser) enrolTOTP(name string) string {
	b.e.t.Helper()
	p := b.get(b.e.issuer + "/security/add/totp")
	if !strings.Contains(p.body, "Add Authenticator app") {
		b.e.t.Fatalf("add page: status %d\n%s", p.status(), p.body)
	}
	f := p.form()
	f.Set("name", name)
	p = b.post("/security/add/totp", f)
	key := enrolKey(p.body)
	if key == "" || !strings.Contains(p.body, "data:image/png;base64,") {
		b.e.t.Fatalf("enrol page lacks the QR code or key: status %d\n%s", p.status(), p.body)
	}
	f = p.form()
	f.Set("code", b.e.totpCode(key))
	p = b.pastCodes(b.post("/security/add/totp/finish", f))
	if !strings.Contains(p.body, "Method added.") {
		b.e.t.Fatalf("finishing TOTP enrolment: status %d\n%s", p.status(), p.body)
	}
	return key
}

// newTOTPAlice is alice signed in at app in b, with an authenticator app
// just added; it returns the app's key.
func newTOTPAlice(t *testing.T) (e *env, app *relyingParty, b *browser, secret string) {
	t.Helper()
	e, app = newAliceEnv(t)
	b = e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	return e, app, b, b.enrolTOTP("Phone")
}

// passChallenge answers the challenge page p with code.
func (b *browser) passChallenge(p page, code string) page {
	b.e.t.Helper()
	f := p.form()
	if !strings.Contains(p.body, "Verify it's you") || f.Get("id") == "" {
		b.e.t.Fatalf("expected a challenge page, got status %d:\n%s", p.status(), p.body)
	}
	f.Set("code", code)
	return b.post("/login/second-factor", f)
}

// sessionCookie is the browser's session cookie value.
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.e.issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "gatehouse-session" {
			return c.Value
		}
	}
	return ""
}

func claimsAMR(t *testing.T, tok *tokens) []string {
	t.Helper()
	raw, _ := json.Marshal(tok.claims["amr"])
	var amr []string
	json.Unmarshal(raw, &amr)
	return amr
}

// TestTOTPEnrolAndSignIn: a user adds an authenticator app from Security
// info (QR code and key), and from then on signs in with a code from it.
func TestTOTPEnrolAndSignIn(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	if _, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword)); err != nil {
		t.Fatal(err)
	}
	// The page says a single method is not enough.
	secret := b.enrolTOTP("Work phone")
	p := b.get(e.issuer + "/security")
	for _, want := range []string{"Authenticator app", "Work phone", "Preferred", "You have only one method"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("Security info lacks %q", want)
		}
	}

	e.clock.Advance(30 * time.Second) // the enrolment code's step is spent
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p = b.submitPassword(b.get(a.url), "alice", alicePassword)
	if got := b.get(e.issuer + "/authorize/callback?id=" + p.form().Get("id")); got.location().Host == e.rpHost {
		t.Fatal("the callback issued a code before the second factor")
	}
	before := b.sessionCookie()
	tok, err := app.exchange(a, b.codeFrom(b.passChallenge(p, e.totpCode(secret)), a))
	if err != nil {
		t.Fatal(err)
	}
	if after := b.sessionCookie(); after == "" || after == before {
		t.Error("the session id was not renewed after the second factor")
	}
	if got, want := claimsAMR(t, tok), []string{"pwd", "otp", "mfa"}; !slices.Equal(got, want) {
		t.Errorf("amr = %v, want %v", got, want)
	}
	if tok.claims["acr"] != "mfa" {
		t.Errorf("acr = %v, want mfa", tok.claims["acr"])
	}

	// SSO from the MFA session needs no second prompt.
	other := e.addRP("other", false)
	a = other.authorize()
	tok, err = other.exchange(a, b.codeFrom(b.get(a.url), a))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["acr"] != "mfa" {
		t.Errorf("SSO after MFA: acr = %v, want mfa", tok.claims["acr"])
	}
	// The same code (same time step) never works twice.
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p = b.passChallenge(b.submitPassword(b.get(a.url), "alice", alicePassword), e.totpCode(secret))
	if p.status() != http.StatusUnauthorized || p.location().Host == e.rpHost {
		t.Errorf("replayed TOTP code: status %d location %q, want 401 and no code", p.status(), p.location())
	}
}

// TestSecondFactorCannotBeSkipped: after the password, nothing but a right
// answer gets past the challenge, and guessing is throttled.
func TestSecondFactorCannotBeSkipped(t *testing.T) {
	e, app, _, secret := newTOTPAlice(t)
	e.clock.Advance(30 * time.Second)

	other := e.newBrowser()
	a := app.authorize()
	p := other.submitPassword(other.get(a.url), "alice", alicePassword)
	id := p.form().Get("id")
	for _, path := range []string{"/authorize/callback?id=" + id, "/login?id=" + id} {
		if got := other.get(e.issuer + path); got.location().Host == e.rpHost {
			t.Errorf("GET %s after the password alone issued a code", path)
		}
	}
	// A new authorize in the same browser does not ride on the half-done session.
	a2 := app.authorize(oauth2.SetAuthURLParam("prompt", "none"))
	if q := other.get(a2.url).location().Query(); q.Get("error") != "interaction_required" {
		t.Errorf("prompt=none with a password-only session for an MFA user: %v, want interaction_required", q)
	}
	// Choosing a method that is not the user's changes nothing.
	mallory := e.addUser("mallory", "mallorys password 1")
	foreign, _ := recoveryGenerate(mallory.ID, e)
	f := p.form()
	f.Set("method", foreign)
	if got := other.post("/login/method", f); got.location().Host == e.rpHost {
		t.Error("choosing another user's method issued a code")
	}
	p = other.get(e.issuer + "/login?id=" + id)

	// Guessing: five wrong answers use up the challenge; the next answer
	// finds it retired, and the one after meets the per-user lock, even
	// with the right code.
	for i := range 5 {
		if p = other.passChallenge(p, "000000"); p.status() != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: status %d", i+1, p.status())
		}
	}
	if p = other.passChallenge(p, e.totpCode(secret)); !strings.Contains(p.body, "Too many wrong answers") {
		t.Fatalf("sixth answer: status %d, want the challenge retired", p.status())
	}
	p = other.passChallenge(p, e.totpCode(secret))
	if p.status() != http.StatusTooManyRequests || !strings.Contains(p.body, "Too many failed attempts") {
		t.Fatalf("seventh answer: status %d, want 429", p.status())
	}
	e.clock.Advance(2 * time.Second)
	if _, err := app.exchange(a, other.codeFrom(other.passChallenge(p, e.totpCode(secret)), a)); err != nil {
		t.Errorf("the right code after the lock: %v", err)
	}
}

// TestRecoveryCodes: codes are shown once, each works once, and a sign-in
// can switch to them with "use another method".
func TestRecoveryCodes(t *testing.T) {
	e, app, b, secret := newTOTPAlice(t)

	// Changes need a second factor: the one just added will do.
	e.clock.Advance(30 * time.Second)
	p := b.passChallenge(b.securityPost("/security/recovery", nil), e.totpCode(secret))
	p = b.securityPost("/security/recovery", nil)
	codes := recoveryCodes.FindAllStringSubmatch(p.body, -1)
	if len(codes) != 10 {
		t.Fatalf("got %d recovery codes, want 10:\n%s", len(codes), p.body)
	}
	if p := b.get(e.issuer + "/security"); !strings.Contains(p.body, "10 of 10 codes left") || recoveryCodes.MatchString(p.body) {
		t.Errorf("Security info shows the codes again, or not the count")
	}

	var a authorization // the latest sign-in's, set by signInWithRecovery
	signInWithRecovery := func(code string) page {
		a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
		p := b.submitPassword(b.get(a.url), "alice", alicePassword)
		choices := b.get(e.issuer + "/login/methods?id=" + url.QueryEscape(p.form().Get("id")))
		var recoveryID string
		for _, m := range regexp.MustCompile(`name="method" value="([^"]+)">\s*<button type="submit" class="choice"[^>]*>Recovery code`).FindAllStringSubmatch(choices.body, -1) {
			recoveryID = m[1]
		}
		if recoveryID == "" {
			t.Fatalf("no recovery code choice:\n%s", choices.body)
		}
		f := choices.form()
		f.Set("method", recoveryID)
		return b.passChallenge(b.post("/login/method", f), code)
	}
	tok, err := app.exchange(a, b.codeFrom(signInWithRecovery(codes[4][1]), a))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["acr"] != "mfa" {
		t.Errorf("acr = %v, want mfa", tok.claims["acr"])
	}
	if p := signInWithRecovery(codes[4][1]); p.status() != http.StatusUnauthorized {
		t.Errorf("a used recovery code: status %d, want 401", p.status())
	}
	// A new set cancels the old. (The failed sign-in left a password-only
	// session, so the change asks for the authenticator app first.)
	e.clock.Advance(30 * time.Second)
	b.passChallenge(b.securityPost("/security/recovery", nil), e.totpCode(secret))
	if p = b.securityPost("/security/recovery", nil); len(recoveryCodes.FindAllString(p.body, -1)) != 10 {
		t.Fatalf("no new set of codes:\n%s", p.body)
	}
	if p := signInWithRecovery(codes[5][1]); p.status() != http.StatusUnauthorized {
		t.Errorf("a code from the replaced set: status %d, want 401 (location %s)", p.status(), p.location())
	}
}

// TestSecurityChangesNeedARecentFactor: ten minutes after the last second
// factor, a change sends the user to prove it again, then back.
func TestSecurityChangesNeedARecentFactor(t *testing.T) {
	e, _, b, secret := newTOTPAlice(t)

	e.clock.Advance(11 * time.Minute)
	p := b.securityPost("/security/recovery", nil)
	if recoveryCodes.MatchString(p.body) {
		t.Fatal("recovery codes generated without a recent second factor")
	}
	// Back to the action, as a button to press again: never replayed.
	p = b.passChallenge(p, e.totpCode(secret))
	if body := htmlUnescape(p.body); !strings.Contains(body, "Thanks for verifying it's you") || !strings.Contains(body, "<h1>Get new recovery codes?</h1>") ||
		recoveryCodes.MatchString(p.body) {
		t.Fatalf("after verifying, want the action to confirm, got status %d:\n%s", p.status(), p.body)
	}
	if p = b.post("/security/recovery", p.form()); len(recoveryCodes.FindAllString(p.body, -1)) != 10 {
		t.Errorf("after verifying, no recovery codes:\n%s", p.body)
	}
	// Forged or foreign posts change nothing.
	if p := b.post("/security/mfa", url.Values{"enabled": {"off"}, "csrf": {"forged"}}); p.status() != http.StatusForbidden {
		t.Errorf("Security info post with a forged token: status %d, want 403", p.status())
	}
	if p := e.newBrowser().get(e.issuer + "/security"); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("Security info without a session: status %d, want the sign-in page", p.status())
	}
}

// recoveryGenerate stores a set of recovery codes for a user directly.
func recoveryGenerate(userID string, e *env) (methodID string, codes []string) {
	codes, m := recovery.Generate(userID, e.clock.Now())
	if err := e.store.CreateMethod(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
	return m.ID, codes
}

// TestACRValues: an RP's acr_values is required, not a hint: mfa steps a
// password session up, and phr with no security key answers
// unmet_authentication_requirements rather than a weaker token.
func TestACRValues(t *testing.T) {
	e, app, b, secret := newTOTPAlice(t)
	e.clock.Advance(30 * time.Second)
	// Turn MFA off again, so only the request asks for a second factor.
	b.passChallenge(b.securityPost("/security/mfa", url.Values{"enabled": {"off"}}), e.totpCode(secret))
	b.securityPost("/security/mfa", url.Values{"enabled": {"off"}})

	a := app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	tok, err := app.exchange(a, b.codeFrom(b.submitPassword(b.get(a.url), "alice", alicePassword), a))
	if err != nil || tok.claims["acr"] != "pwd" {
		t.Fatalf("MFA off, no acr_values: %v, acr %v; want acr pwd", err, tok.claims["acr"])
	}
	e.clock.Advance(30 * time.Second)
	a = app.authorize(oauth2.SetAuthURLParam("acr_values", "mfa"))
	tok, err = app.exchange(a, b.codeFrom(b.passChallenge(b.get(a.url), e.totpCode(secret)), a))
	if err != nil || tok.claims["acr"] != "mfa" {
		t.Fatalf("acr_values=mfa: %v, acr %v; want a challenge and acr mfa", err, tok.claims["acr"])
	}
	a = app.authorize(oauth2.SetAuthURLParam("acr_values", "phr"))
	if q := b.get(a.url).location().Query(); q.Get("error") != "unmet_authentication_requirements" || q.Get("code") != "" {
		t.Errorf("acr_values=phr without a security key: %v, want unmet_authentication_requirements", q)
	}
}

// TestEssentialACRClaim: the claims parameter's essential acr (OIDC Core
// 5.5.1.1) is required like acr_values; one Gatehouse cannot issue is
// unmet, and a malformed claims parameter is invalid_request.
func TestEssentialACRClaim(t *testing.T) {
	e, app, b, secret := newTOTPAlice(t)
	e.clock.Advance(30 * time.Second)
	claims := func(v string) oauth2.AuthCodeOption {
		return oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"values":[`+v+`]}}}`)
	}
	a := app.authorize(claims(`"urn:example:gold"`))
	if q := b.get(a.url).location().Query(); q.Get("error") != "unmet_authentication_requirements" {
		t.Errorf("essential acr Gatehouse cannot issue: %v, want unmet_authentication_requirements", q)
	}
	a = app.authorize(oauth2.SetAuthURLParam("claims", `{"id_token":`))
	if q := b.get(a.url).location().Query(); q.Get("error") != "invalid_request" {
		t.Errorf("malformed claims: %v, want invalid_request", q)
	}
	// mfa or phr: the TOTP the user has will do.
	a = app.authorize(claims(`"mfa","phr"`))
	tok, err := app.exchange(a, b.codeFrom(b.passChallenge(b.get(a.url), e.totpCode(secret)), a))
	if err != nil || tok.claims["acr"] != "mfa" {
		t.Fatalf("essential acr mfa or phr: %v, acr %v; want mfa", err, tok.claims["acr"])
	}
	a = app.authorize(claims(`"phr"`))
	if q := b.get(a.url).location().Query(); q.Get("error") != "unmet_authentication_requirements" {
		t.Errorf("essential acr phr without a security key: %v, want unmet_authentication_requirements", q)
	}
}
