package bbolt

import (
	"context"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var attempts = newTable("attempts", func(a storage.Attempts) string { return a.Key },
	expiry("attempts_by_expiry", func(a storage.Attempts) time.Time { return a.ExpiresAt }))

// GetAttempts implements storage.Throttle.
func (db *DB) GetAttempts(ctx context.Context, key string) (storage.Attempts, error) {
	return getRecord(ctx, db, attempts, "get attempts", key)
}

// UpdateAttempts implements storage.Throttle.
func (db *DB) UpdateAttempts(ctx context.Context, key string, update func(storage.Attempts) (storage.Attempts, error)) (a storage.Attempts, err error) {
	err = db.update(ctx, "update attempts", func(tx *bolt.Tx) error {
		a, err = updateAttempts(tx, key, update)
		return err
	})
	if err != nil {
		return storage.Attempts{}, err
	}
	return a, nil
}

// updateAttempts is UpdateAttempts in tx: a record left empty is removed.
func updateAttempts(tx *bolt.Tx, key string, update func(storage.Attempts) (storage.Attempts, error)) (storage.Attempts, error) {
	old, err := attempts.get(tx, key)
	stored := err == nil
	if errors.Is(err, storage.ErrNotFound) {
		old, err = storage.Attempts{Key: key}, nil
	}
	if err != nil {
		return old, err
	}
	a, err := update(old)
	if err != nil {
		return a, err
	}
	switch {
	case a.Key != key:
		return a, errors.New("update must not change the key")
	case a.Empty() && stored:
		return a, attempts.remove(tx, old)
	case a.Empty():
		return a, nil
	case stored:
		return a, attempts.write(tx, attempts.keys(old), a)
	default:
		return a, attempts.insert(tx, a)
	}
}
