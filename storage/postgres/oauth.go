package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	// A protected app has its host, in lower case, and its path prefix;
	// UNIQUE (app_host, app_prefix) keeps two from having both.
	clients = newTable("clients", func(c storage.Client) string { return c.ID }, true,
		col("app_host", func(c storage.Client) any {
			if c.Forward == nil {
				return nil
			}
			return storable(strings.ToLower(c.Forward.Host))
		}),
		col("app_prefix", func(c storage.Client) any {
			if c.Forward == nil {
				return nil
			}
			return storable(c.Forward.PathPrefix)
		}))

	authRequests = newTable("auth_requests", func(a storage.AuthRequest) string { return a.ID }, false,
		col("expires_ns", func(a storage.AuthRequest) any { return nanos(a.ExpiresAt) }))
	authCodes = newTable("auth_codes", func(c storage.AuthCode) string { return c.Hash }, false,
		col("expires_ns", func(c storage.AuthCode) any { return nanos(c.ExpiresAt) }))

	accessTokens = newTable("access_tokens", func(t storage.AccessToken) string { return t.ID }, false,
		col("family_id", func(t storage.AccessToken) any { return text(t.FamilyID) }),
		col("subject", func(t storage.AccessToken) any { return text(t.Subject) }),
		col("expires_ns", func(t storage.AccessToken) any { return nanos(t.ExpiresAt) }))
	refreshTokens = newTable("refresh_tokens", func(t storage.RefreshToken) string { return t.Hash }, false,
		col("family_id", func(t storage.RefreshToken) any { return text(t.FamilyID) }),
		col("user_id", func(t storage.RefreshToken) any { return text(t.UserID) }),
		col("expires_ns", func(t storage.RefreshToken) any { return nanos(t.ExpiresAt) }))

	sessions = newTable("sessions", func(s storage.Session) string { return s.ID }, false,
		col("user_id", func(s storage.Session) any { return text(s.UserID) }),
		col("expires_ns", func(s storage.Session) any { return nanos(s.ExpiresAt) }))

	// A user has one device per browser: UNIQUE (user_id, browser_hash).
	devices = newTable("remembered_devices", func(d storage.RememberedDevice) string { return d.ID }, true,
		col("user_id", func(d storage.RememberedDevice) any { return storable(d.UserID) }),
		col("browser_hash", func(d storage.RememberedDevice) any { return nonNil(d.BrowserHash) }),
		col("expires_ns", func(d storage.RememberedDevice) any { return nanos(d.ExpiresAt) }))
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

// DeleteClient implements storage.Clients.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, clients, "delete client", id)
}

// ListClients implements storage.Clients.
func (db *DB) ListClients(ctx context.Context) ([]storage.Client, error) {
	return listWhere(ctx, db, clients, "list clients", `true ORDER BY id COLLATE "C"`)
}

// FindProtectedApp implements storage.Clients: of the host's apps (found
// by the unique index on app_host, app_prefix), the one with the longest
// prefix of path.
func (db *DB) FindProtectedApp(ctx context.Context, host, path string) (storage.Client, error) {
	list, err := listWhere(ctx, db, clients, "find protected app",
		"app_host = $1 AND starts_with($2, app_prefix) ORDER BY length(app_prefix) DESC LIMIT 1",
		storable(strings.ToLower(host)), storable(path))
	if err != nil {
		return storage.Client{}, err
	}
	if len(list) == 0 {
		return storage.Client{}, fmt.Errorf("find protected app: %w", storage.ErrNotFound)
	}
	return list[0], nil
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

// SaveAuthCode implements storage.AuthRequests. The auth request's row is
// locked while CodeIssued is checked and set, so of two callbacks at once
// the second waits, then sees the first's code.
func (db *DB) SaveAuthCode(ctx context.Context, c storage.AuthCode) error {
	return db.write(ctx, "save auth code", func(tx pgx.Tx) error {
		if _, err := authRequests.update(ctx, tx, c.AuthRequestID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
			if a.CodeIssued {
				return a, fmt.Errorf("auth request answered already: %w", storage.ErrConflict)
			}
			a.CodeIssued = true
			return a, nil
		}); err != nil {
			return err
		}
		return authCodes.insert(ctx, tx, c)
	})
}

// GetAuthCode implements storage.AuthRequests.
func (db *DB) GetAuthCode(ctx context.Context, hash string) (storage.AuthCode, error) {
	return getRecord(ctx, db, authCodes, "get auth code", hash)
}

// RedeemAuthCode implements storage.AuthRequests. The code's row is
// locked (FOR NO KEY UPDATE) before it is checked: redemptions of one
// code queue, and each one after the first reads the RedeemedAt the first
// committed, so it is a replay, and revokes the family in its own
// transaction, which commits. A replayed code is reported even after it
// expired, as long as it is still stored.
func (db *DB) RedeemAuthCode(ctx context.Context, hash string, now time.Time, at storage.AccessToken, rt *storage.RefreshToken) (storage.AuthCode, error) {
	var code storage.AuthCode
	var replayed bool
	err := db.write(ctx, "redeem auth code", func(tx pgx.Tx) error {
		replayed = false
		c, err := authCodes.get(ctx, tx, hash, true)
		code = c
		switch {
		case err != nil:
			return err
		case !c.RedeemedAt.IsZero():
			replayed = true
			return revokeFamily(ctx, tx, c.AuthRequestID)
		case expired(c.ExpiresAt, now):
			return storage.ErrNotFound
		}
		code.RedeemedAt = now
		if err := authCodes.write(ctx, tx, code); err != nil {
			return err
		}
		if rt != nil {
			if err := refreshTokens.insert(ctx, tx, *rt); err != nil {
				return err
			}
		}
		if err := authRequests.delete(ctx, tx, c.AuthRequestID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return accessTokens.insert(ctx, tx, at)
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
	return db.write(ctx, "create refresh token", func(tx pgx.Tx) error {
		if err := refreshTokens.insert(ctx, tx, rt); err != nil {
			return err
		}
		return accessTokens.insert(ctx, tx, at)
	})
}

// GetRefreshToken implements storage.Tokens.
func (db *DB) GetRefreshToken(ctx context.Context, hash string) (storage.RefreshToken, error) {
	return getRecord(ctx, db, refreshTokens, "get refresh token", hash)
}

// RotateRefreshToken implements storage.Tokens. As in RedeemAuthCode, the
// old token's row is locked before it is checked: of two rotations at
// once the second reads the first's RotatedAt, a replay, and revokes the
// family (the first's new tokens with it); a third finds the token gone.
// An expired token is ErrNotFound unless it was rotated already.
func (db *DB) RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, next storage.RefreshToken, at storage.AccessToken) error {
	// The revocation must commit, so the transaction succeeds and reports
	// the replay here rather than by returning an error.
	var replayed bool
	err := db.write(ctx, "rotate refresh token", func(tx pgx.Tx) error {
		replayed = false
		old, err := refreshTokens.get(ctx, tx, oldHash, true)
		switch {
		case err != nil:
			return err
		case !old.RotatedAt.IsZero():
			replayed = true
			return revokeFamily(ctx, tx, old.FamilyID)
		case expired(old.ExpiresAt, now):
			return storage.ErrNotFound
		}
		old.RotatedAt = now
		if err := refreshTokens.write(ctx, tx, old); err != nil {
			return err
		}
		if err := refreshTokens.insert(ctx, tx, next); err != nil {
			return err
		}
		return accessTokens.insert(ctx, tx, at)
	})
	if err == nil && replayed {
		err = fmt.Errorf("rotate refresh token: %w", storage.ErrTokenRotated)
	}
	return err
}

// RevokeFamily implements storage.Tokens.
func (db *DB) RevokeFamily(ctx context.Context, familyID string) error {
	return db.write(ctx, "revoke token family", func(tx pgx.Tx) error { return revokeFamily(ctx, tx, familyID) })
}

func revokeFamily(ctx context.Context, tx pgx.Tx, familyID string) error {
	if err := refreshTokens.deleteWhere(ctx, tx, "family_id = $1", text(familyID)); err != nil {
		return err
	}
	return accessTokens.deleteWhere(ctx, tx, "family_id = $1", text(familyID))
}

// RevokeUserTokens implements storage.Tokens.
func (db *DB) RevokeUserTokens(ctx context.Context, userID string) error {
	return db.write(ctx, "revoke user tokens", func(tx pgx.Tx) error { return revokeUserTokens(ctx, tx, userID) })
}

func revokeUserTokens(ctx context.Context, tx pgx.Tx, userID string) error {
	if err := refreshTokens.deleteWhere(ctx, tx, "user_id = $1", text(userID)); err != nil {
		return err
	}
	return accessTokens.deleteWhere(ctx, tx, "subject = $1", text(userID))
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
func (db *DB) ListUserSessions(ctx context.Context, userID string) ([]storage.Session, error) {
	return listWhere(ctx, db, sessions, "list user sessions", `user_id = $1 ORDER BY id COLLATE "C"`, text(userID))
}

// DeleteUserSessions implements storage.Sessions.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.write(ctx, "delete user sessions", func(tx pgx.Tx) error {
		return sessions.deleteWhere(ctx, tx, "user_id = $1", text(userID))
	})
}

// RememberDevice implements storage.RememberedDevices. It runs under the
// advisory lock "devices/<user>", so two at once for one browser do not
// both find none and race to insert.
func (db *DB) RememberDevice(ctx context.Context, d storage.RememberedDevice) (stored storage.RememberedDevice, err error) {
	err = db.write(ctx, "remember device", func(tx pgx.Tx) error {
		if err := lock(ctx, tx, "devices/"+d.UserID); err != nil {
			return err
		}
		old, err := findDevice(ctx, tx, d.UserID, d.BrowserHash)
		if errors.Is(err, storage.ErrNotFound) {
			stored = d
			return devices.insert(ctx, tx, d)
		}
		if err != nil {
			return err
		}
		d.ID = old.ID
		stored, err = devices.update(ctx, tx, old.ID, func(storage.RememberedDevice) (storage.RememberedDevice, error) { return d, nil })
		return err
	})
	return stored, err
}

func findDevice(ctx context.Context, q querier, userID string, browserHash []byte) (storage.RememberedDevice, error) {
	list, err := devices.where(ctx, q, "user_id = $1 AND browser_hash = $2", storable(userID), nonNil(browserHash))
	if err != nil {
		return storage.RememberedDevice{}, err
	}
	if len(list) == 0 {
		return storage.RememberedDevice{}, storage.ErrNotFound
	}
	return list[0], nil
}

// GetRememberedDevice implements storage.RememberedDevices.
func (db *DB) GetRememberedDevice(ctx context.Context, id string) (storage.RememberedDevice, error) {
	return getRecord(ctx, db, devices, "get remembered device", id)
}

// FindRememberedDevice implements storage.RememberedDevices.
func (db *DB) FindRememberedDevice(ctx context.Context, userID string, browserHash []byte) (d storage.RememberedDevice, err error) {
	err = db.read(ctx, "find remembered device", func(q querier) (err error) {
		d, err = findDevice(ctx, q, userID, browserHash)
		return err
	})
	return d, err
}

// ListUserRememberedDevices implements storage.RememberedDevices.
func (db *DB) ListUserRememberedDevices(ctx context.Context, userID string) ([]storage.RememberedDevice, error) {
	return listWhere(ctx, db, devices, "list remembered devices", `user_id = $1 ORDER BY id COLLATE "C"`, storable(userID))
}

// DeleteRememberedDevice implements storage.RememberedDevices.
func (db *DB) DeleteRememberedDevice(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, devices, "delete remembered device", id)
}

// DeleteUserRememberedDevices implements storage.RememberedDevices.
func (db *DB) DeleteUserRememberedDevices(ctx context.Context, userID string) error {
	return db.write(ctx, "delete remembered devices", func(tx pgx.Tx) error {
		return devices.deleteWhere(ctx, tx, "user_id = $1", storable(userID))
	})
}
