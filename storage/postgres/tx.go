package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Atomically implements storage.Storage: fn runs in one transaction, run
// again when PostgreSQL aborts it for a deadlock or a serialization
// failure (see DB.write).
func (db *DB) Atomically(ctx context.Context, fn func(storage.Tx) error) error {
	return db.write(ctx, "atomically", func(tx pgx.Tx) error { return fn(pgTx{ctx, tx}) })
}

// pgTx is storage.Tx over one transaction; its errors name the operation,
// as the DB's do. It holds the context of the Atomically call because
// storage.Tx's methods take none: it lives only as long as that call.
type pgTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func named(op string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (t pgTx) CreateUser(u storage.User) error {
	return named("create user", createUser(t.ctx, t.tx, u))
}

func (t pgTx) UpdateUser(id string, update func(storage.User) (storage.User, error)) (storage.User, error) {
	u, err := updateUser(t.ctx, t.tx, id, update)
	return u, named("update user", err)
}

func (t pgTx) CreateMethod(m storage.Method) error {
	return named("create method", createMethod(t.ctx, t.tx, m))
}

func (t pgTx) DeleteMethod(id string) error {
	return named("delete method", methods.delete(t.ctx, t.tx, id))
}

func (t pgTx) DeleteUserMethods(userID string) error {
	return named("delete user methods", methods.deleteWhere(t.ctx, t.tx, "user_id = $1", text(userID)))
}

func (t pgTx) DeleteUserSessions(userID string) error {
	return named("delete user sessions", sessions.deleteWhere(t.ctx, t.tx, "user_id = $1", text(userID)))
}

func (t pgTx) RevokeUserTokens(userID string) error {
	return named("revoke user tokens", revokeUserTokens(t.ctx, t.tx, userID))
}

func (t pgTx) DeleteRememberedDevice(id string) error {
	return named("delete remembered device", devices.delete(t.ctx, t.tx, id))
}

func (t pgTx) DeleteUserRememberedDevices(userID string) error {
	return named("delete remembered devices", devices.deleteWhere(t.ctx, t.tx, "user_id = $1", storable(userID)))
}

func (t pgTx) CreateException(e storage.Exception) error {
	return named("create exception", createException(t.ctx, t.tx, e))
}

func (t pgTx) UpdateException(id string, update func(storage.Exception) (storage.Exception, error)) (storage.Exception, error) {
	e, err := updateException(t.ctx, t.tx, id, update)
	return e, named("update exception", err)
}

func (t pgTx) UpdateAuthRequest(id string, update func(storage.AuthRequest) (storage.AuthRequest, error)) (storage.AuthRequest, error) {
	a, err := authRequests.update(t.ctx, t.tx, id, update)
	return a, named("update auth request", err)
}

func (t pgTx) CreateSession(s storage.Session) error {
	return named("create session", sessions.insert(t.ctx, t.tx, s))
}

func (t pgTx) DeleteSession(id string) error {
	return named("delete session", sessions.delete(t.ctx, t.tx, id))
}

func (t pgTx) CreateChallenge(c storage.Challenge) error {
	return named("create challenge", challenges.insert(t.ctx, t.tx, c))
}

func (t pgTx) UpdateChallenge(id string, update func(storage.Challenge) (storage.Challenge, error)) (storage.Challenge, error) {
	c, err := challenges.update(t.ctx, t.tx, id, update)
	return c, named("update challenge", err)
}

func (t pgTx) DeleteChallenge(id string) error {
	return named("delete challenge", challenges.delete(t.ctx, t.tx, id))
}

func (t pgTx) UpdateMethod(id string, update func(storage.Method) (storage.Method, error)) (storage.Method, error) {
	m, err := methods.update(t.ctx, t.tx, id, update)
	return m, named("update method", err)
}

func (t pgTx) UpdateAttempts(key string, update func(storage.Attempts) (storage.Attempts, error)) (storage.Attempts, error) {
	a, err := updateAttempts(t.ctx, t.tx, key, update)
	if err != nil {
		return storage.Attempts{}, named("update attempts", err)
	}
	return a, nil
}

func (t pgTx) AppendAudit(e storage.AuditEvent) error {
	return named("append audit", appendAudit(t.ctx, t.tx, e))
}

func (t pgTx) AddNotification(n storage.Notification) error {
	return named("add notification", notifications.insert(t.ctx, t.tx, n))
}

func (t pgTx) CreateAppPassword(p storage.AppPassword) error {
	return named("create app password", createAppPassword(t.ctx, t.tx, p))
}

func (t pgTx) DeleteAppPassword(id string) error {
	return named("delete app password", appPasswords.delete(t.ctx, t.tx, id))
}

func (t pgTx) DeleteUserAppPasswords(userID string) error {
	return named("delete user app passwords", appPasswords.deleteWhere(t.ctx, t.tx, "user_id = $1", text(userID)))
}

func (t pgTx) UpdateAppPassword(id string, update func(storage.AppPassword) (storage.AppPassword, error)) (storage.AppPassword, error) {
	p, err := appPasswords.update(t.ctx, t.tx, id, update)
	return p, named("update app password", err)
}
