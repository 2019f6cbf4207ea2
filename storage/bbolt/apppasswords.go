package bbolt

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	appPasswordsByUser = multi("app_passwords_by_user", func(p storage.AppPassword) string { return p.UserID })
	appPasswords       = newTable("app_passwords", func(p storage.AppPassword) string { return p.ID }, appPasswordsByUser)
)

// CreateAppPassword implements storage.AppPasswords.
func (db *DB) CreateAppPassword(ctx context.Context, p storage.AppPassword) error {
	return db.update(ctx, "create app password", func(tx *bolt.Tx) error { return createAppPassword(tx, p) })
}

// createAppPassword counts the user's in the same transaction, so that two
// at once cannot pass the limit.
func createAppPassword(tx *bolt.Tx, p storage.AppPassword) error {
	if n := len(appPasswordsByUser.ids(tx, p.UserID, storage.MaxAppPasswords)); n >= storage.MaxAppPasswords {
		return fmt.Errorf("user %s holds %d app passwords: %w", p.UserID, n, storage.ErrConflict)
	}
	return appPasswords.insert(tx, p)
}

// ListUserAppPasswords implements storage.AppPasswords.
func (db *DB) ListUserAppPasswords(ctx context.Context, userID string) (list []storage.AppPassword, err error) {
	err = db.view(ctx, "list app passwords", func(tx *bolt.Tx) (err error) {
		list, err = appPasswords.under(tx, appPasswordsByUser, userID)
		return err
	})
	return list, err
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
	return db.update(ctx, "delete user app passwords", func(tx *bolt.Tx) error {
		return appPasswords.deleteAll(tx, appPasswordsByUser, userID)
	})
}
