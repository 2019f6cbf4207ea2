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
	err = db.batch(ctx, "update attempts", func(tx *bolt.Tx) error {
		old, err := attempts.get(tx, key)
		stored := err == nil
		if errors.Is(err, storage.ErrNotFound) {
			old, err = storage.Attempts{Key: key}, nil
		}
		if err != nil {
			return err
		}
		if a, err = update(old); err != nil {
			return err
		}
		switch {
		case a.Key != key:
			return errors.New("update must not change the key")
		case a.Empty() && stored:
			return attempts.remove(tx, old)
		case a.Empty():
			return nil
		case stored:
			return attempts.write(tx, &old, a)
		default:
			return attempts.insert(tx, a)
		}
	})
	if err != nil {
		return storage.Attempts{}, err
	}
	return a, nil
}
