package provider

import (
	"log/slog"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// authRequest adapts storage.AuthRequest to op.AuthRequest.
type authRequest struct {
	storage.AuthRequest
	codeHash string // set when op loaded it by code, for redemption
	// user is set with codeHash: the active user the code is for, read
	// once for the whole exchange.
	user storage.User
	// finished: the journey has reached its last step and asks for the
	// code (see Provider.Finish).
	finished bool
}

var (
	_ op.AuthRequest    = (*authRequest)(nil)
	_ op.LogAuthRequest = (*authRequest)(nil)
)

func (a *authRequest) GetID() string         { return a.ID }
func (a *authRequest) GetACR() string        { return a.ACR }
func (a *authRequest) GetAMR() []string      { return a.AMR }
func (a *authRequest) GetAudience() []string { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time {
	return a.AuthTime
}
func (a *authRequest) GetClientID() string { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethod(a.CodeChallengeMethod)}
}
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseType(a.ResponseType) }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.ResponseMode) }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.UserID }

// Done is what op checks before it issues a code: only the journey, once
// its final step is reached, finishes a request (the step itself is the
// journey's own, opaque here); issuing the code marks it CodeIssued.
func (a *authRequest) Done() bool { return (a.finished || a.CodeIssued) && a.UserID != "" }

func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", a.ID),
		slog.String("client_id", a.ClientID),
		slog.String("step", a.Step),
	)
}

// refreshRequest is a validated refresh-token exchange. scopes may be
// narrower than the refresh token's for this one exchange: op checks the
// requested scopes against GetScopes and then sets them with
// SetCurrentScopes, and the new access token gets GetScopes.
type refreshRequest struct {
	storage.RefreshToken
	scopes []string
	user   storage.User // the active user, read once for the whole exchange
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string                 { return r.AMR }
func (r *refreshRequest) GetAudience() []string            { return r.Audience }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.AuthTime }
func (r *refreshRequest) GetClientID() string              { return r.ClientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) GetSubject() string               { return r.UserID }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// clientCredentialsRequest is a client_credentials grant: the client acts
// for itself.
type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

var _ op.TokenRequest = (*clientCredentialsRequest)(nil)

func (c *clientCredentialsRequest) GetSubject() string    { return c.clientID }
func (c *clientCredentialsRequest) GetAudience() []string { return []string{c.clientID} }
func (c *clientCredentialsRequest) GetScopes() []string   { return c.scopes }
