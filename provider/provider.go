// Package provider adapts zitadel/oidc's op package to Gatehouse's storage:
// op.Storage, op.AuthRequest and op.Client implementations, signing keys and
// rotation, and the claims that go into tokens (acr, amr, auth_time). It
// renders no HTML: the login journey lives in package login.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Lifetimes are the default token lifetimes; a client may override the
// access, ID and refresh token ones.
type Lifetimes struct {
	AccessToken  time.Duration
	IDToken      time.Duration
	RefreshToken time.Duration
	Code         time.Duration
	AuthRequest  time.Duration
}

// Config configures a Provider.
type Config struct {
	Issuer    string
	Lifetimes Lifetimes
	// SigningKeyRotation is how long one key signs before the next takes
	// over; the retired key stays in the JWKS for SigningKeyRetention, which
	// must outlast every token it signed.
	SigningKeyRotation  time.Duration
	SigningKeyRetention time.Duration
	SigningKeyBits      int
	// LoginURL returns the login page for an auth request.
	LoginURL func(authRequestID string) string
	// BrowserHash returns the browser binding that /authorize stored in the
	// request context (see package login), or nil.
	BrowserHash func(context.Context) []byte
	Now         func() time.Time
	Logger      *slog.Logger
}

// Provider is the OpenID provider.
type Provider struct {
	op    *op.Provider
	store *opStorage
	keys  *keyring
}

// New builds the provider, creating the first signing key and the token
// encryption key if the store has none.
func New(ctx context.Context, cfg Config, store storage.Storage) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SigningKeyBits == 0 {
		cfg.SigningKeyBits = 2048
	}
	kr := &keyring{
		store:  store,
		rotate: cfg.SigningKeyRotation,
		retain: cfg.SigningKeyRetention,
		bits:   cfg.SigningKeyBits,
		logger: cfg.Logger,
	}
	if err := kr.Rotate(ctx, cfg.Now()); err != nil {
		return nil, err
	}
	cryptoKey, err := tokenEncryptionKey(ctx, store, cfg.Now())
	if err != nil {
		return nil, err
	}
	s := &opStorage{store: store, cfg: cfg, keys: kr}
	opts := []op.Option{op.WithLogger(cfg.Logger)}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("parse issuer: %w", err)
	}
	if issuer.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(&op.Config{
		CryptoKey:                cryptoKey,
		DefaultLogoutRedirectURI: cfg.Issuer + "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedClaims:          supportedClaims,
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeOfflineAccess},
	}, s, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("create OpenID provider: %w", err)
	}
	return &Provider{op: o, store: s, keys: kr}, nil
}

var supportedClaims = []string{
	"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "at_hash", "c_hash", "azp",
	"name", "preferred_username", "email", "email_verified", "phone_number", "phone_number_verified",
}

// ACRValues are the authentication context classes Gatehouse issues, weakest first.
var ACRValues = []string{"pwd", "mfa", "phr"}

// tokenEncryptionKey returns the AES-256 key op uses to seal opaque access
// tokens, generating it on first start.
func tokenEncryptionKey(ctx context.Context, store storage.Secrets, now time.Time) ([32]byte, error) {
	var key [32]byte
	secrets, err := store.UpdateSecrets(ctx, "token-encryption", func(s []storage.Secret) ([]storage.Secret, error) {
		if len(s) > 0 {
			return s, nil
		}
		v := make([]byte, 32)
		randRead(v)
		return []storage.Secret{{Value: v, CreatedAt: now}}, nil
	})
	if err != nil {
		return key, fmt.Errorf("load token encryption key: %w", err)
	}
	copy(key[:], secrets[0].Value)
	return key, nil
}

// Handler serves the OAuth and OIDC endpoints (discovery, JWKS, authorize,
// token, userinfo, introspection, revocation, end_session).
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", p.op)
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	// Not offered: the device flow has no storage behind it.
	mux.HandleFunc("/device_authorization", http.NotFound)
	return mux
}

// discovery serves op's document, trimmed to what Gatehouse really supports
// and with the acr values it issues.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	cfg := op.CreateDiscoveryConfig(op.ContextWithIssuer(r.Context(), p.op.IssuerFromRequest(r)), p.op, p.store)
	cfg.DeviceAuthorizationEndpoint = ""
	cfg.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	cfg.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	cfg.ResponseModesSupported = []string{"query", "form_post"}
	doc := struct {
		*oidc.DiscoveryConfiguration
		ACRValuesSupported []string `json:"acr_values_supported"`
	}{cfg, ACRValues}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.NewEncoder(w).Encode(doc)
}

// OP returns the underlying op provider, for op helpers that need an
// Authorizer (op.AuthResponse, op.AuthRequestError, op.ValidateEndSessionRequest).
func (p *Provider) OP() *op.Provider { return p.op }

// RotateKeys rotates the signing keys if the active one is due.
func (p *Provider) RotateKeys(ctx context.Context) error {
	return p.keys.Rotate(ctx, p.store.cfg.Now())
}

// Finish answers a finished auth request: it redirects (or form-posts) the
// code to the client. The caller has checked the journey is done.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request, a storage.AuthRequest) {
	op.AuthResponse(&authRequest{a}, p.op, w, r)
}

// Fail answers an auth request with an OAuth error at its redirect URI.
func (p *Provider) Fail(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, err *oidc.Error) {
	op.AuthRequestError(w, r, &authRequest{a}, err, p.op)
}

// Client returns a client as op sees it, for logout validation.
func (p *Provider) Client(ctx context.Context, id string) (op.Client, error) {
	return p.store.GetClientByClientID(ctx, id)
}

// errInvalidClient is what op reports for an unknown client or wrong secret.
var errInvalidClient = errors.New("invalid client")
