package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	methods = newTable("methods", func(m storage.Method) string { return m.ID }, false,
		col("user_id", func(m storage.Method) any { return text(m.UserID) }),
		col("expires_ns", func(m storage.Method) any { return nanosIfSet(m.ExpiresAt) }))

	challenges = newTable("challenges", func(c storage.Challenge) string { return c.ID }, false,
		col("expires_ns", func(c storage.Challenge) any { return nanos(c.ExpiresAt) }))

	exceptions = newTable("exceptions", func(e storage.Exception) string { return e.ID }, false,
		col("user_id", func(e storage.Exception) any { return text(e.UserID) }),
		col("state", func(e storage.Exception) any { return text(e.State) }))

	appPasswords = newTable("app_passwords", func(p storage.AppPassword) string { return p.ID }, false,
		col("user_id", func(p storage.AppPassword) any { return text(p.UserID) }))
)

// CreateMethod implements storage.Methods.
func (db *DB) CreateMethod(ctx context.Context, m storage.Method) error {
	return db.write(ctx, "create method", func(tx pgx.Tx) error { return createMethod(ctx, tx, m) })
}

// createMethod: a temporary method is created under the advisory lock
// "methods/<user>/temporary", taken before the user's methods are read,
// so two issued at once are checked one after the other and the second
// sees the first: one live temporary method of a type at a time.
func createMethod(ctx context.Context, tx pgx.Tx, m storage.Method) error {
	if !m.ExpiresAt.IsZero() {
		if err := lock(ctx, tx, "methods/"+m.UserID+"/temporary"); err != nil {
			return err
		}
		list, err := methods.where(ctx, tx, "user_id = $1", text(m.UserID))
		if err != nil {
			return err
		}
		for _, o := range list {
			if o.Type == m.Type && o.LiveAt(m.CreatedAt) && !o.ExpiresAt.IsZero() {
				return fmt.Errorf("a temporary %s method is live: %w", m.Type, storage.ErrConflict)
			}
		}
	}
	return methods.insert(ctx, tx, m)
}

// GetMethod implements storage.Methods.
func (db *DB) GetMethod(ctx context.Context, id string) (storage.Method, error) {
	return getRecord(ctx, db, methods, "get method", id)
}

// ListUserMethods implements storage.Methods.
func (db *DB) ListUserMethods(ctx context.Context, userID string) ([]storage.Method, error) {
	return listWhere(ctx, db, methods, "list user methods", `user_id = $1 ORDER BY id COLLATE "C"`, text(userID))
}

// UpdateMethod implements storage.Methods. The row is locked while update
// runs, so two TOTP checks of one method queue, and the second sees the
// LastStep the first stored: a code is accepted once.
func (db *DB) UpdateMethod(ctx context.Context, id string, update func(storage.Method) (storage.Method, error)) (storage.Method, error) {
	return updateRecord(ctx, db, methods, "update method", id, update)
}

// DeleteMethod implements storage.Methods.
func (db *DB) DeleteMethod(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, methods, "delete method", id)
}

// DeleteUserMethods implements storage.Methods.
func (db *DB) DeleteUserMethods(ctx context.Context, userID string) error {
	return db.write(ctx, "delete user methods", func(tx pgx.Tx) error {
		return methods.deleteWhere(ctx, tx, "user_id = $1", text(userID))
	})
}

// CreateChallenge implements storage.Challenges.
func (db *DB) CreateChallenge(ctx context.Context, c storage.Challenge) error {
	return createRecord(ctx, db, challenges, "create challenge", c)
}

// GetChallenge implements storage.Challenges.
func (db *DB) GetChallenge(ctx context.Context, id string) (storage.Challenge, error) {
	return getRecord(ctx, db, challenges, "get challenge", id)
}

// UpdateChallenge implements storage.Challenges. The row is locked while
// update runs, so answers to one challenge queue: each sees the guesses
// counted before it, and once one has deleted the challenge (it was
// answered) the next finds it gone: a challenge is answered once.
func (db *DB) UpdateChallenge(ctx context.Context, id string, update func(storage.Challenge) (storage.Challenge, error)) (storage.Challenge, error) {
	return updateRecord(ctx, db, challenges, "update challenge", id, update)
}

// DeleteChallenge implements storage.Challenges.
func (db *DB) DeleteChallenge(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, challenges, "delete challenge", id)
}

// CreateException implements storage.Exceptions.
func (db *DB) CreateException(ctx context.Context, e storage.Exception) error {
	return db.write(ctx, "create exception", func(tx pgx.Tx) error { return createException(ctx, tx, e) })
}

// createException: one in force is created under the user's exception
// lock (see inForce), so it sees any other made in force at the same time.
func createException(ctx context.Context, tx pgx.Tx, e storage.Exception) error {
	if e.InForce(e.DecidedAt) {
		others, err := inForce(ctx, tx, e, e.DecidedAt)
		if err != nil {
			return err
		}
		if len(others) > 0 {
			return fmt.Errorf("exception %s is in force: %w", others[0].ID, storage.ErrConflict)
		}
	}
	return exceptions.insert(ctx, tx, e)
}

// inForce takes the advisory lock "exceptions/<user>", held until the
// transaction ends, then returns e's user's other exceptions in force at
// t. Every write that puts an exception in force takes the lock first, so
// for each user they run one at a time, and each reads what the one
// before committed: a user never has two in force.
func inForce(ctx context.Context, tx pgx.Tx, e storage.Exception, t time.Time) ([]storage.Exception, error) {
	if err := lock(ctx, tx, "exceptions/"+e.UserID); err != nil {
		return nil, err
	}
	list, err := exceptions.where(ctx, tx, "user_id = $1", text(e.UserID))
	return slices.DeleteFunc(list, func(o storage.Exception) bool { return o.ID == e.ID || !o.InForce(t) }), err
}

// GetException implements storage.Exceptions.
func (db *DB) GetException(ctx context.Context, id string) (storage.Exception, error) {
	return getRecord(ctx, db, exceptions, "get exception", id)
}

// UpdateException implements storage.Exceptions.
func (db *DB) UpdateException(ctx context.Context, id string, update func(storage.Exception) (storage.Exception, error)) (e storage.Exception, err error) {
	err = db.write(ctx, "update exception", func(tx pgx.Tx) error {
		e, err = updateException(ctx, tx, id, update)
		return err
	})
	return e, err
}

// updateException updates an exception; one approved now ends the
// short-term exceptions in force that it replaces, and is refused while
// any other is in force. Approving takes the user's exception lock (see
// inForce).
func updateException(ctx context.Context, tx pgx.Tx, id string, update func(storage.Exception) (storage.Exception, error)) (storage.Exception, error) {
	var approving bool
	e, err := exceptions.update(ctx, tx, id, func(old storage.Exception) (storage.Exception, error) {
		next, err := update(old)
		approving = !old.InForce(next.DecidedAt) && next.InForce(next.DecidedAt)
		return next, err
	})
	if err != nil || !approving {
		return e, err
	}
	others, err := inForce(ctx, tx, e, e.DecidedAt)
	if err != nil {
		return e, err
	}
	for _, o := range others {
		if !e.Replaces(o) {
			return e, fmt.Errorf("exception %s is in force: %w", o.ID, storage.ErrConflict)
		}
		// Revoked through update, its row locked, so that a change made
		// to it since it was read is not lost.
		if _, err := exceptions.update(ctx, tx, o.ID, func(o storage.Exception) (storage.Exception, error) {
			if o.InForce(e.DecidedAt) {
				o.State, o.RevokedAt, o.RevokedBy = storage.ExceptionRevoked, e.DecidedAt, e.DecidedBy
				o.DecisionNote = "Replaced by long-term exception " + e.ID
			}
			return o, nil
		}); err != nil {
			return e, err
		}
	}
	return e, nil
}

// ListUserExceptions implements storage.Exceptions.
func (db *DB) ListUserExceptions(ctx context.Context, userID string) ([]storage.Exception, error) {
	return listWhere(ctx, db, exceptions, "list user exceptions", `user_id = $1 ORDER BY id COLLATE "C"`, text(userID))
}

// ListExceptions implements storage.Exceptions.
func (db *DB) ListExceptions(ctx context.Context, state string) ([]storage.Exception, error) {
	return listWhere(ctx, db, exceptions, "list exceptions", `state = $1 ORDER BY id COLLATE "C"`, text(state))
}

// CreateAppPassword implements storage.AppPasswords.
func (db *DB) CreateAppPassword(ctx context.Context, p storage.AppPassword) error {
	return db.write(ctx, "create app password", func(tx pgx.Tx) error { return createAppPassword(ctx, tx, p) })
}

// createAppPassword counts the user's under the advisory lock
// "app_passwords/<user>", so two created at once are counted one after the
// other and cannot pass the limit together.
func createAppPassword(ctx context.Context, tx pgx.Tx, p storage.AppPassword) error {
	if err := lock(ctx, tx, "app_passwords/"+p.UserID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM app_passwords WHERE user_id = $1", text(p.UserID)).Scan(&n); err != nil {
		return err
	}
	if n >= storage.MaxAppPasswords {
		return fmt.Errorf("user %s holds %d app passwords: %w", p.UserID, n, storage.ErrConflict)
	}
	return appPasswords.insert(ctx, tx, p)
}

// ListUserAppPasswords implements storage.AppPasswords.
func (db *DB) ListUserAppPasswords(ctx context.Context, userID string) ([]storage.AppPassword, error) {
	return listWhere(ctx, db, appPasswords, "list app passwords", `user_id = $1 ORDER BY id COLLATE "C"`, text(userID))
}

// UpdateAppPassword implements storage.AppPasswords.
func (db *DB) UpdateAppPassword(ctx context.Context, id string, update func(storage.AppPassword) (storage.AppPassword, error)) (storage.AppPassword, error) {
	return updateRecord(ctx, db, appPasswords, "update app password", id, update)
}

// DeleteAppPassword implements storage.AppPasswords.
func (db *DB) DeleteAppPassword(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, appPasswords, "delete app password", id)
}

// DeleteUserAppPasswords implements storage.AppPasswords.
func (db *DB) DeleteUserAppPasswords(ctx context.Context, userID string) error {
	return db.write(ctx, "delete user app passwords", func(tx pgx.Tx) error {
		return appPasswords.deleteWhere(ctx, tx, "user_id = $1", text(userID))
	})
}
