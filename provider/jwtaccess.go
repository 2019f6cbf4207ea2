package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// JWT access tokens (RFC 9068), for the client_credentials grant of a
// client that chose them (storage.Client.AccessTokenFormat). One is never
// stored: issuing it writes nothing, so the grant is not bound by the
// store's commit rate, and an API can check it offline against the JWKS.
// The price is that it cannot be revoked alone: it lives until it
// expires, or until its client revokes every token it was issued
// (storage.Client.TokensNotBefore), stops taking JWTs, or is deleted,
// which introspection sees at once and an API checking offline does not.

// accessTokenType is the typ header of an RFC 9068 access token (section
// 2.1). ID tokens say JWT, so neither passes for the other.
const accessTokenType = "at+jwt"

// accessTokenClaims are what a JWT access token says (RFC 9068 section
// 2.2). With no resource owner the client is the subject.
type accessTokenClaims struct {
	Issuer   string                   `json:"iss"`
	Subject  string                   `json:"sub"`
	Audience oidc.Audience            `json:"aud"`
	ClientID string                   `json:"client_id"`
	IssuedAt oidc.Time                `json:"iat"`
	Expiry   oidc.Time                `json:"exp"`
	JWTID    string                   `json:"jti"`
	Scope    oidc.SpaceDelimitedArray `json:"scope,omitempty"`
}

// newAccessTokenSigner signs with k, typing what it signs at+jwt.
func newAccessTokenSigner(k *signingKey) (jose.Signer, error) {
	return jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.key, KeyID: k.id}},
		(&jose.SignerOptions{}).WithType(accessTokenType))
}

// clientCredentials runs the client_credentials grant through op's own
// steps (the request, the client's authentication and grant, the scopes
// our storage allows it), then answers as op would with an opaque token,
// or with a JWT when the client chose one.
func (p *Provider) clientCredentials(w http.ResponseWriter, r *http.Request) {
	r = r.WithContext(op.ContextWithIssuer(r.Context(), p.op.IssuerFromRequest(r)))
	req, err := op.ParseClientCredentialsRequest(r, p.op.Decoder())
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	tr, c, err := op.ValidateClientCredentialsRequest(r.Context(), req, p.op)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	var resp *oidc.AccessTokenResponse
	if gc, ok := c.(*client); ok && gc.JWTAccessTokens() {
		resp, err = p.jwtAccessToken(gc, tr)
	} else {
		resp, err = op.CreateClientCredentialsTokenResponse(r.Context(), tr, p.op, c)
	}
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	httphelper.MarshalJSON(w, resp)
}

var _ op.Exchanger = (*op.Provider)(nil)

// jwtAccessToken signs an access token for req with the current signing
// key, and stores nothing.
func (p *Provider) jwtAccessToken(c *client, req op.TokenRequest) (*oidc.AccessTokenResponse, error) {
	now := p.store.cfg.Now()
	lifetime := c.jwtAccessTokenLifetime()
	payload, err := json.Marshal(accessTokenClaims{
		Issuer:   p.store.cfg.Issuer,
		Subject:  c.ID,
		Audience: req.GetAudience(), // the client itself, as for an opaque token
		ClientID: c.ID,
		IssuedAt: oidc.FromTime(now),
		Expiry:   oidc.FromTime(now.Add(lifetime)),
		JWTID:    storage.NewID(),
		Scope:    req.GetScopes(),
	})
	if err != nil {
		return nil, serverError(fmt.Errorf("encode access token: %w", err))
	}
	jws, err := p.keys.signing().accessTokens.Sign(payload)
	if err != nil {
		return nil, serverError(fmt.Errorf("sign access token: %w", err))
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return nil, serverError(fmt.Errorf("serialize access token: %w", err))
	}
	return &oidc.AccessTokenResponse{
		AccessToken: token,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   uint64(lifetime.Seconds()),
		Scope:       req.GetScopes(),
	}, nil
}

// isJWTAccessToken reports whether token is a compact JWS whose header
// says typ at+jwt: Gatehouse's to check, whatever else is wrong with it.
// An opaque token is a JWE (five parts, never three), so the two are never
// taken for each other; an ID token says typ JWT.
func isJWTAccessToken(token string) bool {
	if strings.Count(token, ".") != 2 {
		return false
	}
	encoded, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(encoded)
	if err != nil {
		return false
	}
	var header struct {
		Type string `json:"typ"`
	}
	if json.Unmarshal(raw, &header) != nil {
		return false
	}
	// RFC 7515 section 4.1.9: the application/ prefix may be left out.
	typ := strings.TrimPrefix(strings.ToLower(header.Type), "application/")
	return typ == accessTokenType
}

// introspectJWT answers RFC 7662 for a JWT access token: active with its
// claims while checkJWTAccessToken accepts it, and, as for an opaque
// token (see SetIntrospectionFromToken), only to the client it was issued
// to or one it names as audience; else inactive, never an error.
func (p *Provider) introspectJWT(ctx context.Context, token, caller string) *oidc.IntrospectionResponse {
	claims, err := p.checkJWTAccessToken(ctx, token)
	if err != nil {
		if !errors.Is(err, errInactive) {
			p.store.cfg.Logger.WarnContext(ctx, "introspect JWT access token", "err", err)
		}
		return &oidc.IntrospectionResponse{}
	}
	if claims.ClientID != caller && !slices.Contains(claims.Audience, caller) {
		return &oidc.IntrospectionResponse{}
	}
	return &oidc.IntrospectionResponse{
		Active:     true,
		Scope:      claims.Scope,
		ClientID:   claims.ClientID,
		TokenType:  oidc.BearerToken,
		Expiration: claims.Expiry,
		IssuedAt:   claims.IssuedAt,
		Subject:    claims.Subject,
		Audience:   claims.Audience,
		Issuer:     claims.Issuer,
		JWTID:      claims.JWTID,
	}
}

// errInactive wraps every reason a JWT access token is not active; any
// other error is the server's (a storage failure), and logged.
var errInactive = errors.New("inactive")

func inactive(why string) error { return fmt.Errorf("%w: %s", errInactive, why) }

// checkJWTAccessToken accepts a JWT access token signed by a published
// key (the current signing key or a retired one still in the JWKS), from
// this issuer and unexpired, whose client is still registered, still
// takes JWTs, and has not revoked its tokens since it was issued.
func (p *Provider) checkJWTAccessToken(ctx context.Context, token string) (accessTokenClaims, error) {
	var claims accessTokenClaims
	jws, err := jose.ParseSignedCompact(token, SigningAlgorithms)
	if err != nil {
		return claims, inactive("not a JWS signed with an algorithm Gatehouse uses")
	}
	h := jws.Signatures[0].Protected
	key, ok := p.keys.publicKey(h.KeyID, jose.SignatureAlgorithm(h.Algorithm))
	if !ok {
		return claims, inactive("signed with no published key")
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return claims, inactive("bad signature")
	}
	if json.Unmarshal(payload, &claims) != nil {
		return claims, inactive("malformed claims")
	}
	switch {
	case claims.Issuer != p.store.cfg.Issuer:
		return claims, inactive("another issuer's")
	case !p.store.cfg.Now().Before(claims.Expiry.AsTime()):
		return claims, inactive("expired")
	}
	c, err := p.store.store.GetClient(ctx, claims.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return claims, inactive("its client is gone")
	case err != nil:
		return claims, fmt.Errorf("get client: %w", err)
	case !c.JWTAccessTokens():
		return claims, inactive("its client no longer takes JWT access tokens")
	case c.TokenRevoked(claims.IssuedAt.AsTime()):
		return claims, inactive("its client revoked its tokens, or was registered again")
	}
	return claims, nil
}
