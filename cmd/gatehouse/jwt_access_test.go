package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// jwks is the key set served at the discovery document's jwks_uri.
func (r *relyingParty) jwks(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := r.provider.Claims(&doc); err != nil || doc.JWKSURI == "" {
		t.Fatalf("discovery's jwks_uri: %q, %v", doc.JWKSURI, err)
	}
	resp, err := r.e.srv.Client().Get(doc.JWKSURI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("GET %s: %v", doc.JWKSURI, err)
	}
	return set
}

// verifyJWT checks that token is a JWS signed with alg by a key in the
// JWKS, as a resource server checking it offline would, and returns its
// header and claims.
func (r *relyingParty) verifyJWT(t *testing.T, token string, alg jose.SignatureAlgorithm) (jose.Header, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{alg})
	if err != nil {
		t.Fatalf("not a JWS signed with %s: %v", alg, err)
	}
	h := jws.Signatures[0].Protected
	set := r.jwks(t)
	keys := set.Key(h.KeyID)
	if len(keys) != 1 || keys[0].Algorithm != string(alg) {
		t.Fatalf("kid %q: %d keys of the JWKS (%+v), want one of %s", h.KeyID, len(keys), keys, alg)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return h, claims
}

// setClient changes the stored client id.
func (e *env) setClient(id string, f func(*storage.Client)) {
	e.t.Helper()
	if _, err := e.store.UpdateClient(context.Background(), id, func(c storage.Client) (storage.Client, error) {
		f(&c)
		return c, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// writes is how many write transactions the store has run, from the
// metrics listener.
func (e *env) writes(t *testing.T) float64 {
	t.Helper()
	return scrape(t, e.metricsURL).get("gatehouse_storage_transaction_duration_seconds_count", "kind", "write")
}

// resign is token with its payload replaced by claims, signed as
// Gatehouse would with key of alg under kid.
func resign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := jws.CompactSerialize()
	return tok
}

// TestJWTAccessTokens: a client set to JWT access tokens gets, from
// client_credentials, an RFC 9068 token that a resource server verifies
// against the JWKS, with every claim, and that costs no storage write;
// introspection answers active with the claims until it is tampered
// with, forged, or expires; RFC 7009 revocation is answered and changes
// nothing. An opaque client is unchanged: its token is stored. With
// RS256 and ES256 keys.
func TestJWTAccessTokens(t *testing.T) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			e := newSeededEnv(t, nil, func(c *Config) { c.Keys.SigningAlgorithm, c.Metrics.Listen = string(alg), "127.0.0.1:0" })
			svc := e.addRP("svc", false, provider.GrantClientCredentials)
			e.setClient("svc", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenJWT })
			ops := e.addRP("ops", false, provider.GrantClientCredentials)
			cc := svc.clientCredentials()
			cc.Scopes = []string{"reports"}

			before := e.writes(t)
			tok, err := cc.Token(svc.ctx())
			if err != nil {
				t.Fatal(err)
			}
			if n := e.writes(t) - before; n != 0 {
				t.Errorf("%v storage writes for a JWT access token, want none", n)
			}
			if tok.TokenType != "Bearer" || tok.Extra("scope") != "reports" || tok.Extra("expires_in") != 3600.0 {
				t.Errorf("token response: type %q, scope %v, expires_in %v; want Bearer, reports, 3600", tok.TokenType, tok.Extra("scope"), tok.Extra("expires_in"))
			}
			h, claims := svc.verifyJWT(t, tok.AccessToken, alg)
			if typ := h.ExtraHeaders[jose.HeaderType]; typ != "at+jwt" || h.Algorithm != string(alg) {
				t.Errorf("header typ %v, alg %s; want at+jwt, %s", typ, h.Algorithm, alg)
			}
			jti, _ := claims["jti"].(string)
			iat := float64(e.clock.Now().Unix())
			want := map[string]any{
				"iss": e.issuer, "sub": "svc", "aud": []any{"svc"}, "client_id": "svc",
				"iat": iat, "exp": iat + 3600, "jti": jti, "scope": "reports",
			}
			if diff := cmp.Diff(want, claims); diff != "" || jti == "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if _, err := e.store.GetAccessToken(context.Background(), jti); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("an access token stored under the jti: %v", err)
			}
			want["active"], want["token_type"] = true, "Bearer"
			if diff := cmp.Diff(want, svc.introspect(tok.AccessToken)); diff != "" {
				t.Errorf("introspection (-want +got):\n%s", diff)
			}

			// RFC 7009: answered, and nothing changes.
			svc.revoke(tok.AccessToken)
			if in := svc.introspect(tok.AccessToken); in["active"] != true {
				t.Errorf("after RFC 7009 revocation: %v, want still active (it cannot be revoked alone)", in)
			}

			parts := strings.Split(tok.AccessToken, ".")
			tampered := map[string]any{}
			for k, v := range claims {
				tampered[k] = v
			}
			tampered["scope"] = "reports admin"
			payload, _ := json.Marshal(tampered)
			otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			for what, forged := range map[string]string{
				"payload changed":        parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2],
				"another key, our kid":   resign(t, otherKey, jose.ES256, h.KeyID, claims),
				"another key, its kid":   resign(t, otherKey, jose.ES256, "other", claims),
				"another client's token": resign(t, otherKey, jose.ES256, h.KeyID, map[string]any{"client_id": "ops", "aud": "ops"}),
			} {
				if in := svc.introspect(forged); in["active"] != false || len(in) != 1 {
					t.Errorf("%s: %v, want only active false", what, in)
				}
			}
			if in := ops.introspect(tok.AccessToken); in["active"] != false {
				t.Errorf("introspected by another client: %v, want inactive", in)
			}

			// An opaque client is unchanged: its token is stored.
			before = e.writes(t)
			opaque, err := ops.clientCredentials().Token(ops.ctx())
			if err != nil {
				t.Fatal(err)
			}
			if n := e.writes(t) - before; n != 1 || strings.Count(opaque.AccessToken, ".") != 4 {
				t.Errorf("opaque token %q: %v writes, want a JWE and one write", opaque.AccessToken, n)
			}
			if in := ops.introspect(opaque.AccessToken); in["active"] != true || in["sub"] != "ops" || in["jti"] == nil {
				t.Errorf("opaque token's introspection: %v", in)
			}

			// Expired: inactive, at its exp to the second.
			e.clock.Advance(time.Hour - time.Second)
			if in := svc.introspect(tok.AccessToken); in["active"] != true {
				t.Errorf("a second before its exp: %v, want active", in)
			}
			e.clock.Advance(time.Second)
			if in := svc.introspect(tok.AccessToken); in["active"] != false {
				t.Errorf("at its exp: %v, want inactive", in)
			}
		})
	}
}

// TestJWTAccessTokenRevokedWithClient: a client's JWT access tokens end
// when its tokens are revoked (a token issued from the next second on
// works), when it is switched back to opaque, and when it is deleted and
// its id registered again.
func TestJWTAccessTokenRevokedWithClient(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	svc := e.addRP("svc", false, provider.GrantClientCredentials)
	e.setClient("svc", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenJWT })
	cc := svc.clientCredentials()
	token := func() string {
		t.Helper()
		tok, err := cc.Token(svc.ctx())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(tok.AccessToken, ".") != 2 {
			t.Fatalf("not a JWT: %q", tok.AccessToken)
		}
		return tok.AccessToken
	}
	active := func(tok string) bool { return svc.introspect(tok)["active"] == true }

	old := token()
	e.setClient("svc", func(c *storage.Client) { *c = c.RevokeTokens(e.clock.Now()) })
	if active(old) {
		t.Error("a token issued before the client's tokens were revoked is active")
	}
	e.clock.Advance(time.Second)
	fresh := token()
	if !active(fresh) {
		t.Error("a token issued after the client's tokens were revoked is inactive")
	}

	e.setClient("svc", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenOpaque })
	if active(fresh) {
		t.Error("a JWT access token is active after its client went back to opaque")
	}
	e.setClient("svc", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenJWT })
	if !active(fresh) {
		t.Error("back to JWT, a token neither expired nor revoked is inactive")
	}

	c, err := e.store.GetClient(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteClient(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	// Deleted, the client cannot ask; registered again under its id, it
	// is another client, and the old client's tokens are not its own.
	e.clock.Advance(time.Second)
	c.CreatedAt, c.TokensNotBefore = e.clock.Now(), time.Time{}
	if err := e.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if active(fresh) {
		t.Error("a deleted client's JWT access token is active for the client registered again under its id")
	}
	if !active(token()) {
		t.Error("the client registered again gets inactive tokens")
	}
}
