package bbolt

import (
	"context"
	"encoding/base64"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	devicesByBrowser = unique("remembered_devices_by_browser", func(d storage.RememberedDevice) string {
		return browserKey(d.UserID, d.BrowserHash)
	})
	devicesByUser = multi("remembered_devices_by_user", func(d storage.RememberedDevice) string { return d.UserID })
	devices       = newTable("remembered_devices", func(d storage.RememberedDevice) string { return d.ID },
		devicesByBrowser, devicesByUser,
		expiry("remembered_devices_by_expiry", func(d storage.RememberedDevice) time.Time { return d.ExpiresAt }))
)

// browserKey is the by-browser index key of userID's device in the browser
// whose cookie hashes to browserHash.
func browserKey(userID string, browserHash []byte) string {
	return userID + "\x00" + base64.RawURLEncoding.EncodeToString(browserHash)
}

// RememberDevice implements storage.RememberedDevices.
func (db *DB) RememberDevice(ctx context.Context, d storage.RememberedDevice) (stored storage.RememberedDevice, err error) {
	err = db.update(ctx, "remember device", func(tx *bolt.Tx) error {
		old, err := devices.lookup(tx, devicesByBrowser, browserKey(d.UserID, d.BrowserHash))
		if errors.Is(err, storage.ErrNotFound) {
			stored = d
			return devices.insert(tx, d)
		}
		if err != nil {
			return err
		}
		d.ID = old.ID
		stored, err = devices.update(tx, old.ID, func(storage.RememberedDevice) (storage.RememberedDevice, error) { return d, nil })
		return err
	})
	return stored, err
}

// GetRememberedDevice implements storage.RememberedDevices.
func (db *DB) GetRememberedDevice(ctx context.Context, id string) (storage.RememberedDevice, error) {
	return getRecord(ctx, db, devices, "get remembered device", id)
}

// FindRememberedDevice implements storage.RememberedDevices.
func (db *DB) FindRememberedDevice(ctx context.Context, userID string, browserHash []byte) (d storage.RememberedDevice, err error) {
	err = db.view(ctx, "find remembered device", func(tx *bolt.Tx) (err error) {
		d, err = devices.lookup(tx, devicesByBrowser, browserKey(userID, browserHash))
		return err
	})
	return d, err
}

// ListUserRememberedDevices implements storage.RememberedDevices.
func (db *DB) ListUserRememberedDevices(ctx context.Context, userID string) (list []storage.RememberedDevice, err error) {
	err = db.view(ctx, "list remembered devices", func(tx *bolt.Tx) (err error) {
		list, err = devices.under(tx, devicesByUser, userID)
		return err
	})
	return list, err
}

// DeleteRememberedDevice implements storage.RememberedDevices.
func (db *DB) DeleteRememberedDevice(ctx context.Context, id string) error {
	return deleteRecord(ctx, db, devices, "delete remembered device", id)
}

// DeleteUserRememberedDevices implements storage.RememberedDevices.
func (db *DB) DeleteUserRememberedDevices(ctx context.Context, userID string) error {
	return db.update(ctx, "delete remembered devices", func(tx *bolt.Tx) error {
		return devices.deleteAll(tx, devicesByUser, userID)
	})
}
