package bbolt

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	methodsByUser = multi("methods_by_user", func(m storage.Method) string { return m.UserID })
	methods       = newTable("methods", func(m storage.Method) string { return m.ID }, methodsByUser,
		expiryIfSet("methods_by_expiry", func(m storage.Method) time.Time { return m.ExpiresAt }))

	challenges = newTable("challenges", func(c storage.Challenge) string { return c.ID },
		expiry("challenges_by_expiry", func(c storage.Challenge) time.Time { return c.ExpiresAt }))
)

// CreateMethod implements storage.Methods.
func (db *DB) CreateMethod(ctx context.Context, m storage.Method) error {
	return db.update(ctx, "create method", func(tx *bolt.Tx) error { return createMethod(tx, m) })
}

func createMethod(tx *bolt.Tx, m storage.Method) error {
	if !m.ExpiresAt.IsZero() {
		list, err := methods.under(tx, methodsByUser, m.UserID)
		if err != nil {
			return err
		}
		for _, o := range list {
			if o.Type == m.Type && o.LiveAt(m.CreatedAt) && !o.ExpiresAt.IsZero() {
				return fmt.Errorf("a temporary %s method is live: %w", m.Type, storage.ErrConflict)
			}
		}
	}
	return methods.insert(tx, m)
}

// GetMethod implements storage.Methods.
func (db *DB) GetMethod(ctx context.Context, id string) (storage.Method, error) {
	return getRecord(ctx, db, methods, "get method", id)
}

// ListUserMethods implements storage.Methods.
func (db *DB) ListUserMethods(ctx context.Context, userID string) (list []storage.Method, err error) {
	err = db.view(ctx, "list user methods", func(tx *bolt.Tx) (err error) {
		list, err = methods.under(tx, methodsByUser, userID)
		return err
	})
	return list, err
}

// UpdateMethod implements storage.Methods. It is a hot write: every
// second-factor check records its use here.
func (db *DB) UpdateMethod(ctx context.Context, id string, update func(storage.Method) (storage.Method, error)) (storage.Method, error) {
	return updateRecord(ctx, db, methods, "update method", id, update)
}

// DeleteMethod implements storage.Methods.
func (db *DB) DeleteMethod(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, methods, "delete method", id)
}

// DeleteUserMethods implements storage.Methods.
func (db *DB) DeleteUserMethods(ctx context.Context, userID string) error {
	return db.update(ctx, "delete user methods", func(tx *bolt.Tx) error {
		return methods.deleteAll(tx, methodsByUser, userID)
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

// UpdateChallenge implements storage.Challenges.
func (db *DB) UpdateChallenge(ctx context.Context, id string, update func(storage.Challenge) (storage.Challenge, error)) (storage.Challenge, error) {
	return updateRecord(ctx, db, challenges, "update challenge", id, update)
}

// DeleteChallenge implements storage.Challenges.
func (db *DB) DeleteChallenge(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, challenges, "delete challenge", id)
}
