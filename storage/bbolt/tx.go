package bbolt

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Atomically implements storage.Storage: fn's writes are one write, in a
// group commit like any other.
func (db *DB) Atomically(ctx context.Context, fn func(storage.Tx) error) error {
	return db.update(ctx, "atomically", func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// boltTx is storage.Tx over one bolt write transaction; its errors name
// the operation, as the DB's do.
type boltTx struct{ tx *bolt.Tx }

func named(op string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (t boltTx) CreateUser(u storage.User) error {
	return named("create user", createUser(t.tx, u))
}

func (t boltTx) UpdateUser(id string, update func(storage.User) (storage.User, error)) (storage.User, error) {
	u, err := updateUser(t.tx, id, update)
	return u, named("update user", err)
}

func (t boltTx) CreateMethod(m storage.Method) error {
	return named("create method", createMethod(t.tx, m))
}

func (t boltTx) DeleteMethod(id string) error {
	return named("delete method", methods.delete(t.tx, id))
}

func (t boltTx) DeleteUserMethods(userID string) error {
	return named("delete user methods", methods.deleteAll(t.tx, methodsByUser, userID))
}

func (t boltTx) DeleteUserSessions(userID string) error {
	return named("delete user sessions", sessions.deleteAll(t.tx, sessionsByUser, userID))
}

func (t boltTx) RevokeUserTokens(userID string) error {
	return named("revoke user tokens", revokeUserTokens(t.tx, userID))
}

func (t boltTx) DeleteRememberedDevice(id string) error {
	return named("delete remembered device", devices.delete(t.tx, id))
}

func (t boltTx) DeleteUserRememberedDevices(userID string) error {
	return named("delete remembered devices", devices.deleteAll(t.tx, devicesByUser, userID))
}

func (t boltTx) CreateException(e storage.Exception) error {
	return named("create exception", createException(t.tx, e))
}

func (t boltTx) UpdateException(id string, update func(storage.Exception) (storage.Exception, error)) (storage.Exception, error) {
	e, err := updateException(t.tx, id, update)
	return e, named("update exception", err)
}

func (t boltTx) UpdateAuthRequest(id string, update func(storage.AuthRequest) (storage.AuthRequest, error)) (storage.AuthRequest, error) {
	a, err := authRequests.update(t.tx, id, update)
	return a, named("update auth request", err)
}

func (t boltTx) CreateSession(s storage.Session) error {
	return named("create session", sessions.insert(t.tx, s))
}

func (t boltTx) DeleteSession(id string) error {
	return named("delete session", sessions.delete(t.tx, id))
}

func (t boltTx) CreateChallenge(c storage.Challenge) error {
	return named("create challenge", challenges.insert(t.tx, c))
}

func (t boltTx) UpdateChallenge(id string, update func(storage.Challenge) (storage.Challenge, error)) (storage.Challenge, error) {
	c, err := challenges.update(t.tx, id, update)
	return c, named("update challenge", err)
}

func (t boltTx) DeleteChallenge(id string) error {
	return named("delete challenge", challenges.delete(t.tx, id))
}

func (t boltTx) UpdateMethod(id string, update func(storage.Method) (storage.Method, error)) (storage.Method, error) {
	m, err := methods.update(t.tx, id, update)
	return m, named("update method", err)
}

func (t boltTx) UpdateAttempts(key string, update func(storage.Attempts) (storage.Attempts, error)) (storage.Attempts, error) {
	a, err := updateAttempts(t.tx, key, update)
	if err != nil {
		return storage.Attempts{}, named("update attempts", err)
	}
	return a, nil
}

func (t boltTx) AppendAudit(e storage.AuditEvent) error {
	return named("append audit", putAudit(t.tx, e))
}

func (t boltTx) AddNotification(n storage.Notification) error {
	return named("add notification", notifications.insert(t.tx, n))
}

func (t boltTx) CreateAppPassword(p storage.AppPassword) error {
	return named("create app password", createAppPassword(t.tx, p))
}

func (t boltTx) DeleteAppPassword(id string) error {
	return named("delete app password", appPasswords.delete(t.tx, id))
}

func (t boltTx) DeleteUserAppPasswords(userID string) error {
	return named("delete user app passwords", appPasswords.deleteAll(t.tx, appPasswordsByUser, userID))
}

func (t boltTx) UpdateAppPassword(id string, update func(storage.AppPassword) (storage.AppPassword, error)) (storage.AppPassword, error) {
	p, err := appPasswords.update(t.tx, id, update)
	return p, named("update app password", err)
}
