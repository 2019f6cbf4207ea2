package bbolt

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	// The signing key set is one value, so a rotation replaces it whole.
	signingKeysBucket = []byte("signing_keys")
	signingKeysKey    = []byte("keys")
	secretsBucket     = []byte("secrets")
)

// ListSigningKeys implements storage.SigningKeys.
func (db *DB) ListSigningKeys(ctx context.Context) (keys []storage.SigningKey, err error) {
	err = db.view(ctx, "list signing keys", func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(signingKeysBucket), signingKeysKey, &keys)
	})
	return keys, err
}

// UpdateSigningKeys implements storage.SigningKeys.
func (db *DB) UpdateSigningKeys(ctx context.Context, update func([]storage.SigningKey) ([]storage.SigningKey, error)) (keys []storage.SigningKey, err error) {
	err = db.update(ctx, "update signing keys", func(tx *bolt.Tx) error {
		keys, err = updateJSON(tx.Bucket(signingKeysBucket), signingKeysKey, update)
		return err
	})
	return keys, err
}

// UpdateSecrets implements storage.Secrets.
func (db *DB) UpdateSecrets(ctx context.Context, purpose string, update func([]storage.Secret) ([]storage.Secret, error)) (secrets []storage.Secret, err error) {
	err = db.update(ctx, "update secrets", func(tx *bolt.Tx) error {
		secrets, err = updateJSON(tx.Bucket(secretsBucket), []byte(purpose), update)
		return err
	})
	return secrets, err
}

// getJSON decodes the value under key into v, leaving v alone when there is none.
func getJSON(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// updateJSON runs update on the value under key (the zero value when there
// is none) and stores the result.
func updateJSON[T any](b *bolt.Bucket, key []byte, update func(T) (T, error)) (T, error) {
	var old, zero T
	if err := getJSON(b, key, &old); err != nil {
		return zero, err
	}
	v, err := update(old)
	if err != nil {
		return zero, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return zero, err
	}
	return v, b.Put(key, data)
}

// settingsKey holds the Settings, one value in the meta bucket.
var settingsKey = []byte("settings")

// GetSettings implements storage.SettingsStore.
func (db *DB) GetSettings(ctx context.Context) (s storage.Settings, err error) {
	err = db.view(ctx, "get settings", func(tx *bolt.Tx) error {
		return getJSON(tx.Bucket(metaBucket), settingsKey, &s)
	})
	return s, err
}

// UpdateSettings implements storage.SettingsStore.
func (db *DB) UpdateSettings(ctx context.Context, update func(storage.Settings) (storage.Settings, error)) (s storage.Settings, err error) {
	err = db.update(ctx, "update settings", func(tx *bolt.Tx) error {
		s, err = updateJSON(tx.Bucket(metaBucket), settingsKey, update)
		return err
	})
	return s, err
}
