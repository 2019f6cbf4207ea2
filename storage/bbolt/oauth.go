package bbolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	// clientsByApp finds a protected app by host and path prefix, and
	// keeps two from having both.
	clientsByApp = unique("clients_by_app", func(c storage.Client) string {
		if c.Forward == nil {
			return ""
		}
		return appKey(c.Forward.Host, c.Forward.PathPrefix)
	})
	clients = newTable("clients", func(c storage.Client) string { return c.ID }, clientsByApp)

	authRequests = newTable("auth_requests", func(a storage.AuthRequest) string { return a.ID },
		expiry("auth_requests_by_expiry", func(a storage.AuthRequest) time.Time { return a.ExpiresAt }))
	authCodes = newTable("auth_codes", func(c storage.AuthCode) string { return c.Hash },
		expiry("auth_codes_by_expiry", func(c storage.AuthCode) time.Time { return c.ExpiresAt }))

	accessByFamily  = multi("access_tokens_by_family", func(t storage.AccessToken) string { return t.FamilyID })
	accessBySubject = multi("access_tokens_by_subject", func(t storage.AccessToken) string { return t.Subject })
	accessTokens    = newTable("access_tokens", func(t storage.AccessToken) string { return t.ID },
		accessByFamily, accessBySubject,
		expiry("access_tokens_by_expiry", func(t storage.AccessToken) time.Time { return t.ExpiresAt }))

	refreshByFamily = multi("refresh_tokens_by_family", func(t storage.RefreshToken) string { return t.FamilyID })
	refreshByUser   = multi("refresh_tokens_by_user", func(t storage.RefreshToken) string { return t.UserID })
	refreshTokens   = newTable("refresh_tokens", func(t storage.RefreshToken) string { return t.Hash },
		refreshByFamily, refreshByUser,
		expiry("refresh_tokens_by_expiry", func(t storage.RefreshToken) time.Time { return t.ExpiresAt }))

	sessionsByUser = multi("sessions_by_user", func(s storage.Session) string { return s.UserID })
	sessions       = newTable("sessions", func(s storage.Session) string { return s.ID },
		sessionsByUser,
		expiry("sessions_by_expiry", func(s storage.Session) time.Time { return s.ExpiresAt }))
)

// expired reports whether something valid until at is no longer valid at now.
func expired(at, now time.Time) bool { return !now.Before(at) }

// CreateClient implements storage.Clients.
func (db *DB) CreateClient(ctx context.Context, c storage.Client) error {
	return createRecord(ctx, db, clients, "create client", c)
}

// GetClient implements storage.Clients.
func (db *DB) GetClient(ctx context.Context, id string) (storage.Client, error) {
	return getRecord(ctx, db, clients, "get client", id)
}

// UpdateClient implements storage.Clients.
func (db *DB) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	return updateRecord(ctx, db, clients, "update client", id, update)
}

// appKey is a protected app's key in clientsByApp: the host, in lower
// case, then the path prefix.
func appKey(host, prefix string) string { return strings.ToLower(host) + "\x00" + prefix }

// FindProtectedApp implements storage.Clients: of the host's apps, few,
// the one with the longest prefix of path.
func (db *DB) FindProtectedApp(ctx context.Context, host, path string) (app storage.Client, err error) {
	err = db.view(ctx, "find protected app", func(tx *bolt.Tx) error {
		start := []byte(appKey(host, ""))
		var best []byte
		c := tx.Bucket(clientsByApp.bucket).Cursor()
		for k, id := c.Seek(start); bytes.HasPrefix(k, start); k, id = c.Next() {
			if strings.HasPrefix(path, string(k[len(start):])) {
				best = id
			}
		}
		if best == nil {
			return storage.ErrNotFound
		}
		app, err = clients.get(tx, string(best))
		return err
	})
	return app, err
}

// DeleteClient implements storage.Clients.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, clients, "delete client", id)
}

// ListClients implements storage.Clients.
func (db *DB) ListClients(ctx context.Context) ([]storage.Client, error) {
	return listRecords(ctx, db, clients, "list clients")
}

// CreateAuthRequest implements storage.AuthRequests.
func (db *DB) CreateAuthRequest(ctx context.Context, a storage.AuthRequest) error {
	return createRecord(ctx, db, authRequests, "create auth request", a)
}

// GetAuthRequest implements storage.AuthRequests.
func (db *DB) GetAuthRequest(ctx context.Context, id string) (storage.AuthRequest, error) {
	return getRecord(ctx, db, authRequests, "get auth request", id)
}

// UpdateAuthRequest implements storage.AuthRequests.
func (db *DB) UpdateAuthRequest(ctx context.Context, id string, update func(storage.AuthRequest) (storage.AuthRequest, error)) (storage.AuthRequest, error) {
	return updateRecord(ctx, db, authRequests, "update auth request", id, update)
}

// DeleteAuthRequest implements storage.AuthRequests.
func (db *DB) DeleteAuthRequest(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, authRequests, "delete auth request", id)
}

// SaveAuthCode implements storage.AuthRequests.
func (db *DB) SaveAuthCode(ctx context.Context, c storage.AuthCode) error {
	return db.update(ctx, "save auth code", func(tx *bolt.Tx) error {
		if _, err := authRequests.update(tx, c.AuthRequestID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
			if a.CodeIssued {
				return a, fmt.Errorf("auth request answered already: %w", storage.ErrConflict)
			}
			a.CodeIssued = true
			return a, nil
		}); err != nil {
			return err
		}
		return authCodes.insert(tx, c)
	})
}

// GetAuthCode implements storage.AuthRequests.
func (db *DB) GetAuthCode(ctx context.Context, hash string) (storage.AuthCode, error) {
	return getRecord(ctx, db, authCodes, "get auth code", hash)
}

// RedeemAuthCode implements storage.AuthRequests. A replayed code is
// reported even after it expired, as long as it is still stored, because
// the replay is what the caller must act on.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, now time.Time, at storage.AccessToken, rt *storage.RefreshToken) (storage.AuthCode, error) {
	// As in RotateRefreshToken, the revocation must commit, so a replay is
	// reported after the transaction rather than by failing it.
	var code storage.AuthCode
	var replayed bool
	err := db.update(ctx, "redeem auth code", func(tx *bolt.Tx) error {
		replayed = false
		c, err := authCodes.get(tx, hash)
		code = c
		switch {
		case err != nil:
			return err
		case !c.RedeemedAt.IsZero():
			replayed = true
			return revokeFamily(tx, c.AuthRequestID)
		case expired(c.ExpiresAt, now):
			return storage.ErrNotFound
		}
		prev := c
		code.RedeemedAt = now
		if err := authCodes.write(tx, authCodes.keys(prev), code); err != nil {
			return err
		}
		if rt != nil {
			if err := refreshTokens.insert(tx, *rt); err != nil {
				return err
			}
		}
		if err := authRequests.delete(tx, c.AuthRequestID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return accessTokens.insert(tx, at)
	})
	if err != nil {
		return storage.AuthCode{}, err
	}
	if replayed {
		return code, fmt.Errorf("redeem auth code: %w", storage.ErrCodeRedeemed)
	}
	return code, nil
}

// CreateAccessToken implements storage.Tokens.
func (db *DB) CreateAccessToken(ctx context.Context, t storage.AccessToken) error {
	return createRecord(ctx, db, accessTokens, "create access token", t)
}

// GetAccessToken implements storage.Tokens.
func (db *DB) GetAccessToken(ctx context.Context, id string) (storage.AccessToken, error) {
	return getRecord(ctx, db, accessTokens, "get access token", id)
}

// DeleteAccessToken implements storage.Tokens.
func (db *DB) DeleteAccessToken(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, accessTokens, "delete access token", id)
}

// CreateRefreshToken implements storage.Tokens.
func (db *DB) CreateRefreshToken(ctx context.Context, rt storage.RefreshToken, at storage.AccessToken) error {
	return db.update(ctx, "create refresh token", func(tx *bolt.Tx) error {
		if err := refreshTokens.insert(tx, rt); err != nil {
			return err
		}
		return accessTokens.insert(tx, at)
	})
}

// GetRefreshToken implements storage.Tokens.
func (db *DB) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, error) {
	return getRecord(ctx, db, refreshTokens, "get refresh token", hash)
}

// RotateRefreshToken implements storage.Tokens. An expired token is
// ErrNotFound, as RedeemAuthCode treats an expired code, unless it was
// rotated already: a replay revokes the family whenever it comes.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, next storage.RefreshToken, at storage.AccessToken) error {
	// The revocation must commit, so the transaction succeeds and reports
	// the replay here rather than by returning an error, which would roll
	// the revocation back.
	var replayed bool
	err := db.update(ctx, "rotate refresh token", func(tx *bolt.Tx) error {
		replayed = false
		old, err := refreshTokens.get(tx, oldHash)
		switch {
		case err != nil:
			return err
		case !old.RotatedAt.IsZero():
			replayed = true
			return revokeFamily(tx, old.FamilyID)
		case expired(old.ExpiresAt, now):
			return storage.ErrNotFound
		}
		prev := old
		old.RotatedAt = now
		if err := refreshTokens.write(tx, refreshTokens.keys(prev), old); err != nil {
			return err
		}
		if err := refreshTokens.insert(tx, next); err != nil {
			return err
		}
		return accessTokens.insert(tx, at)
	})
	if err == nil && replayed {
		err = fmt.Errorf("rotate refresh token: %w", storage.ErrTokenRotated)
	}
	return err
}

// RevokeFamily implements storage.Tokens.
func (db *DB) RevokeFamily(ctx context.Context, familyID string) error {
	return db.update(ctx, "revoke token family", func(tx *bolt.Tx) error { return revokeFamily(tx, familyID) })
}

func revokeFamily(tx *bolt.Tx, familyID string) error {
	if err := refreshTokens.deleteAll(tx, refreshByFamily, familyID); err != nil {
		return err
	}
	return accessTokens.deleteAll(tx, accessByFamily, familyID)
}

// RevokeUserTokens implements storage.Tokens.
func (db *DB) RevokeUserTokens(ctx context.Context, userID string) error {
	return db.update(ctx, "revoke user tokens", func(tx *bolt.Tx) error { return revokeUserTokens(tx, userID) })
}

func revokeUserTokens(tx *bolt.Tx, userID string) error {
	if err := refreshTokens.deleteAll(tx, refreshByUser, userID); err != nil {
		return err
	}
	return accessTokens.deleteAll(tx, accessBySubject, userID)
}

// CreateSession implements storage.Sessions.
func (db *DB) CreateSession(ctx context.Context, s storage.Session) error {
	return createRecord(ctx, db, sessions, "create session", s)
}

// GetSession implements storage.Sessions.
func (db *DB) GetSession(ctx context.Context, id string) (storage.Session, error) {
	return getRecord(ctx, db, sessions, "get session", id)
}

// UpdateSession implements storage.Sessions.
func (db *DB) UpdateSession(ctx context.Context, id string, update func(storage.Session) (storage.Session, error)) (storage.Session, error) {
	return updateRecord(ctx, db, sessions, "update session", id, update)
}

// DeleteSession implements storage.Sessions.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, sessions, "delete session", id)
}

// ListUserSessions implements storage.Sessions.
func (db *DB) ListUserSessions(ctx context.Context, userID string) (list []storage.Session, err error) {
	err = db.view(ctx, "list user sessions", func(tx *bolt.Tx) (err error) {
		list, err = sessions.under(tx, sessionsByUser, userID)
		return err
	})
	return list, err
}

// DeleteUserSessions implements storage.Sessions.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.update(ctx, "delete user sessions", func(tx *bolt.Tx) error {
		return sessions.deleteAll(tx, sessionsByUser, userID)
	})
}
