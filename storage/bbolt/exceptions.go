package bbolt

import (
	"context"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	exceptionsByUser  = multi("exceptions_by_user", func(e storage.Exception) string { return e.UserID })
	exceptionsByState = multi("exceptions_by_state", func(e storage.Exception) string { return e.State })
	exceptions        = newTable("exceptions", func(e storage.Exception) string { return e.ID }, exceptionsByUser, exceptionsByState)
)

// CreateException implements storage.Exceptions.
func (db *DB) CreateException(ctx context.Context, e storage.Exception) error {
	return createRecord(ctx, db.update, exceptions, "create exception", e)
}

// GetException implements storage.Exceptions.
func (db *DB) GetException(ctx context.Context, id string) (storage.Exception, error) {
	return getRecord(ctx, db, exceptions, "get exception", id)
}

// UpdateException implements storage.Exceptions.
func (db *DB) UpdateException(ctx context.Context, id string, update func(storage.Exception) (storage.Exception, error)) (storage.Exception, error) {
	return updateRecord(ctx, db.update, exceptions, "update exception", id, update)
}

// ListUserExceptions implements storage.Exceptions.
func (db *DB) ListUserExceptions(ctx context.Context, userID string) (list []storage.Exception, err error) {
	err = db.view(ctx, "list user exceptions", func(tx *bolt.Tx) (err error) {
		list, err = exceptions.under(tx, exceptionsByUser, userID)
		return err
	})
	return list, err
}

// ListExceptions implements storage.Exceptions.
func (db *DB) ListExceptions(ctx context.Context, state string) (list []storage.Exception, err error) {
	err = db.view(ctx, "list exceptions", func(tx *bolt.Tx) (err error) {
		list, err = exceptions.under(tx, exceptionsByState, state)
		return err
	})
	return list, err
}
