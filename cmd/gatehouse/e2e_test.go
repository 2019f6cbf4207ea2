package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	r := e.addRP("app", false)
	var doc struct {
		Issuer              string   `json:"issuer"`
		ResponseTypes       []string `json:"response_types_supported"`
		CodeChallenge       []string `json:"code_challenge_methods_supported"`
		ACRValues           []string `json:"acr_values_supported"`
		SigningAlgs         []string `json:"id_token_signing_alg_values_supported"`
		EndSession          string   `json:"end_session_endpoint"`
		Introspection       string   `json:"introspection_endpoint"`
		Revocation          string   `json:"revocation_endpoint"`
		DeviceAuthorization string   `json:"device_authorization_endpoint"`
	}
	if err := r.provider.Claims(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != e.issuer {
		t.Errorf("issuer = %q, want %q", doc.Issuer, e.issuer)
	}
	for name, got := range map[string][]string{
		"response_types_supported":              doc.ResponseTypes,
		"code_challenge_methods_supported":      doc.CodeChallenge,
		"id_token_signing_alg_values_supported": doc.SigningAlgs,
		"acr_values_supported":                  doc.ACRValues,
	} {
		want := map[string][]string{
			"response_types_supported":              {"code"},
			"code_challenge_methods_supported":      {"S256"},
			"id_token_signing_alg_values_supported": {"RS256"},
			"acr_values_supported":                  {"pwd", "mfa", "phr"},
		}[name]
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if doc.EndSession == "" || doc.Introspection == "" || doc.Revocation == "" {
		t.Errorf("discovery lacks end_session, introspection or revocation endpoint: %+v", doc)
	}
	if doc.DeviceAuthorization != "" {
		t.Errorf("device_authorization_endpoint = %q, but the device flow is not offered", doc.DeviceAuthorization)
	}
}

// TestSigningAlgorithms: with keys.signing_algorithm set to ES256 or
// EdDSA, discovery says so and a go-oidc RP verifies the ID tokens of a
// sign-in and of a refresh, signed with that algorithm.
func TestSigningAlgorithms(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			e := newSeededEnv(t, nil, func(c *Config) { c.Keys.SigningAlgorithm = alg })
			e.addUser("alice", alicePassword)
			r := e.addRP("app", false)
			var doc struct {
				SigningAlgs []string `json:"id_token_signing_alg_values_supported"`
			}
			if err := r.provider.Claims(&doc); err != nil || !slices.Equal(doc.SigningAlgs, []string{alg}) {
				t.Errorf("id_token_signing_alg_values_supported = %v (%v), want [%s]", doc.SigningAlgs, err, alg)
			}
			a := r.authorize()
			tok, err := r.exchange(a, e.newBrowser().signIn(r, a, "alice", alicePassword))
			if err != nil {
				t.Fatal(err)
			}
			refreshed, err := r.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := refreshed.Extra("id_token").(string)
			if _, err := r.verifier.Verify(r.ctx(), raw); err != nil {
				t.Errorf("refreshed ID token: %v", err)
			}
			for _, idt := range []string{tok.raw, raw} {
				jws, err := jose.ParseSigned(idt, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				if err != nil || jws.Signatures[0].Header.Algorithm != alg {
					t.Errorf("ID token not signed with %s: %v", alg, err)
				}
			}
		})
	}
}

// TestCodeFlow signs in with code + PKCE and checks everything an RP reads.
func TestCodeFlow(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("alice", "correct horse battery")
	r := e.addRP("app", false)
	b := e.newBrowser()
	a := r.authorize()
	signInAt := e.clock.Now()
	tok, err := r.exchange(a, b.signIn(r, a, "alice", "correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	c := tok.claims
	if c["iss"] != e.issuer || c["sub"] != u.ID || c["nonce"] != a.nonce {
		t.Errorf("iss, sub, nonce = %v, %v, %v; want %v, %v, %v", c["iss"], c["sub"], c["nonce"], e.issuer, u.ID, a.nonce)
	}
	if !slices.Equal(tok.idToken.Audience, []string{"app"}) {
		t.Errorf("aud = %v, want [app]", tok.idToken.Audience)
	}
	if got := int64(c["auth_time"].(float64)); got != signInAt.Unix() {
		t.Errorf("auth_time = %d, want %d", got, signInAt.Unix())
	}
	if c["acr"] != "pwd" {
		t.Errorf("acr = %v, want pwd", c["acr"])
	}
	if amr, _ := json.Marshal(c["amr"]); string(amr) != `["pwd"]` {
		t.Errorf("amr = %s, want [\"pwd\"]", amr)
	}
	if c["email"] != "alice@example.org" || c["preferred_username"] != "alice" {
		t.Errorf("email, preferred_username = %v, %v", c["email"], c["preferred_username"])
	}

	info, err := r.provider.UserInfo(r.ctx(), oauth2.StaticTokenSource(tok.Token))
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != u.ID || info.Email != "alice@example.org" || info.EmailVerified {
		t.Errorf("userinfo = %+v", info)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token despite offline_access")
	}
	if in := r.introspect(tok.AccessToken); in["active"] != true || in["sub"] != u.ID || in["client_id"] != "app" {
		t.Errorf("introspection = %v, want active for alice and app", in)
	}
}

// introspect asks Gatehouse about a token as this RP (RFC 7662).
func (r *relyingParty) introspect(token string) map[string]any {
	r.e.t.Helper()
	return r.postForm(r.e.issuer+"/oauth/introspect", url.Values{"token": {token}}, http.StatusOK)
}

// revoke revokes a token as this RP (RFC 7009).
func (r *relyingParty) revoke(token string) {
	r.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.e.issuer+"/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(r.client.ID, r.secret)
	resp, err := r.e.srv.Client().Do(req)
	if err != nil {
		r.e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.e.t.Fatalf("revoke: status %d", resp.StatusCode)
	}
}

func (r *relyingParty) postForm(endpoint string, form url.Values, wantStatus int) map[string]any {
	r.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(r.client.ID, r.secret)
	resp, err := r.e.srv.Client().Do(req)
	if err != nil {
		r.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != wantStatus {
		r.e.t.Fatalf("POST %s: status %d, want %d: %v", endpoint, resp.StatusCode, wantStatus, out)
	}
	return out
}

// refresh exchanges a refresh token with the RP library.
func (r *relyingParty) refresh(refreshToken string) (*oauth2.Token, error) {
	return r.oauth.TokenSource(r.ctx(), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
}

func TestRefreshRotationAndReuse(t *testing.T) {
	s := newSignedIn(t)
	r, tok := s.app, s.tok
	first := tok.RefreshToken

	second, err := r.refresh(first)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first {
		t.Fatalf("refresh token not rotated: %q", second.RefreshToken)
	}
	raw, _ := second.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx(), raw)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	idt.Claims(&c)
	if c["acr"] != "pwd" || c["auth_time"] != tok.claims["auth_time"] {
		t.Errorf("refreshed ID token acr, auth_time = %v, %v; want pwd, %v", c["acr"], c["auth_time"], tok.claims["auth_time"])
	}
	if in := r.introspect(second.AccessToken); in["active"] != true {
		t.Fatalf("new access token inactive: %v", in)
	}

	// Presenting the rotated token again is theft: the family dies.
	if _, err := r.refresh(first); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("reusing a rotated refresh token: err = %v, want invalid_grant", err)
	}
	if _, err := r.refresh(second.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Errorf("newest refresh token after reuse: err = %v, want invalid_grant (family revoked)", err)
	}
	for _, at := range []string{tok.AccessToken, second.AccessToken} {
		if in := r.introspect(at); in["active"] != false {
			t.Errorf("access token still active after family revocation: %v", in)
		}
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return false
	}
	return re.ErrorCode == code
}

func TestRevocation(t *testing.T) {
	s := newSignedIn(t)
	r, tok := s.app, s.tok
	r.revoke(tok.AccessToken)
	if in := r.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("revoked access token active: %v", in)
	}
	if _, err := r.provider.UserInfo(r.ctx(), oauth2.StaticTokenSource(tok.Token)); err == nil {
		t.Error("userinfo accepted a revoked access token")
	}
	r.revoke(tok.RefreshToken)
	if _, err := r.refresh(tok.RefreshToken); !isOAuthError(err, "invalid_grant") {
		t.Errorf("revoked refresh token: err = %v, want invalid_grant", err)
	}
	r.revoke("no-such-token") // RFC 7009: unknown tokens are fine
}

func TestSSOAndPrompts(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "correct horse battery")
	app, other := e.addRP("app", false), e.addRP("other", true)
	b := e.newBrowser()
	a := app.authorize()
	first, err := app.exchange(a, b.signIn(app, a, "alice", "correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("second client signs in without a password", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		a := other.authorize()
		tok, err := other.exchange(a, b.codeFrom(b.get(a.url), a))
		if err != nil {
			t.Fatal(err)
		}
		if tok.claims["auth_time"] != first.claims["auth_time"] || tok.claims["sub"] != first.claims["sub"] {
			t.Errorf("SSO token auth_time, sub = %v, %v; want %v, %v", tok.claims["auth_time"], tok.claims["sub"], first.claims["auth_time"], first.claims["sub"])
		}
	})
	t.Run("prompt=none with a session", func(t *testing.T) {
		a := other.authorize(oauth2.SetAuthURLParam("prompt", "none"))
		if _, err := other.exchange(a, b.codeFrom(b.get(a.url), a)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("prompt=none without a session", func(t *testing.T) {
		a := other.authorize(oauth2.SetAuthURLParam("prompt", "none"))
		q := e.newBrowser().get(a.url).location().Query()
		if q.Get("error") != "login_required" || q.Get("state") != a.state {
			t.Errorf("error, state = %q, %q; want login_required, %q", q.Get("error"), q.Get("state"), a.state)
		}
	})
	t.Run("prompt=login asks again", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		a := app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
		p := b.get(a.url)
		if !strings.Contains(p.body, `name="password"`) {
			t.Fatalf("prompt=login did not ask for the password: status %d", p.status())
		}
		tok, err := app.exchange(a, b.codeFrom(b.submitPassword(p, "alice", "correct horse battery"), a))
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(tok.claims["auth_time"].(float64)); got != e.clock.Now().Unix() {
			t.Errorf("auth_time = %d, want the new sign-in's %d", got, e.clock.Now().Unix())
		}
	})
	t.Run("max_age", func(t *testing.T) {
		e.clock.Advance(10 * time.Minute)
		a := app.authorize(oauth2.SetAuthURLParam("max_age", "3600"))
		if _, err := app.exchange(a, b.codeFrom(b.get(a.url), a)); err != nil {
			t.Fatalf("max_age=3600 with a 10-minute-old session: %v", err)
		}
		a = app.authorize(oauth2.SetAuthURLParam("max_age", "60"))
		if p := b.get(a.url); !strings.Contains(p.body, `name="password"`) {
			t.Fatalf("max_age=60 with a 10-minute-old session did not ask again: status %d", p.status())
		}
		a = app.authorize(oauth2.SetAuthURLParam("max_age", "60"), oauth2.SetAuthURLParam("prompt", "none"))
		if q := b.get(a.url).location().Query(); q.Get("error") != "login_required" {
			t.Errorf("max_age=60 prompt=none: error = %q, want login_required", q.Get("error"))
		}
	})
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "correct horse battery")
	r := e.addRP("app", false)
	b := e.newBrowser()
	a := r.authorize()
	tok, err := r.exchange(a, b.signIn(r, a, "alice", "correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	endSession := e.issuer + "/end_session?"

	t.Run("unregistered post_logout_redirect_uri", func(t *testing.T) {
		p := b.get(endSession + url.Values{"id_token_hint": {tok.raw}, "post_logout_redirect_uri": {"https://rp.example/app/bye/"}}.Encode())
		if p.status() != http.StatusBadRequest || p.location().Host != "" {
			t.Errorf("status %d location %q, want 400 and no redirect", p.status(), p.location())
		}
	})
	t.Run("without a hint, it asks first", func(t *testing.T) {
		p := b.get(endSession + url.Values{"client_id": {"app"}}.Encode())
		if p.status() != http.StatusOK || !strings.Contains(p.body, "Sign out?") {
			t.Fatalf("status %d, want a confirmation page:\n%s", p.status(), p.body)
		}
		a := r.authorize(oauth2.SetAuthURLParam("prompt", "none"))
		if q := b.get(a.url).location().Query(); q.Get("code") == "" {
			t.Fatalf("session ended without confirmation: %v", q)
		}
	})
	t.Run("with the hint, it signs out and returns exactly", func(t *testing.T) {
		p := b.get(endSession + url.Values{
			"id_token_hint": {tok.raw}, "post_logout_redirect_uri": {"https://rp.example/app/bye"}, "state": {"xyz"},
		}.Encode())
		if got := p.location().String(); got != "https://rp.example/app/bye?state=xyz" {
			t.Fatalf("redirect = %q, want https://rp.example/app/bye?state=xyz", got)
		}
		a := r.authorize(oauth2.SetAuthURLParam("prompt", "none"))
		if q := b.get(a.url).location().Query(); q.Get("error") != "login_required" {
			t.Errorf("after logout, prompt=none: %v, want login_required", q)
		}
	})
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	svc := e.addRP("svc", false, "client_credentials")
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svc.secret, TokenURL: svc.provider.Endpoint().TokenURL, Scopes: []string{"reports"}}
	tok, err := cc.Token(svc.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if in := svc.introspect(tok.AccessToken); in["active"] != true || in["sub"] != "svc" {
		t.Errorf("introspection = %v, want active with sub svc", in)
	}
	cc.ClientSecret = "wrong"
	if _, err := cc.Token(svc.ctx()); !isOAuthError(err, "invalid_client") {
		t.Errorf("wrong secret: err = %v, want invalid_client", err)
	}
	app := e.addRP("app", false)
	cc = clientcredentials.Config{ClientID: "app", ClientSecret: app.secret, TokenURL: svc.provider.Endpoint().TokenURL}
	if _, err := cc.Token(svc.ctx()); err == nil {
		t.Error("a client without the client_credentials grant got a token")
	}
}

// atForcedChange signs a new user in at an app with a one-time password,
// to the page that makes them choose their own.
func atForcedChange(t *testing.T, username string) (*env, *relyingParty, *browser, authorization, page) {
	t.Helper()
	e := newEnv(t)
	u := e.addUser(username, "temporary-password-1")
	e.store.UpdateUser(context.Background(), u.ID, func(u storage.User) (storage.User, error) {
		u.MustChangePassword, u.OneTimePasswordExpiresAt = true, e.clock.Now().Add(time.Hour)
		return u, nil
	})
	r := e.addRP("app", false)
	b := e.newBrowser()
	a := r.authorize()
	p := b.submitPassword(b.get(a.url), username, "temporary-password-1")
	if !strings.Contains(p.body, "Choose a new password") {
		t.Fatalf("expected the change-password page, got status %d:\n%s", p.status(), p.body)
	}
	return e, r, b, a, p
}

// TestOneTimePassword: a user with a one-time password must choose a new
// one before the sign-in completes.
func TestOneTimePassword(t *testing.T) {
	e, r, b, a, p := atForcedChange(t, "bob")
	// The callback cannot be reached before the step is done.
	id := p.form().Get("id")
	if q := b.get(e.issuer + "/authorize/callback?id=" + id); q.location().Host == e.rpHost {
		t.Fatalf("callback issued a redirect before the password was changed: %s", q.location())
	}
	f := p.form()
	f.Set("new_password", "short")
	f.Set("confirm_password", "short")
	if p := b.post("/login/change-password", f); !strings.Contains(p.body, "at least 8 characters") {
		t.Fatalf("short password accepted? status %d:\n%s", p.status(), p.body)
	}
	f.Set("new_password", "a much better password")
	f.Set("confirm_password", "a much better password")
	if _, err := r.exchange(a, b.codeFrom(b.post("/login/change-password", f), a)); err != nil {
		t.Fatal(err)
	}
	a = r.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	if _, err := r.exchange(a, b.codeFrom(b.submitPassword(b.get(a.url), "bob", "a much better password"), a)); err != nil {
		t.Fatalf("sign-in with the new password: %v", err)
	}
}

// TestOneTimePasswordRefusesGuessable: the password chosen at the forced
// change is refused, with the reason, when it is a common password or
// built on the user's or the service's own words; a passphrase is taken.
func TestOneTimePasswordRefusesGuessable(t *testing.T) {
	_, r, b, a, p := atForcedChange(t, "wilhelmina")
	f := p.form()
	for _, tt := range []struct{ pw, want string }{
		{"password", "Your new password is one of the most common passwords."},
		{"wilhelmina", "Your new password contains your username."},
		{"Wilhelmina2024", "Your new password contains your username."},
		{"Gatehouse1", "Your new password contains the name of this site."},
		{"letmein!", "Your new password is too easy to guess: add another word or two."},
	} {
		f.Set("new_password", tt.pw)
		f.Set("confirm_password", tt.pw)
		p := b.post("/login/change-password", f)
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, tt.want) || !strings.Contains(p.body, "Choose a new password") {
			t.Errorf("new password %q: status %d, want 422 and %q on the change-password page:\n%s", tt.pw, p.status(), tt.want, p.body)
		}
	}
	f.Set("new_password", "kettle orchard lantern")
	f.Set("confirm_password", "kettle orchard lantern")
	if _, err := r.exchange(a, b.codeFrom(b.post("/login/change-password", f), a)); err != nil {
		t.Fatalf("a passphrase refused: %v", err)
	}
}

// TestPerClientLifetimes: a client's own token lifetimes override the
// server's defaults.
func TestPerClientLifetimes(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "correct horse battery")
	r := e.addRP("short", false)
	if _, err := e.store.UpdateClient(context.Background(), "short", func(c storage.Client) (storage.Client, error) {
		c.AccessTokenLifetime, c.IDTokenLifetime = 5*time.Minute, 10*time.Minute
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	a := r.authorize()
	tok, err := r.exchange(a, e.newBrowser().signIn(r, a, "alice", "correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.idToken.Expiry.Sub(tok.idToken.IssuedAt); got != 10*time.Minute {
		t.Errorf("ID token lifetime = %v, want 10m", got)
	}
	in := r.introspect(tok.AccessToken)
	if got := in["exp"].(float64) - in["iat"].(float64); got != 300 {
		t.Errorf("access token lifetime = %vs, want 300s", got)
	}
}

// TestRefreshMaxAge: refresh tokens slide with use, but never past
// tokens.refresh_token_max_age after the user signed in.
func TestRefreshMaxAge(t *testing.T) {
	e := newSeededEnv(t, nil, func(c *Config) { c.Tokens.RefreshTokenMaxAge = 3 * time.Hour })
	e.addUser("alice", "correct horse battery")
	r := e.addRP("app", false)
	a := r.authorize()
	tok, err := r.exchange(a, e.newBrowser().signIn(r, a, "alice", "correct horse battery"))
	if err != nil {
		t.Fatal(err)
	}
	rt := tok.RefreshToken
	for range 2 {
		e.clock.Advance(80 * time.Minute)
		next, err := r.refresh(rt)
		if err != nil {
			t.Fatalf("refresh %v after signing in: %v", e.clock.Now().Sub(tok.authTime()), err)
		}
		rt = next.RefreshToken
	}
	e.clock.Advance(21 * time.Minute) // 3 h 1 min after signing in
	if _, err := r.refresh(rt); !isOAuthError(err, "invalid_grant") {
		t.Errorf("refresh past the maximum age: %v, want invalid_grant", err)
	}
}
