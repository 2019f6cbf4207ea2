package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// opStorage implements op.Storage over storage.Storage.
type opStorage struct {
	store   Store
	cfg     Config
	keys    *keyring
	journey Journey // nil until SetJourney
}

var (
	_ op.Storage                   = (*opStorage)(nil)
	_ op.ClientCredentialsStorage  = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
)

// tokenHash is how codes and refresh tokens are stored: a leaked database
// holds no usable token.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// serverError marks a storage failure so op answers server_error rather than
// blaming the client.
func serverError(err error) error {
	return oidc.ErrServerError().WithParent(err)
}

// activeUser loads a user who may still hold tokens: one disabled or deleted
// since signing in may not.
func (s *opStorage) activeUser(ctx context.Context, id string) (storage.User, error) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil || u.Disabled {
		return u, errors.New("user is gone or disabled")
	}
	return u, nil
}

func (s *opStorage) audit(ctx context.Context, e storage.AuditEvent) {
	e.Time = s.cfg.Now()
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.cfg.Logger.ErrorContext(ctx, "append audit event", "action", e.Action, "err", err)
	}
}

// CreateAuthRequest stores a validated authorization request. op has checked
// the client and redirect URI; PKCE policy is Gatehouse's: S256 only, and
// mandatory for public clients. Only a request that passes every check is
// charged to the journey's budget (Journey.AdmitAuthRequest).
func (s *opStorage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, hintUserID string) (op.AuthRequest, error) {
	c, err := s.getClient(ctx, r.ClientID)
	if err != nil {
		return nil, err
	}
	if !c.hasGrant(GrantAuthorizationCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("This client may not use the authorization code flow.")
	}
	switch {
	case r.CodeChallenge == "" && c.Public():
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256.")
	case r.CodeChallenge != "" && r.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256.")
	}
	if r.ResponseMode != "" && r.ResponseMode != oidc.ResponseModeQuery && r.ResponseMode != oidc.ResponseModeFormPost {
		return nil, oidc.ErrInvalidRequest().WithDescription("response_mode must be query or form_post.")
	}
	if s.journey == nil {
		return nil, serverError(errNoJourney)
	}
	browserHash, err := s.journey.AdmitAuthRequest(ctx, r.ClientID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	a := storage.AuthRequest{
		ID:                  storage.NewID(),
		ClientID:            r.ClientID,
		RedirectURI:         r.RedirectURI,
		State:               r.State,
		Nonce:               r.Nonce,
		Scopes:              r.Scopes,
		ResponseType:        string(r.ResponseType),
		ResponseMode:        string(r.ResponseMode),
		CodeChallenge:       r.CodeChallenge,
		CodeChallengeMethod: string(r.CodeChallengeMethod),
		Requirement:         policy.ForClient(c.Client, acrValues(ctx, r.ACRValues), r.MaxAge, r.Prompt),
		LoginHint:           r.LoginHint,
		HintUserID:          hintUserID,
		BrowserHash:         browserHash,
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.cfg.Lifetimes.AuthRequest),
	}
	for _, l := range r.UILocales {
		a.UILocales = append(a.UILocales, l.String())
	}
	if err := s.store.CreateAuthRequest(ctx, a); err != nil {
		return nil, serverError(fmt.Errorf("create auth request: %w", err))
	}
	return &authRequest{AuthRequest: a}, nil
}

// acrValues are the acr values a sign-in must reach one of: an essential
// acr from the claims parameter, which outranks the voluntary acr_values.
func acrValues(ctx context.Context, requested []string) []string {
	if essential, _ := ctx.Value(essentialACRKey{}).([]string); len(essential) > 0 {
		return essential
	}
	return requested
}

func (s *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := s.store.GetAuthRequest(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get auth request: %w", err)
	}
	if s.cfg.Now().After(a.ExpiresAt) {
		return nil, fmt.Errorf("auth request expired: %w", storage.ErrNotFound)
	}
	return &authRequest{AuthRequest: a}, nil
}

// AuthRequestByCode looks a code up. It does not redeem it: op checks PKCE
// and the client after this, and a code presented without its verifier
// must not be burned. Redemption happens with token creation, in one
// transaction. A code already redeemed is a replay: every token it
// produced is revoked (RFC 6749 section 4.1.2).
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	hash := tokenHash(code)
	c, err := s.store.GetAuthCode(ctx, hash)
	if err != nil {
		return nil, fmt.Errorf("get code: %w", err)
	}
	if !c.RedeemedAt.IsZero() {
		return nil, s.codeReplayed(ctx, c)
	}
	if !s.cfg.Now().Before(c.ExpiresAt) {
		return nil, errors.New("code expired")
	}
	a, err := s.store.GetAuthRequest(ctx, c.AuthRequestID)
	if err != nil {
		return nil, fmt.Errorf("get auth request for code: %w", err)
	}
	if !a.CodeIssued {
		return nil, errors.New("auth request is not done")
	}
	u, err := s.activeUser(ctx, a.UserID)
	if err != nil {
		return nil, err
	}
	return &authRequest{AuthRequest: a, codeHash: hash, user: u}, nil
}

// codeReplayed revokes what a replayed code produced and says so.
func (s *opStorage) codeReplayed(ctx context.Context, c storage.AuthCode) error {
	if err := s.store.RevokeFamily(ctx, c.AuthRequestID); err != nil {
		return serverError(fmt.Errorf("revoke tokens of replayed code: %w", err))
	}
	return s.replayRefused(ctx, c)
}

// replayRefused audits a replayed code whose tokens are revoked.
func (s *opStorage) replayRefused(ctx context.Context, c storage.AuthCode) error {
	s.audit(ctx, storage.AuditEvent{Action: "token.code_replayed", Outcome: storage.OutcomeDenied,
		Details: map[string]string{"auth_request": c.AuthRequestID}})
	return oidc.ErrInvalidGrant().WithDescription("The authorization code was already used.")
}

// redeem exchanges an auth request's code for at (and rt), atomically.
func (s *opStorage) redeem(ctx context.Context, r *authRequest, at storage.AccessToken, rt *storage.RefreshToken) error {
	c, err := s.store.RedeemAuthCode(ctx, r.codeHash, s.cfg.Now(), at, rt)
	switch {
	case errors.Is(err, storage.ErrCodeRedeemed):
		return s.replayRefused(ctx, c) // RedeemAuthCode revoked the family already
	case errors.Is(err, storage.ErrNotFound):
		return oidc.ErrInvalidGrant().WithDescription("The authorization code expired.")
	case err != nil:
		return serverError(fmt.Errorf("redeem code: %w", err))
	}
	return nil
}

func (s *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.store.SaveAuthCode(ctx, storage.AuthCode{
		Hash:          tokenHash(code),
		AuthRequestID: id,
		ExpiresAt:     s.cfg.Now().Add(s.cfg.Lifetimes.Code),
	})
	if errors.Is(err, storage.ErrConflict) {
		return oidc.ErrAccessDenied().WithDescription("This sign-in has been completed already.")
	}
	if err != nil {
		return serverError(fmt.Errorf("save code: %w", err))
	}
	return nil
}

// DeleteAuthRequest: op deletes a request once its code is exchanged, but
// the redemption deleted it already, so this is a read, not a write.
func (s *opStorage) DeleteAuthRequest(ctx context.Context, id string) error {
	if _, err := s.store.GetAuthRequest(ctx, id); errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err := s.store.DeleteAuthRequest(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return serverError(fmt.Errorf("delete auth request: %w", err))
	}
	return nil
}

// accessToken builds the stored record for any token request op passes,
// and returns the client it was issued to.
func (s *opStorage) accessToken(ctx context.Context, req op.TokenRequest, familyID string) (storage.AccessToken, *client, error) {
	now := s.cfg.Now()
	t := storage.AccessToken{
		ID:        storage.NewID(),
		Subject:   req.GetSubject(),
		Audience:  req.GetAudience(),
		Scopes:    req.GetScopes(),
		FamilyID:  familyID,
		CreatedAt: now,
	}
	switch r := req.(type) {
	case *authRequest:
		t.ClientID, t.AuthTime, t.AMR, t.ACR = r.ClientID, r.AuthTime, r.AMR, r.ACR
	case *refreshRequest:
		t.ClientID, t.AuthTime, t.AMR, t.ACR = r.ClientID, r.AuthTime, r.AMR, r.ACR
	case *clientCredentialsRequest:
		t.ClientID = r.clientID
	default:
		return t, nil, fmt.Errorf("unsupported token request %T", req)
	}
	c, err := s.getClient(ctx, t.ClientID)
	if err != nil {
		return t, nil, err
	}
	t.Exception = waiverOf(req).Exception
	t.ExpiresAt = now.Add(c.accessTokenLifetime())
	if t.Exception != nil && t.Exception.ExpiresAt.Before(t.ExpiresAt) {
		t.ExpiresAt = t.Exception.ExpiresAt
	}
	return t, c, nil
}

// CreateAccessToken issues an access token without a refresh token. Tokens
// from a code belong to the auth request's family, so a replayed code can
// revoke them.
func (s *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	r, fromCode := req.(*authRequest)
	family := ""
	if fromCode {
		family = r.ID
	}
	t, _, err := s.accessToken(ctx, req, family)
	if err != nil {
		return "", time.Time{}, err
	}
	if fromCode {
		err = s.redeem(ctx, r, t, nil)
	} else if err = s.store.CreateAccessToken(ctx, t); err != nil {
		err = serverError(fmt.Errorf("create access token: %w", err))
	}
	if err != nil {
		return "", time.Time{}, err
	}
	return t.ID, t.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens issues a new family for a code exchange, or
// rotates the presented refresh token.
func (s *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	var familyID string
	scopes := req.GetScopes()
	switch r := req.(type) {
	case *authRequest:
		familyID = r.ID
	case *refreshRequest:
		// A narrower scope applies to this access token only; the refresh
		// token keeps what was granted (RFC 6749 section 6).
		familyID, scopes = r.FamilyID, r.RefreshToken.Scopes
	default:
		return "", "", time.Time{}, fmt.Errorf("unsupported refresh token request %T", req)
	}
	at, c, err := s.accessToken(ctx, req, familyID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	value := storage.RandomString(32)
	now := s.cfg.Now()
	rt := storage.RefreshToken{
		Hash:      tokenHash(value),
		FamilyID:  familyID,
		ClientID:  at.ClientID,
		UserID:    at.Subject,
		Audience:  at.Audience,
		Scopes:    scopes,
		AuthTime:  at.AuthTime,
		AMR:       at.AMR,
		ACR:       at.ACR,
		Waiver:    waiverOf(req),
		CreatedAt: now,
		ExpiresAt: now.Add(c.refreshTokenLifetime()),
	}
	if limit := s.cfg.Lifetimes.RefreshMax; limit > 0 && rt.AuthTime.Add(limit).Before(rt.ExpiresAt) {
		// Renewal slides the token, never past the sign-in's own end.
		rt.ExpiresAt = rt.AuthTime.Add(limit)
	}
	if rt.Exception != nil && rt.Exception.ExpiresAt.Before(rt.ExpiresAt) {
		// A sign-in that skipped MFA under an exception lasts no longer
		// than the exception.
		rt.ExpiresAt = rt.Exception.ExpiresAt
	}
	if r, ok := req.(*authRequest); ok {
		err = s.redeem(ctx, r, at, &rt)
	} else {
		err = s.store.RotateRefreshToken(ctx, tokenHash(current), now, rt, at)
		if errors.Is(err, storage.ErrTokenRotated) {
			s.auditRefreshReuse(ctx, rt)
			err = oidc.ErrInvalidGrant().WithDescription("The refresh token was already used.")
		} else if err != nil {
			err = serverError(fmt.Errorf("rotate refresh token: %w", err))
		}
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	return at.ID, value, at.ExpiresAt, nil
}

func (s *opStorage) auditRefreshReuse(ctx context.Context, rt storage.RefreshToken) {
	s.audit(ctx, storage.AuditEvent{Action: "token.refresh_reused", Outcome: storage.OutcomeDenied, Subject: rt.UserID,
		Details: map[string]string{"client_id": rt.ClientID, "family": rt.FamilyID}})
}

// TokenRequestByRefreshToken validates a presented refresh token. A token
// that was already rotated is evidence of theft: the family is revoked.
func (s *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, err := s.store.GetRefreshToken(ctx, tokenHash(token))
	if err != nil {
		return nil, fmt.Errorf("get refresh token: %w", err)
	}
	now := s.cfg.Now()
	if !rt.RotatedAt.IsZero() {
		if err := s.store.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, serverError(fmt.Errorf("revoke refresh family: %w", err))
		}
		s.auditRefreshReuse(ctx, rt)
		return nil, storage.ErrTokenRotated
	}
	if now.After(rt.ExpiresAt) {
		return nil, errors.New("refresh token expired")
	}
	u, err := s.activeUser(ctx, rt.UserID)
	if err != nil {
		return nil, err
	}
	// Continuous evaluation: the journey judges whether the user's policy
	// or the client now needs more than the family's sign-in proved. If
	// so, the family ends and the client signs the user in again.
	c, err := s.store.GetClient(ctx, rt.ClientID)
	if err != nil {
		return nil, fmt.Errorf("get client: %w", err)
	}
	if c.TokenRevoked(rt.CreatedAt) {
		return nil, errClientRevoked
	}
	if s.journey == nil {
		return nil, serverError(errNoJourney)
	}
	w, refused, err := s.journey.Reevaluate(ctx, u, rt, c)
	if err != nil {
		return nil, serverError(fmt.Errorf("reevaluate refresh: %w", err))
	}
	if refused != "" {
		if err := s.store.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return nil, serverError(fmt.Errorf("revoke refresh family: %w", err))
		}
		s.audit(ctx, storage.AuditEvent{Action: "token.refresh", Outcome: storage.OutcomeDenied, Subject: rt.UserID, OrgUnitID: u.OrgUnitID,
			Details: map[string]string{"client_id": rt.ClientID, "family": rt.FamilyID, "reason": refused}})
		return nil, errors.New(refused)
	}
	rt.Waiver = w // what stands in now is what the new tokens carry
	return &refreshRequest{RefreshToken: rt, scopes: rt.Scopes, user: u}, nil
}

// errClientRevoked: the token's client revoked every token issued to it
// before this one's time (storage.Client.TokensNotBefore).
var errClientRevoked = errors.New("the client revoked its tokens")

// errNoJourney: the provider was not connected to a sign-in journey
// (SetJourney), so it can neither start a sign-in nor judge a refresh.
var errNoJourney = errors.New("no sign-in journey connected")

// exceptionInForce reports whether the MFA exception a token's sign-in
// used (if any) is still in force at now: tokens from a sign-in that
// skipped the second factor end with the exception, when it is revoked as
// well as when it expires. (Tokens from before exceptions were named may
// lean on any exception in force.)
func (s *opStorage) exceptionInForce(ctx context.Context, userID string, claim *storage.ExceptionClaim, now time.Time) (bool, error) {
	if claim == nil {
		return true, nil
	}
	list, err := s.store.ListUserExceptions(ctx, userID)
	if err != nil {
		return false, fmt.Errorf("list exceptions: %w", err)
	}
	return slices.ContainsFunc(list, func(e storage.Exception) bool {
		return e.InForce(now) && (claim.ID == "" || claim.ID == e.ID)
	}), nil
}

// TerminateSession is op's logout hook; Gatehouse's end_session handler in
// package login ends the browser session itself, so here only the user's
// sessions are ended.
func (s *opStorage) TerminateSession(ctx context.Context, userID, clientID string) error {
	return s.store.DeleteUserSessions(ctx, userID)
}

// GetRefreshTokenInfo identifies a refresh token for revocation. Its "id"
// is the token itself, as RevokeToken also receives a token op could not
// place (with token_type_hint=access_token, op never asks here).
func (s *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rt, err := s.store.GetRefreshToken(ctx, tokenHash(token))
	if errors.Is(err, storage.ErrNotFound) {
		return "", "", op.ErrInvalidRefreshToken
	}
	if err != nil {
		return "", "", fmt.Errorf("get refresh token: %w", err)
	}
	return rt.UserID, token, nil
}

// errOtherClientsToken refuses to revoke another client's token (RFC 7009
// section 2.1) with RFC 6749's invalid_grant, "issued to another client":
// invalid_client would tell the client its own credentials are wrong.
func errOtherClientsToken() *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("The token was not issued to this client.")
}

// RevokeToken implements RFC 7009. tokenOrID is a refresh token or an
// access token's id; whatever the hint said, both are looked for (section
// 2.1). Revoking a refresh token revokes its family, access tokens
// included. Unknown tokens are not an error.
func (s *opStorage) RevokeToken(ctx context.Context, tokenOrID, userID, clientID string) *oidc.Error {
	rt, err := s.store.GetRefreshToken(ctx, tokenHash(tokenOrID))
	switch {
	case err == nil:
		if rt.ClientID != clientID {
			return errOtherClientsToken()
		}
		if err := s.store.RevokeFamily(ctx, rt.FamilyID); err != nil {
			return oidc.ErrServerError().WithParent(err)
		}
		return nil
	case !errors.Is(err, storage.ErrNotFound):
		return oidc.ErrServerError().WithParent(err)
	}
	at, err := s.store.GetAccessToken(ctx, tokenOrID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return oidc.ErrServerError().WithParent(err)
	case at.ClientID != clientID:
		return errOtherClientsToken()
	}
	if err := s.store.DeleteAccessToken(ctx, at.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return s.keys.signing(), nil
}

func (s *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return s.keys.algorithms(), nil
}

func (s *opStorage) KeySet(context.Context) ([]op.Key, error) {
	return s.keys.published(), nil
}

// getClient loads a client. An unknown client is invalid_client (op shows
// an error page for it at /authorize); a storage failure a server error.
func (s *opStorage) getClient(ctx context.Context, id string) (*client, error) {
	c, err := s.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errInvalidClient()
	}
	if err != nil {
		return nil, serverError(fmt.Errorf("get client: %w", err))
	}
	return &client{Client: c, loginURL: s.cfg.LoginURL, defaults: s.cfg.Lifetimes, maxSigned: s.cfg.SigningKeyRetention}, nil
}

func (s *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	return s.getClient(ctx, id)
}

func (s *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return err
	}
	if !secretMatches(c.Client, secret) {
		return errInvalidClient()
	}
	return nil
}

func (s *opStorage) ClientCredentials(ctx context.Context, id, secret string) (op.Client, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if !secretMatches(c.Client, secret) {
		return nil, errInvalidClient()
	}
	// op checks the grant, and answers unauthorized_client.
	return c, nil
}

// ClientCredentialsTokenRequest grants a client acting for itself only the
// API scopes registered for it.
func (s *opStorage) ClientCredentialsTokenRequest(ctx context.Context, id string, scopes []string) (op.TokenRequest, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("This client may not request that scope.")
		}
	}
	return &clientCredentialsRequest{clientID: id, scopes: scopes}, nil
}

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest does the work.
func (s *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's user claims. A refreshed ID
// token also repeats the acr of the original sign-in. A sign-in that
// skipped MFA under an exception says so, with the exception's kind and
// expiry, so a relying party can decide for itself.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	// The code or refresh token's lookup read the user already.
	var u storage.User
	switch r := req.(type) {
	case *authRequest:
		u = r.user
	case *refreshRequest:
		u = r.user
	}
	if u.ID != req.GetSubject() {
		var err error
		if u, err = s.store.GetUser(ctx, req.GetSubject()); err != nil {
			return fmt.Errorf("get user: %w", err)
		}
	}
	if err := s.setUserinfo(ctx, info, u, scopes); err != nil {
		return err
	}
	if r, ok := req.(*refreshRequest); ok && r.ACR != "" {
		info.AppendClaims("acr", r.ACR)
	}
	if e := waiverOf(req).Exception; e != nil {
		info.AppendClaims(ExceptionClaim, map[string]any{"kind": e.Kind, "expires_at": e.ExpiresAt.Unix()})
	}
	return nil
}

// ExceptionClaim names the ID token claim that reports an MFA exception.
const ExceptionClaim = "gatehouse_mfa_exception"

// waiverOf is what stood in for the second factor of a sign-in, or at the
// refresh a request comes from.
func waiverOf(req any) storage.Waiver {
	switch r := req.(type) {
	case *authRequest:
		return r.Waiver
	case *refreshRequest:
		return r.Waiver
	}
	return storage.Waiver{}
}

// setUserinfo fills the claims the scopes grant.
func (s *opStorage) setUserinfo(ctx context.Context, info *oidc.UserInfo, u storage.User, scopes []string) error {
	info.Subject = u.ID
	for _, sc := range scopes {
		switch sc {
		case oidc.ScopeProfile:
			info.Name = u.DisplayName
			info.PreferredUsername = u.Username
			info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
		case oidc.ScopeEmail:
			info.Email = u.Email
			// Gatehouse does not verify addresses yet, so it never claims to.
			info.EmailVerified = false
		case oidc.ScopePhone:
			// The user's mobile phone, which its first code proved.
			methods, err := s.store.ListUserMethods(ctx, u.ID)
			if err != nil {
				return fmt.Errorf("list methods: %w", err)
			}
			if n := storage.MobilePhone(methods); n != "" {
				info.PhoneNumber, info.PhoneNumberVerified = n, true
			}
		}
	}
	return nil
}

// SetUserinfoFromToken answers /userinfo for a live access token.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, u, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if u.ID == "" || !slices.Contains(t.Scopes, oidc.ScopeOpenID) {
		return errors.New("not a user's access token with the openid scope")
	}
	return s.setUserinfo(ctx, info, u, t.Scopes)
}

// liveAccessToken loads an unexpired access token for subject and, for a
// user's token, the user, who must still be active; a client's own token
// (client_credentials) has no user.
func (s *opStorage) liveAccessToken(ctx context.Context, tokenID, subject string) (storage.AccessToken, storage.User, error) {
	t, err := s.store.GetAccessToken(ctx, tokenID)
	if err != nil {
		return t, storage.User{}, fmt.Errorf("get access token: %w", err)
	}
	if t.Subject != subject || s.cfg.Now().After(t.ExpiresAt) {
		return t, storage.User{}, errors.New("access token expired or mismatched")
	}
	// A deleted client's tokens die with it, and those it revoked.
	c, err := s.store.GetClient(ctx, t.ClientID)
	if err != nil {
		return t, storage.User{}, fmt.Errorf("get client: %w", err)
	}
	if c.TokenRevoked(t.CreatedAt) {
		return t, storage.User{}, errClientRevoked
	}
	if t.AuthTime.IsZero() {
		return t, storage.User{}, nil
	}
	u, err := s.activeUser(ctx, t.Subject)
	if err != nil {
		return t, u, err
	}
	ok, err := s.exceptionInForce(ctx, u.ID, t.Exception, s.cfg.Now())
	if err == nil && !ok {
		err = errors.New("the MFA exception the sign-in used has ended")
	}
	return t, u, err
}

// SetIntrospectionFromToken answers RFC 7662 introspection. A client may
// introspect tokens issued to it or naming it as audience.
func (s *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, u, err := s.liveAccessToken(ctx, tokenID, subject)
	if err != nil {
		return err
	}
	if t.ClientID != clientID && !slices.Contains(t.Audience, clientID) {
		return errors.New("token not issued to or for this client")
	}
	resp.Scope = t.Scopes
	resp.ClientID = t.ClientID
	resp.TokenType = oidc.BearerToken
	resp.Expiration = oidc.FromTime(t.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(t.CreatedAt)
	resp.Subject = t.Subject
	resp.Audience = t.Audience
	resp.Issuer = s.cfg.Issuer
	resp.JWTID = t.ID
	if !t.AuthTime.IsZero() {
		resp.AuthTime = oidc.FromTime(t.AuthTime)
		resp.AuthenticationMethodsReferences = t.AMR
		resp.Username = u.Username
	}
	if t.ACR != "" {
		resp.Claims = map[string]any{"acr": t.ACR}
	}
	return nil
}

func (s *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves the JWT profile grant, which Gatehouse does not offer.
func (s *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT client authentication is not supported")
}

func (s *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *opStorage) Health(ctx context.Context) error { return s.store.Health(ctx) }
