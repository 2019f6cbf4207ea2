package provider

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// newTestProvider is a Provider over a fresh database, with one
// confidential client "app" whose secret is returned.
func newTestProvider(t testing.TB) (*Provider, *bbolt.DB, string) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "provider.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, secret := newTestProviderOver(t, db)
	return p, db, secret
}

// newTestProviderOver is newTestProvider over store, which wraps db; each
// configure func may change the configuration first.
func newTestProviderOver(t testing.TB, db storage.Storage, configure ...func(*Config)) (*Provider, string) {
	t.Helper()
	ctx := context.Background()
	cfg := Config{
		Issuer: "http://localhost:8080",
		Lifetimes: Lifetimes{AccessToken: time.Hour, IDToken: time.Hour, RefreshToken: 24 * time.Hour,
			Code: time.Minute, AuthRequest: time.Hour},
		SigningKeyRotation:  30 * 24 * time.Hour,
		SigningKeyRetention: 48 * time.Hour,
		SigningKeyBits:      1024,
		LoginURL:            func(id string) string { return "/login?id=" + id },
		Logger:              slog.New(slog.DiscardHandler),
	}
	for _, f := range configure {
		f(&cfg)
	}
	p, err := New(ctx, cfg, db)
	if err != nil {
		t.Fatal(err)
	}
	p.SetJourney(openJourney{})
	secret, hash := NewSecret()
	if err := db.CreateClient(ctx, storage.Client{
		ID: "app", Name: "App", SecretHash: hash, RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, MinimumACR: "pwd",
	}); err != nil {
		t.Fatal(err)
	}
	return p, secret
}

// openJourney admits every auth request and lets every refresh go on as
// it is: the provider's own tests do not test the journey.
type openJourney struct{}

func (openJourney) AdmitAuthRequest(context.Context, string) ([]byte, error) { return nil, nil }

func (openJourney) Reevaluate(_ context.Context, _ storage.User, rt storage.RefreshToken, _ storage.Client) (storage.Waiver, string, error) {
	return rt.Waiver, "", nil
}

// TestRevokeRefreshTokenWithAnyHint revokes a refresh token whatever
// token_type_hint says: RFC 7009 section 2.1 has the server search every
// token type when the hint is wrong. op passes a token it cannot place on
// to RevokeToken as it came.
func TestRevokeRefreshTokenWithAnyHint(t *testing.T) {
	for _, hint := range []string{"", "refresh_token", "access_token"} {
		t.Run("hint="+hint, func(t *testing.T) {
			ctx := context.Background()
			p, db, secret := newTestProvider(t)
			value := cfbLookalike(t, db)
			now := time.Now()
			rt := storage.RefreshToken{Hash: tokenHash(value), FamilyID: "family", ClientID: "app", UserID: "user",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			at := storage.AccessToken{ID: storage.NewID(), ClientID: "app", Subject: "user", FamilyID: "family",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := db.CreateRefreshToken(ctx, rt, at); err != nil {
				t.Fatal(err)
			}

			form := url.Values{"token": {value}}
			if hint != "" {
				form.Set("token_type_hint", hint)
			}
			if w := post(p, "/revoke", secret, form); w.Code != http.StatusOK {
				t.Fatalf("revoke: status %d, body %s", w.Code, w.Body)
			}
			if _, err := db.GetRefreshToken(ctx, rt.Hash); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("refresh token after revocation: got err %v, want ErrNotFound", err)
			}
			if _, err := db.GetAccessToken(ctx, at.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("family's access token after revocation: got err %v, want ErrNotFound", err)
			}
		})
	}
}

// cfbLookalike returns a random refresh token value that AES-CFB under the
// provider's token key "decrypts" to "id:subject", the shape of an access
// token: about one random value in thirty does. op's default crypto tried
// that unauthenticated decrypter, and revoked the garbage id instead of the
// token (the flake this pins).
func cfbLookalike(t *testing.T, db storage.Secrets) string {
	t.Helper()
	key, err := storage.EnsureSecret(context.Background(), db, "token-encryption", 32, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfb := op.NewAESDecrypter([32]byte(key))
	for range 10000 {
		value := storage.RandomString(32)
		if plain, err := cfb.Decrypt(value); err == nil && strings.Count(plain, ":") == 1 {
			return value
		}
	}
	t.Fatal("no value found that AES-CFB opens as id:subject")
	return ""
}

// userReads counts GetUser calls.
type userReads struct {
	storage.Storage
	n atomic.Int32
}

func (s *userReads) GetUser(ctx context.Context, id string) (storage.User, error) {
	s.n.Add(1)
	return s.Storage.GetUser(ctx, id)
}

// TestRefreshReadsUserOnce exchanges a refresh token for new tokens,
// ID token included, reading the user once.
func TestRefreshReadsUserOnce(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "provider.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := &userReads{Storage: db}
	p, secret := newTestProviderOver(t, store)
	value := seedRefreshToken(t, db)
	store.n.Store(0)
	if w := post(p, "/oauth/token", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {value}}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"id_token"`) {
		t.Fatalf("refresh: status %d, body %s", w.Code, w.Body)
	}
	if got := store.n.Load(); got != 1 {
		t.Errorf("GetUser calls = %d, want 1", got)
	}
}

// seedRefreshToken stores a user and a refresh token for "app" with the
// scopes openid, profile and offline_access, and returns the token.
func seedRefreshToken(t testing.TB, db storage.Storage) string {
	t.Helper()
	ctx := context.Background()
	u := storage.User{ID: storage.NewID(), Username: "ada", Email: "ada@example.org", DisplayName: "Ada"}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	value := storage.RandomString(32)
	now := time.Now()
	rt := storage.RefreshToken{Hash: tokenHash(value), FamilyID: "family", ClientID: "app", UserID: u.ID,
		Scopes: []string{"openid", "profile", "offline_access"}, AuthTime: now, AMR: []string{"pwd"}, ACR: "pwd",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	at := storage.AccessToken{ID: storage.NewID(), ClientID: "app", Subject: u.ID, FamilyID: "family",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateRefreshToken(ctx, rt, at); err != nil {
		t.Fatal(err)
	}
	return value
}

// post sends form to p's path as client "app".
func post(p *Provider, path, secret string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://localhost:8080"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", secret)
	w := httptest.NewRecorder()
	p.Handler().ServeHTTP(w, req)
	return w
}

// TestRefreshNarrowsScope asks a refresh for fewer scopes than were
// granted: the new access token has only those (RFC 6749 section 6), and
// the new refresh token keeps every scope granted.
func TestRefreshNarrowsScope(t *testing.T) {
	p, db, secret := newTestProvider(t)
	value := seedRefreshToken(t, db)
	w := post(p, "/oauth/token", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {value}, "scope": {"openid"}})
	if w.Code != http.StatusOK {
		t.Fatalf("refresh: status %d, body %s", w.Code, w.Body)
	}
	var tokens struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Scope        string `json:"scope"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tokens); err != nil {
		t.Fatal(err)
	}
	w = post(p, "/oauth/introspect", secret, url.Values{"token": {tokens.AccessToken}})
	var in struct {
		Active bool   `json:"active"`
		Scope  string `json:"scope"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &in); err != nil || !in.Active {
		t.Fatalf("introspect: status %d, body %s", w.Code, w.Body)
	}
	if in.Scope != "openid" {
		t.Errorf("access token scope = %q, want %q", in.Scope, "openid")
	}
	rt, err := db.GetRefreshToken(context.Background(), tokenHash(tokens.RefreshToken))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"openid", "profile", "offline_access"}; !slices.Equal(rt.Scopes, want) {
		t.Errorf("new refresh token scopes = %v, want %v", rt.Scopes, want)
	}
}
