package provider

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// writes counts the store's write transactions.
type writes struct{ n atomic.Int32 }

func (w *writes) Transaction(kind, _ string, _ time.Duration) {
	if kind == storage.KindWrite {
		w.n.Add(1)
	}
}

func (w *writes) Committed(time.Duration, int) {}

// fixedClock is a clock tests move by hand.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// jwtSetup is a provider with two client_credentials clients: "svc",
// which takes JWT access tokens, and "ops", which takes opaque ones; both
// have the secret secret and may ask for the scope reports.
type jwtSetup struct {
	p      *Provider
	db     *bbolt.DB
	writes *writes
	clock  *fixedClock
	secret string
}

func newJWTSetup(t *testing.T, alg jose.SignatureAlgorithm) *jwtSetup {
	t.Helper()
	w := &writes{}
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "provider.db"), bbolt.Options{Observer: w})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &fixedClock{now: time.Now().UTC().Truncate(time.Second)}
	p, _ := newTestProviderOver(t, db, func(c *Config) { c.SigningAlgorithm, c.Now = alg, clock.Now })
	secret, hash := NewSecret()
	for id, format := range map[string]string{"svc": storage.AccessTokenJWT, "ops": ""} {
		if err := db.CreateClient(context.Background(), storage.Client{
			ID: id, Name: id, SecretHash: hash, GrantTypes: []string{GrantClientCredentials}, Scopes: []string{"reports", "audit"},
			AccessTokenFormat: format, MinimumACR: "pwd",
		}); err != nil {
			t.Fatal(err)
		}
	}
	return &jwtSetup{p: p, db: db, writes: w, clock: clock, secret: secret}
}

// as sends form to path as client id.
func (s *jwtSetup) as(id, path string, form url.Values) (int, map[string]any) {
	w := serve(s.p, http.MethodPost, path, formType, form.Encode(), "Authorization", basicAuth(id, s.secret))
	var body map[string]any
	json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

// token asks for a client_credentials token as client id.
func (s *jwtSetup) token(t *testing.T, id string, scopes ...string) map[string]any {
	t.Helper()
	form := url.Values{"grant_type": {GrantClientCredentials}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	code, body := s.as(id, "/oauth/token", form)
	if code != http.StatusOK {
		t.Fatalf("token for %s: status %d, body %v", id, code, body)
	}
	return body
}

func (s *jwtSetup) introspect(id, token string) map[string]any {
	_, body := s.as(id, "/oauth/introspect", url.Values{"token": {token}})
	return body
}

// decodeSegment decodes one base64url part of a compact JWS.
func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%d parts in %q, want a compact JWS", len(parts), token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestJWTAccessToken: a client that takes JWT access tokens gets, from
// client_credentials, an RFC 9068 token signed by the current key, with
// every claim, and nothing is written to the store; introspection
// answers active with the claims. For every signing algorithm.
func TestJWTAccessToken(t *testing.T) {
	for _, alg := range SigningAlgorithms {
		t.Run(string(alg), func(t *testing.T) {
			s := newJWTSetup(t, alg)
			obs := &tokenRequests{}
			s.p.store.cfg.Observer = obs
			before := s.writes.n.Load()
			resp := s.token(t, "svc", "reports", "audit")
			if n := s.writes.n.Load() - before; n != 0 {
				t.Errorf("%d write transactions for a JWT access token, want 0", n)
			}
			tok, _ := resp["access_token"].(string)
			delete(resp, "access_token")
			if diff := cmp.Diff(map[string]any{"token_type": "Bearer", "expires_in": 3600.0, "scope": "reports audit"}, resp); diff != "" {
				t.Errorf("token response (-want +got):\n%s", diff)
			}
			key := s.p.keys.signing()
			if diff := cmp.Diff(map[string]any{"typ": "at+jwt", "alg": string(alg), "kid": key.id}, decodeSegment(t, tok, 0)); diff != "" {
				t.Errorf("JOSE header (-want +got):\n%s", diff)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := jws.Verify(key.key.Public()); err != nil {
				t.Errorf("signature: %v", err)
			}
			claims := decodeSegment(t, tok, 1)
			jti, _ := claims["jti"].(string)
			if len(jti) < 22 {
				t.Errorf("jti = %q, want a random id", jti)
			}
			now := float64(s.clock.Now().Unix())
			want := map[string]any{
				"iss": "http://localhost:8080", "sub": "svc", "aud": []any{"svc"}, "client_id": "svc",
				"iat": now, "exp": now + 3600, "jti": jti, "scope": "reports audit",
			}
			if diff := cmp.Diff(want, claims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			want["active"], want["token_type"] = true, "Bearer"
			if diff := cmp.Diff(want, s.introspect("svc", tok)); diff != "" {
				t.Errorf("introspection (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tokenRequests{"client_credentials true"}, *obs); diff != "" {
				t.Errorf("observed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestJWTAccessTokenScopes: without a scope asked for, the token has no
// scope claim; a scope the client may not have is invalid_scope, as for
// an opaque token.
func TestJWTAccessTokenScopes(t *testing.T) {
	s := newJWTSetup(t, jose.ES256)
	resp := s.token(t, "svc")
	if _, ok := resp["scope"]; ok {
		t.Errorf("token response without scopes: %v, want no scope", resp)
	}
	if claims := decodeSegment(t, resp["access_token"].(string), 1); claims["scope"] != nil {
		t.Errorf("claims without scopes: %v, want no scope", claims)
	}
	for _, id := range []string{"svc", "ops"} {
		code, body := s.as(id, "/oauth/token", url.Values{"grant_type": {GrantClientCredentials}, "scope": {"admin"}})
		if code != http.StatusBadRequest || body["error"] != "invalid_scope" {
			t.Errorf("%s, a scope not its own: status %d %v, want 400 invalid_scope", id, code, body)
		}
	}
	code, body := serveForm(s.p, "/oauth/token", url.Values{"grant_type": {GrantClientCredentials}}, basicAuth("svc", "wrong"))
	if code != http.StatusUnauthorized || body["error"] != "invalid_client" {
		t.Errorf("a wrong secret: status %d %v, want 401 invalid_client", code, body)
	}
}

func serveForm(p *Provider, path string, form url.Values, auth string) (int, map[string]any) {
	w := serve(p, http.MethodPost, path, formType, form.Encode(), "Authorization", auth)
	var body map[string]any
	json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, body
}

// TestJWTAccessTokenLifetime: the client's access token lifetime, else
// the server's, but never longer than a retired key stays in the JWKS.
func TestJWTAccessTokenLifetime(t *testing.T) {
	s := newJWTSetup(t, jose.ES256)
	ctx := context.Background()
	if _, err := s.db.UpdateClient(ctx, "svc", func(c storage.Client) (storage.Client, error) {
		c.AccessTokenLifetime = 5 * time.Minute
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := s.token(t, "svc")["expires_in"]; got != 300.0 {
		t.Errorf("expires_in = %v, want the client's 300", got)
	}
	s.p.store.cfg.SigningKeyRetention = time.Minute
	resp := s.token(t, "svc")
	claims := decodeSegment(t, resp["access_token"].(string), 1)
	if resp["expires_in"] != 60.0 || claims["exp"].(float64)-claims["iat"].(float64) != 60 {
		t.Errorf("expires_in = %v, exp - iat = %v, want the key retention's 60", resp["expires_in"], claims["exp"].(float64)-claims["iat"].(float64))
	}
}

// signWith signs claims as an access token with a key of alg made here,
// under the id kid: a token Gatehouse never issued.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	sk, err := newSigningKey(time.Now(), alg, 1024)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(sk.PrivateDER)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: parsed, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(accessTokenType))
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, signer, claims)
}

func sign(t *testing.T, signer jose.Signer, claims any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestJWTAccessTokenInactive: introspection answers inactive, never an
// error, for a JWT access token that is forged, tampered with, expired,
// another issuer's, or whose client is gone, no longer takes JWTs or
// revoked its tokens since; and to a client it was neither issued to nor
// meant for.
func TestJWTAccessTokenInactive(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// token returns the token to introspect, and the client to ask as.
		token func(t *testing.T, s *jwtSetup, tok string) (string, string)
	}{
		{"another client asks", func(t *testing.T, s *jwtSetup, tok string) (string, string) { return tok, "ops" }},
		{"payload changed", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			parts := strings.Split(tok, ".")
			claims := decodeSegment(t, tok, 1)
			claims["scope"] = "reports admin"
			payload, _ := json.Marshal(claims)
			parts[1] = base64.RawURLEncoding.EncodeToString(payload)
			return strings.Join(parts, "."), "svc"
		}},
		{"signature cut", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			return tok[:strings.LastIndex(tok, ".")+1], "svc"
		}},
		{"another key, its own kid", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			return signWith(t, jose.ES256, "other", decodeSegment(t, tok, 1)), "svc"
		}},
		{"another key, our kid", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			k := s.p.keys.signing()
			return signWith(t, k.alg, k.id, decodeSegment(t, tok, 1)), "svc"
		}},
		{"another algorithm, our kid", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			return signWith(t, jose.EdDSA, s.p.keys.signing().id, decodeSegment(t, tok, 1)), "svc"
		}},
		{"unsigned", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))
			return header + "." + strings.Split(tok, ".")[1] + ".", "svc"
		}},
		{"another issuer", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			claims := decodeSegment(t, tok, 1)
			claims["iss"] = "https://elsewhere.example"
			return sign(t, s.p.keys.signing().accessTokens, claims), "svc"
		}},
		{"expired", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			s.clock.Advance(time.Hour)
			return tok, "svc"
		}},
		{"client deleted, and registered again", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			c, err := s.db.GetClient(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.db.DeleteClient(ctx, "svc"); err != nil {
				t.Fatal(err)
			}
			// No one can ask now: only svc may introspect its tokens.
			if _, err := s.p.checkJWTAccessToken(ctx, tok); !errors.Is(err, errInactive) {
				t.Errorf("with its client deleted: %v, want inactive", err)
			}
			s.clock.Advance(time.Second)
			c.CreatedAt = s.clock.Now()
			if err := s.db.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
			return tok, "svc"
		}},
		{"client switched to opaque", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			s.update(t, func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenOpaque })
			return tok, "svc"
		}},
		{"client revoked its tokens", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			s.update(t, func(c *storage.Client) { *c = c.RevokeTokens(s.clock.Now()) })
			return tok, "svc"
		}},
		{"typ JWT, as an ID token's", func(t *testing.T, s *jwtSetup, tok string) (string, string) {
			k := s.p.keys.signing()
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.key, KeyID: k.id}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				t.Fatal(err)
			}
			return sign(t, signer, decodeSegment(t, tok, 1)), "svc"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newJWTSetup(t, jose.RS256)
			tok := s.token(t, "svc", "reports")["access_token"].(string)
			if in := s.introspect("svc", tok); in["active"] != true {
				t.Fatalf("fresh token: %v, want active", in)
			}
			tok, caller := tc.token(t, s, tok)
			code, body := s.as(caller, "/oauth/introspect", url.Values{"token": {tok}})
			if code != http.StatusOK || !cmp.Equal(body, map[string]any{"active": false}) {
				t.Errorf("status %d %v, want 200 {\"active\": false}", code, body)
			}
		})
	}
}

// update changes the stored client svc.
func (s *jwtSetup) update(t *testing.T, f func(*storage.Client)) {
	t.Helper()
	if _, err := s.db.UpdateClient(context.Background(), "svc", func(c storage.Client) (storage.Client, error) {
		f(&c)
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestJWTAccessTokenRevocation: revoking a JWT access token is answered
// 200, as RFC 7009 allows for a token the server cannot revoke, and
// changes nothing; revoking the client's tokens ends it, and a token
// issued from the next second on is active.
func TestJWTAccessTokenRevocation(t *testing.T) {
	s := newJWTSetup(t, jose.ES256)
	tok := s.token(t, "svc")["access_token"].(string)
	for _, hint := range []string{"", "access_token", "refresh_token"} {
		if code, body := s.as("svc", "/revoke", url.Values{"token": {tok}, "token_type_hint": {hint}}); code != http.StatusOK {
			t.Errorf("revoke, hint %q: status %d %v, want 200", hint, code, body)
		}
	}
	if in := s.introspect("svc", tok); in["active"] != true {
		t.Fatalf("after revocation: %v, want still active", in)
	}
	s.update(t, func(c *storage.Client) { *c = c.RevokeTokens(s.clock.Now()) })
	if in := s.introspect("svc", tok); in["active"] != false {
		t.Errorf("after the client revoked its tokens: %v, want inactive", in)
	}
	s.clock.Advance(time.Second)
	if in := s.introspect("svc", s.token(t, "svc")["access_token"].(string)); in["active"] != true {
		t.Errorf("a token issued after: %v, want active", in)
	}
}

// TestOpaqueClientCredentialsUnchanged: a client that did not choose JWTs
// gets an opaque token (a JWE, never taken for a JWT), stored; it ends,
// as every stored token of the client does, when the client revokes its
// tokens.
func TestOpaqueClientCredentialsUnchanged(t *testing.T) {
	s := newJWTSetup(t, jose.RS256)
	before := s.writes.n.Load()
	resp := s.token(t, "ops", "reports")
	tok := resp["access_token"].(string)
	if n := s.writes.n.Load() - before; n != 1 {
		t.Errorf("%d write transactions for an opaque token, want 1", n)
	}
	if strings.Count(tok, ".") != 4 || isJWTAccessToken(tok) || resp["token_type"] != "Bearer" || resp["scope"] != "reports" {
		t.Errorf("opaque token response: %v", resp)
	}
	if in := s.introspect("ops", tok); in["active"] != true || in["sub"] != "ops" || in["scope"] != "reports" {
		t.Errorf("introspection: %v, want active", in)
	}
	if _, err := s.db.UpdateClient(context.Background(), "ops", func(c storage.Client) (storage.Client, error) {
		return c.RevokeTokens(s.clock.Now()), nil
	}); err != nil {
		t.Fatal(err)
	}
	if in := s.introspect("ops", tok); in["active"] != false {
		t.Errorf("after the client revoked its tokens: %v, want inactive", in)
	}
}

// TestIsJWTAccessToken: only a three-part JWS typed at+jwt is one.
func TestIsJWTAccessToken(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for tok, want := range map[string]bool{
		enc(`{"alg":"RS256","typ":"at+jwt"}`) + ".e30.sig":             true,
		enc(`{"alg":"RS256","typ":"application/at+JWT"}`) + ".e30.sig": true,
		enc(`{"alg":"RS256","typ":"JWT"}`) + ".e30.sig":                false,
		enc(`{"alg":"RS256"}`) + ".e30.sig":                            false,
		enc(`{"alg":"RS256","typ":"at+jwt"}`) + ".e30":                 false,
		enc(`{"alg":"RS256","typ":"at+jwt"}`) + ".a.b.c.d":             false, // a JWE's shape
		"not-base64!.e30.sig":                                          false,
		"":                                                             false,
		storage.NewID():                                                false,
	} {
		if got := isJWTAccessToken(tok); got != want {
			t.Errorf("isJWTAccessToken(%q) = %v, want %v", tok, got, want)
		}
	}
}

// TestJWTAccessTokenElsewhere: the token endpoint's answer with a JWT is
// kept out of caches like any other; /userinfo refuses a JWT access token
// (a client's, with no user) as it refuses an opaque one, without a
// server error.
func TestJWTAccessTokenElsewhere(t *testing.T) {
	s := newJWTSetup(t, jose.ES256)
	w := serve(s.p, http.MethodPost, "/oauth/token", formType, "grant_type=client_credentials", "Authorization", basicAuth("svc", s.secret))
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Pragma") != "no-cache" {
		t.Errorf("token: status %d, Cache-Control %q, Pragma %q; want 200, no-store, no-cache", w.Code, w.Header().Get("Cache-Control"), w.Header().Get("Pragma"))
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(w.Body.Bytes(), &resp)
	opaque := s.token(t, "ops")["access_token"].(string)
	for what, tok := range map[string]string{"JWT": resp.AccessToken, "opaque": opaque} {
		w := serve(s.p, http.MethodGet, "/userinfo", "", "", "Authorization", "Bearer "+tok)
		if w.Code != http.StatusForbidden && w.Code != http.StatusUnauthorized {
			t.Errorf("userinfo with a client's %s access token: status %d %s, want it refused", what, w.Code, w.Body)
		}
	}
}

// TestClientRevocationEndsUserTokens: when a client revokes its tokens,
// its users' access and refresh tokens end too; they sign in again.
func TestClientRevocationEndsUserTokens(t *testing.T) {
	p, db, secret := newTestProvider(t)
	at, rt := issue(t, p, db, secret)
	if _, err := db.UpdateClient(context.Background(), "app", func(c storage.Client) (storage.Client, error) {
		return c.RevokeTokens(time.Now()), nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, body := serveForm(p, "/oauth/introspect", url.Values{"token": {at}}, basicAuth("app", secret)); code != http.StatusOK || body["active"] != false {
		t.Errorf("introspection after the client revoked its tokens: status %d %v, want inactive", code, body)
	}
	code, body := serveForm(p, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, basicAuth("app", secret))
	if code != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("refresh after the client revoked its tokens: status %d %v, want invalid_grant", code, body)
	}
}
