package bbolt

import (
	"context"
	"fmt"
	"slices"
	"time"

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
	return db.update(ctx, "create exception", func(tx *bolt.Tx) error { return createException(tx, e) })
}

func createException(tx *bolt.Tx, e storage.Exception) error {
	if e.InForce(e.DecidedAt) {
		others, err := inForce(tx, e, e.DecidedAt)
		if err != nil {
			return err
		}
		if len(others) > 0 {
			return fmt.Errorf("exception %s is in force: %w", others[0].ID, storage.ErrConflict)
		}
	}
	return exceptions.insert(tx, e)
}

// inForce returns e's user's other exceptions in force at t.
func inForce(tx *bolt.Tx, e storage.Exception, t time.Time) ([]storage.Exception, error) {
	list, err := exceptions.under(tx, exceptionsByUser, e.UserID)
	return slices.DeleteFunc(list, func(o storage.Exception) bool { return o.ID == e.ID || !o.InForce(t) }), err
}

// GetException implements storage.Exceptions.
func (db *DB) GetException(ctx context.Context, id string) (storage.Exception, error) {
	return getRecord(ctx, db, exceptions, "get exception", id)
}

// UpdateException implements storage.Exceptions.
func (db *DB) UpdateException(ctx context.Context, id string, update func(storage.Exception) (storage.Exception, error)) (e storage.Exception, err error) {
	err = db.update(ctx, "update exception", func(tx *bolt.Tx) error {
		e, err = updateException(tx, id, update)
		return err
	})
	return e, err
}

// updateException updates an exception; one approved now ends the
// short-term exceptions in force that it replaces, and is refused while
// any other is in force.
func updateException(tx *bolt.Tx, id string, update func(storage.Exception) (storage.Exception, error)) (storage.Exception, error) {
	var approving bool
	e, err := exceptions.update(tx, id, func(old storage.Exception) (storage.Exception, error) {
		next, err := update(old)
		approving = !old.InForce(next.DecidedAt) && next.InForce(next.DecidedAt)
		return next, err
	})
	if err != nil || !approving {
		return e, err
	}
	others, err := inForce(tx, e, e.DecidedAt)
	if err != nil {
		return e, err
	}
	for _, o := range others {
		if !e.Replaces(o) {
			return e, fmt.Errorf("exception %s is in force: %w", o.ID, storage.ErrConflict)
		}
		replaced := o
		replaced.State, replaced.RevokedAt, replaced.RevokedBy = storage.ExceptionRevoked, e.DecidedAt, e.DecidedBy
		replaced.DecisionNote = "Replaced by long-term exception " + e.ID
		if err := exceptions.write(tx, exceptions.keys(o), replaced); err != nil {
			return e, err
		}
	}
	return e, nil
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
