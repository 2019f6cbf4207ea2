package provider

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Grant type names stored on clients.
const (
	GrantAuthorizationCode = string(oidc.GrantTypeCode)
	GrantRefreshToken      = string(oidc.GrantTypeRefreshToken)
	GrantClientCredentials = string(oidc.GrantTypeClientCredentials)
)

// HashSecret returns the stored form of a client secret. Secrets are 256-bit
// random strings, so SHA-256 is as strong as a slow hash here and keeps
// client authentication off the argon2 budget.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// NewSecret returns a fresh client secret and its stored hash.
func NewSecret() (secret string, hash []byte) {
	secret = storage.RandomString(32)
	return secret, HashSecret(secret)
}

func secretMatches(c storage.Client, secret string) bool {
	if c.Public() || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare(HashSecret(secret), c.SecretHash) == 1
}

// client adapts storage.Client to op.Client.
type client struct {
	storage.Client
	loginURL  func(string) string
	defaults  Lifetimes
	maxSigned time.Duration // the signing key retention
}

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.ID }
func (c *client) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }

// ApplicationType is web for every client: redirect URIs then match exactly,
// with none of the loopback-port leniency op gives native clients.
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

func (c *client) AuthMethod() oidc.AuthMethod {
	if c.Public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c *client) GrantTypes() []oidc.GrantType {
	gt := make([]oidc.GrantType, len(c.Client.GrantTypes))
	for i, g := range c.Client.GrantTypes {
		gt[i] = oidc.GrantType(g)
	}
	return gt
}

func (c *client) hasGrant(g string) bool { return slices.Contains(c.Client.GrantTypes, g) }

func (c *client) LoginURL(id string) string { return c.loginURL(id) }

// AccessTokenType is opaque for every token op issues: op's JWT access
// tokens carry typ "JWT", not RFC 9068's "at+jwt", so an RP could take
// one for an ID token. A client that chose JWT access tokens gets them
// from the client_credentials grant, which Gatehouse answers itself (see
// Provider.clientCredentials); a user's sign-in stays opaque, so that its
// tokens end with the session.
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }

// IDTokenLifetime never outlasts the signing key's retention, so every
// live ID token can be verified against the JWKS.
func (c *client) IDTokenLifetime() time.Duration {
	return min(orDefault(c.Client.IDTokenLifetime, c.defaults.IDToken), c.maxSigned)
}

func (c *client) accessTokenLifetime() time.Duration {
	return orDefault(c.Client.AccessTokenLifetime, c.defaults.AccessToken)
}

// jwtAccessTokenLifetime never outlasts the signing key's retention
// either: a JWT access token is checked against the JWKS for as long as
// it lives.
func (c *client) jwtAccessTokenLifetime() time.Duration {
	return min(c.accessTokenLifetime(), c.maxSigned)
}

func (c *client) refreshTokenLifetime() time.Duration {
	return orDefault(c.Client.RefreshTokenLifetime, c.defaults.RefreshToken)
}

func (c *client) DevMode() bool { return false }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed allows no scopes beyond the standard OIDC ones.
func (c *client) IsScopeAllowed(string) bool { return false }

// IDTokenUserinfoClaimsAssertion puts the profile and email claims in the
// ID token too, which is what most relying parties read.
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c *client) ClockSkew() time.Duration { return 0 }

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
