package main

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/factors/webauthn/webauthntest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// WebAuthn end to end: a virtual authenticator plays the browser's part
// (what templates/static/webauthn.js hands to navigator.credentials), so
// the JSON posted is what a browser posts.

var (
	webAuthnCreate = regexp.MustCompile(`data-webauthn-create="([^"]*)"`)
	webAuthnGet    = regexp.MustCompile(`data-webauthn-get="([^"]*)"`)
)

// newWebAuthnEnv is an env whose issuer is http://localhost:PORT: WebAuthn
// needs a domain name, so the RP ID ("localhost") and the origin are the
// ones derived from the issuer, as in the default configuration.
func newWebAuthnEnv(t *testing.T) (*env, *relyingParty, virtualwebauthn.RelyingParty) {
	t.Helper()
	e := newSeededEnv(t, nil, func(c *Config) { c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) })
	e.addUser("alice", alicePassword)
	return e, e.addRP("app", false), virtualwebauthn.RelyingParty{ID: "localhost", Name: "Gatehouse", Origin: e.issuer}
}

// webAuthnOptions is the options JSON a form hands to webauthn.js.
func webAuthnOptions(t testing.TB, p page, attr *regexp.Regexp) string {
	t.Helper()
	m := attr.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no WebAuthn options on the page (status %d):\n%s", p.status(), p.body)
	}
	return htmlUnescape(m[1])
}

// enrolWebAuthn registers a new credential of auth under name on the
// Security info page and returns it.
func (b *browser) enrolWebAuthn(rp virtualwebauthn.RelyingParty, auth *virtualwebauthn.Authenticator, name string) (virtualwebauthn.Credential, *virtualwebauthn.AttestationOptions) {
	t := b.e.t
	t.Helper()
	p := b.get(b.e.issuer + "/security/add/webauthn")
	if !strings.Contains(p.body, "Add Security key or passkey") {
		t.Fatalf("add page: status %d\n%s", p.status(), p.body)
	}
	f := p.form()
	f.Set("name", name)
	p = b.post("/security/add/webauthn", f)
	opts, err := virtualwebauthn.ParseAttestationOptions(webAuthnOptions(t, p, webAuthnCreate))
	if err != nil {
		t.Fatal(err)
	}
	cred := webauthntest.NewCredential()
	f = p.form()
	f.Set("webauthn", virtualwebauthn.CreateAttestationResponse(rp, *auth, cred, *opts))
	if p = b.pastCodes(b.post("/security/add/webauthn/finish", f)); !strings.Contains(p.body, "Method added.") {
		t.Fatalf("finishing WebAuthn enrolment: status %d\n%s", p.status(), p.body)
	}
	auth.AddCredential(cred)
	return cred, opts
}

// assert answers the WebAuthn challenge page p with an assertion from cred
// made for rp, and returns the answer and the page that follows.
func (b *browser) assert(p page, rp virtualwebauthn.RelyingParty, auth virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) (string, page) {
	t := b.e.t
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(webAuthnOptions(t, p, webAuthnGet))
	if err != nil {
		t.Fatal(err)
	}
	if !cred.IsAllowedForAssertion(*opts) {
		t.Fatalf("the challenge does not allow the credential: %v", opts.AllowCredentials)
	}
	resp := virtualwebauthn.CreateAssertionResponse(rp, auth, cred, *opts)
	return resp, b.answerWebAuthn(p, resp)
}

// answerWebAuthn posts resp as the answer to the challenge page p.
func (b *browser) answerWebAuthn(p page, resp string) page {
	f := p.form()
	f.Set("webauthn", resp)
	return b.post("/login/second-factor", f)
}

// TestWebAuthnEnrolAndSignIn: alice registers a security key on Security
// info and signs in with it: acr phr, amr hwk and mfa. An old assertion, an
// assertion for another origin and a sign count going back are refused,
// and none of them yields a code.
func TestWebAuthnEnrolAndSignIn(t *testing.T) {
	e, app, rp := newWebAuthnEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	if _, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword)); err != nil {
		t.Fatal(err)
	}
	key := virtualwebauthn.NewAuthenticator()
	cred, _ := b.enrolWebAuthn(rp, &key, "Blue key")
	p := b.get(e.issuer + "/security")
	for _, want := range []string{"Security key or passkey", "Blue key", "Preferred", "On: you are asked for a second factor"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("Security info lacks %q", want)
		}
	}

	// Sign in again: password, then the security key.
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p = b.submitPassword(b.get(a.url), "alice", alicePassword)
	if !strings.Contains(p.body, `src="/static/webauthn.js"`) {
		t.Error("the challenge page does not load webauthn.js")
	}
	cred.Counter = 10
	first, p := b.assert(p, rp, key, cred)
	tok, err := app.exchange(a, b.codeFrom(p, a))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["acr"] != "phr" {
		t.Errorf("acr = %v, want phr", tok.claims["acr"])
	}
	if amr := claimsAMR(t, tok); !slices.Contains(amr, "hwk") || !slices.Contains(amr, "mfa") || !slices.Contains(amr, "pwd") {
		t.Errorf("amr = %v, want pwd, hwk and mfa", amr)
	}

	// A new sign-in, and answers that must all be refused.
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	challenge := b.submitPassword(b.get(a.url), "alice", alicePassword)
	phishing := virtualwebauthn.RelyingParty{ID: rp.ID, Origin: "https://gatehouse.example.net"}
	for _, tc := range []struct {
		name   string
		answer func() page
	}{
		{"the previous sign-in's assertion", func() page { return b.answerWebAuthn(challenge, first) }},
		{"an assertion for another origin", func() page {
			cred.Counter = 11
			_, p := b.assert(challenge, phishing, key, cred)
			return p
		}},
		{"a sign count that went back (a cloned key)", func() page {
			cred.Counter = 7
			_, p := b.assert(challenge, rp, key, cred)
			return p
		}},
		{"no assertion", func() page { return b.answerWebAuthn(challenge, "") }},
	} {
		p := tc.answer()
		if p.status() != http.StatusUnauthorized || p.location().Host == e.rpHost {
			t.Errorf("%s: status %d location %q, want 401 and no code", tc.name, p.status(), p.location())
		}
		if !strings.Contains(p.body, "data-webauthn-get") || !strings.Contains(p.body, `role="alert"`) {
			t.Errorf("%s: the challenge is not shown again with an error", tc.name)
		}
	}
	// The refusals spent guesses, not the challenge: the key still works.
	cred.Counter = 12
	if _, p = b.assert(challenge, rp, key, cred); p.location().Host != e.rpHost {
		t.Fatalf("the right assertion after refusals: status %d\n%s", p.status(), p.body)
	}
	if _, err := app.exchange(a, b.codeFrom(p, a)); err != nil {
		t.Fatal(err)
	}
}

// TestWebAuthnSeveralCredentials: a second, named credential (a synced
// passkey) can be added; registration excludes the first, and signing in
// with the passkey gives amr swk.
func TestWebAuthnSeveralCredentials(t *testing.T) {
	e, app, rp := newWebAuthnEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	key := virtualwebauthn.NewAuthenticator()
	first, _ := b.enrolWebAuthn(rp, &key, "Blue key")

	// Changing methods now needs a recent second factor.
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	first.Counter = 1
	_, p := b.assert(b.submitPassword(b.get(a.url), "alice", alicePassword), rp, key, first)
	b.codeFrom(p, a)

	phone := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true})
	passkey, opts := b.enrolWebAuthn(rp, &phone, "Phone passkey")
	if !first.IsExcludedForAttestation(*opts) {
		t.Errorf("registration does not exclude the registered key: %v", opts.ExcludeCredentials)
	}
	p = b.get(e.issuer + "/security")
	for _, want := range []string{"Blue key", "Phone passkey"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("Security info lacks %q", want)
		}
	}

	// Make the passkey preferred; the next sign-in asks for it.
	u, err := e.store.GetUserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	methods, err := e.store.ListUserMethods(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(methods, func(m storage.Method) bool { return m.Name == "Phone passkey" })
	if i < 0 {
		t.Fatalf("no method named Phone passkey in %v", methods)
	}
	if p = b.securityPost("/security/preferred", url.Values{"method": {methods[i].ID}}); !strings.Contains(p.body, "Preferred method changed.") {
		t.Fatalf("make preferred: status %d\n%s", p.status(), p.body)
	}
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	_, p = b.assert(b.submitPassword(b.get(a.url), "alice", alicePassword), rp, phone, passkey)
	tok, err := app.exchange(a, b.codeFrom(p, a))
	if err != nil {
		t.Fatal(err)
	}
	if amr := claimsAMR(t, tok); !slices.Contains(amr, "swk") || tok.claims["acr"] != "phr" {
		t.Errorf("passkey sign-in: acr %v amr %v, want phr and swk", tok.claims["acr"], amr)
	}
}

// TestWebAuthnOffForIPIssuer: WebAuthn needs a domain name, so with an
// issuer on an IP address (and no webauthn.rp_id) it is not offered.
func TestWebAuthnOffForIPIssuer(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	if p := b.get(e.issuer + "/security/add/webauthn"); p.status() != http.StatusNotFound {
		t.Errorf("add WebAuthn with an IP issuer: status %d, want 404", p.status())
	}
}

func TestWebAuthnConfig(t *testing.T) {
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantRPID    string
		wantOrigins []string
		wantErr     string // a substring; empty for none
	}{
		{name: "derived from the issuer", env: map[string]string{"GATEHOUSE_ISSUER": "https://login.example.org:8443"},
			wantRPID: "login.example.org", wantOrigins: []string{"https://login.example.org:8443"}},
		{name: "parent domain and several origins", env: map[string]string{
			"GATEHOUSE_ISSUER": "https://login.example.org", "GATEHOUSE_WEBAUTHN_RP_ID": "example.org",
			"GATEHOUSE_WEBAUTHN_ORIGINS": "https://login.example.org, https://example.org"},
			wantRPID: "example.org", wantOrigins: []string{"https://login.example.org", "https://example.org"}},
		{name: "IP issuer: no error, WebAuthn off", env: map[string]string{"GATEHOUSE_ISSUER": "https://10.0.0.1"},
			wantRPID: "10.0.0.1", wantOrigins: []string{"https://10.0.0.1"}},
		{name: "IP RP ID", env: map[string]string{"GATEHOUSE_WEBAUTHN_RP_ID": "127.0.0.1"}, wantErr: "webauthn.rp_id"},
		{name: "RP ID with a port", env: map[string]string{"GATEHOUSE_WEBAUTHN_RP_ID": "localhost:8080"}, wantErr: "webauthn.rp_id"},
		{name: "origin outside the RP ID", env: map[string]string{"GATEHOUSE_ISSUER": "https://login.example.org",
			"GATEHOUSE_WEBAUTHN_ORIGINS": "https://evil.example.net"}, wantErr: "webauthn.origins"},
		{name: "http origin", env: map[string]string{"GATEHOUSE_ISSUER": "https://login.example.org",
			"GATEHOUSE_WEBAUTHN_ORIGINS": "http://login.example.org"}, wantErr: "webauthn.origins"},
		{name: "origin with a path", env: map[string]string{"GATEHOUSE_ISSUER": "https://login.example.org",
			"GATEHOUSE_WEBAUTHN_ORIGINS": "https://login.example.org/login"}, wantErr: "webauthn.origins"},
		{name: "no origin", env: map[string]string{"GATEHOUSE_WEBAUTHN_ORIGINS": " , "}, wantErr: "webauthn.origins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, nil, tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.webAuthnRPID(); got != tc.wantRPID {
				t.Errorf("RP ID = %q, want %q", got, tc.wantRPID)
			}
			if got := c.webAuthnOrigins(); !slices.Equal(got, tc.wantOrigins) {
				t.Errorf("origins = %q, want %q", got, tc.wantOrigins)
			}
		})
	}
}
