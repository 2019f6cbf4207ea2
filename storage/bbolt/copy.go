package bbolt

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// copyKind is how one lasting kind kept a record a key is read out of
// the file and counted. (Signing keys, secrets and settings are kept as
// one value each.)
type copyKind struct {
	kind   storage.Kind
	bucket []byte
	// export calls fn with the bucket's records, batch at a time.
	export func(ctx context.Context, tx *bolt.Tx, batch int, fn func(storage.Records) error) error
}

// copyKinds are the kinds kept a record a key, in storage.CopyKinds order.
var copyKinds = []copyKind{
	{storage.KindOrgUnits, orgUnits.bucket, exportOrgUnits},
	{storage.KindUsers, users.bucket, exporter(users.bucket, func(l []storage.User) storage.Records { return storage.Records{Users: l} })},
	{storage.KindMethods, methods.bucket, exporter(methods.bucket, func(l []storage.Method) storage.Records { return storage.Records{Methods: l} })},
	{storage.KindExceptions, exceptions.bucket, exporter(exceptions.bucket, func(l []storage.Exception) storage.Records { return storage.Records{Exceptions: l} })},
	{storage.KindClients, clients.bucket, exporter(clients.bucket, func(l []storage.Client) storage.Records { return storage.Records{Clients: l} })},
	{storage.KindRememberedDevices, devices.bucket, exporter(devices.bucket, func(l []storage.RememberedDevice) storage.Records {
		return storage.Records{RememberedDevices: l}
	})},
	{storage.KindAppPasswords, appPasswords.bucket, exporter(appPasswords.bucket, func(l []storage.AppPassword) storage.Records {
		return storage.Records{AppPasswords: l}
	})},
	{storage.KindRefreshTokens, refreshTokens.bucket, exporter(refreshTokens.bucket, func(l []storage.RefreshToken) storage.Records {
		return storage.Records{RefreshTokens: l}
	})},
	{storage.KindAccessTokens, accessTokens.bucket, exporter(accessTokens.bucket, func(l []storage.AccessToken) storage.Records {
		return storage.Records{AccessTokens: l}
	})},
	{storage.KindNotifications, notifications.bucket, exporter(notifications.bucket, func(l []storage.Notification) storage.Records {
		return storage.Records{Notifications: l}
	})},
	{storage.KindAudit, auditBucket, exporter(auditBucket, func(l []storage.AuditEvent) storage.Records { return storage.Records{Audit: l} })},
}

// Export implements storage.Copier. One read transaction is the snapshot;
// writers (there should be none) carry on beside it.
func (db *DB) Export(ctx context.Context, batch int, fn func(storage.Records) error) error {
	batch = max(batch, 1)
	return db.view(ctx, "export", func(tx *bolt.Tx) error {
		for _, k := range copyKinds {
			if err := k.export(ctx, tx, batch, fn); err != nil {
				return err
			}
		}
		var whole storage.Records
		if err := getJSON(tx.Bucket(signingKeysBucket), signingKeysKey, &whole.SigningKeys); err != nil {
			return err
		}
		if len(whole.SigningKeys) > 0 {
			if err := fn(storage.Records{SigningKeys: whole.SigningKeys}); err != nil {
				return err
			}
		}
		secrets, err := allSecrets(tx)
		if err != nil {
			return err
		}
		if len(secrets) > 0 {
			if err := fn(storage.Records{Secrets: secrets}); err != nil {
				return err
			}
		}
		if tx.Bucket(metaBucket).Get(settingsKey) != nil {
			var s storage.Settings
			if err := getJSON(tx.Bucket(metaBucket), settingsKey, &s); err != nil {
				return err
			}
			return fn(storage.Records{Settings: &s})
		}
		return nil
	})
}

// exportOrgUnits gives the units in tree order, which a bucket in id
// order is not. Units are few: they are read whole.
func exportOrgUnits(ctx context.Context, tx *bolt.Tx, batch int, fn func(storage.Records) error) error {
	list, err := orgUnits.all(tx)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(storage.TreeOrder(list), batch) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(storage.Records{OrgUnits: chunk}); err != nil {
			return err
		}
	}
	return nil
}

// exporter walks bucket in key order, decoding batch records at a time
// and calling fn with each batch as Records (made by wrap): however many
// records there are, one batch is held at once.
func exporter[T any](bucket []byte, wrap func([]T) storage.Records) func(context.Context, *bolt.Tx, int, func(storage.Records) error) error {
	return func(ctx context.Context, tx *bolt.Tx, batch int, fn func(storage.Records) error) error {
		var list []T
		flush := func() error {
			if len(list) == 0 {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			err := fn(wrap(list))
			list = nil // fn may keep the batch
			return err
		}
		c := tx.Bucket(bucket).Cursor()
		for k, data := c.First(); k != nil; k, data = c.Next() {
			var v T
			if err := json.Unmarshal(data, &v); err != nil {
				return fmt.Errorf("decode %s %x: %w", bucket, k, err)
			}
			list = append(list, v)
			if len(list) == batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	}
}

// allSecrets reads every purpose's secrets.
func allSecrets(tx *bolt.Tx) (map[string][]storage.Secret, error) {
	secrets := map[string][]storage.Secret{}
	err := tx.Bucket(secretsBucket).ForEach(func(k, _ []byte) error {
		var list []storage.Secret
		if err := getJSON(tx.Bucket(secretsBucket), k, &list); err != nil {
			return err
		}
		if len(list) > 0 {
			secrets[string(k)] = list
		}
		return nil
	})
	return secrets, err
}

// Restore implements storage.Copier: every record goes through the
// insert its kind's own writes use, so every index entry is made as
// theirs are; the one write commits them all or none.
func (db *DB) Restore(ctx context.Context, r storage.Records) error {
	return db.update(ctx, "restore", func(tx *bolt.Tx) error { return restore(tx, r) })
}

func restore(tx *bolt.Tx, r storage.Records) error {
	for _, ou := range r.OrgUnits {
		if err := checkParent(tx, ou); err != nil {
			return fmt.Errorf("org unit %s: %w", ou.ID, err)
		}
		if err := orgUnits.insert(tx, ou); err != nil {
			return fmt.Errorf("org unit %s: %w", ou.ID, err)
		}
	}
	for _, u := range r.Users {
		if err := insertUser(tx, u); err != nil {
			return fmt.Errorf("user %s: %w", u.ID, err)
		}
	}
	for _, insert := range []func() error{
		func() error { return insertAll(tx, methods, "method", r.Methods) },
		func() error { return insertAll(tx, exceptions, "exception", r.Exceptions) },
		func() error { return insertAll(tx, clients, "client", r.Clients) },
		func() error { return insertAll(tx, devices, "remembered device", r.RememberedDevices) },
		func() error { return insertAll(tx, appPasswords, "app password", r.AppPasswords) },
		func() error { return insertAll(tx, refreshTokens, "refresh token", r.RefreshTokens) },
		func() error { return insertAll(tx, accessTokens, "access token", r.AccessTokens) },
		func() error { return insertAll(tx, notifications, "notification", r.Notifications) },
	} {
		if err := insert(); err != nil {
			return err
		}
	}
	for _, e := range r.Audit {
		if err := restoreAudit(tx, e); err != nil {
			return fmt.Errorf("audit event %s: %w", e.ID, err)
		}
	}
	if len(r.SigningKeys) > 0 {
		if err := putNew(tx.Bucket(signingKeysBucket), signingKeysKey, r.SigningKeys); err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
	}
	for purpose, list := range r.Secrets {
		if err := putNew(tx.Bucket(secretsBucket), []byte(purpose), list); err != nil {
			return fmt.Errorf("%s secrets: %w", purpose, err)
		}
	}
	if r.Settings != nil {
		if err := putNew(tx.Bucket(metaBucket), settingsKey, *r.Settings); err != nil {
			return fmt.Errorf("settings: %w", err)
		}
	}
	return nil
}

// insertAll inserts each record of list, as the kind's create does
// without its checks between records.
func insertAll[T any](tx *bolt.Tx, t *table[T], what string, list []T) error {
	for _, v := range list {
		if err := t.insert(tx, v); err != nil {
			return fmt.Errorf("%s %s: %w", what, t.id(v), err)
		}
	}
	return nil
}

// restoreAudit stores e under the key its ID names (the hex of a key
// this backend or the PostgreSQL one made: the event's time, then its
// sequence number), and moves the sequence past it, so that an event
// appended later at the same moment gets a key of its own.
func restoreAudit(tx *bolt.Tx, e storage.AuditEvent) error {
	key, err := hex.DecodeString(e.ID)
	if err != nil || len(key) != auditKeyLen || hex.EncodeToString(key) != e.ID {
		return errors.New("the id is not one Gatehouse made")
	}
	b := tx.Bucket(auditBucket)
	if b.Get(key) != nil {
		return storage.ErrAlreadyExists
	}
	if seq := binary.BigEndian.Uint64(key[8:]); seq > b.Sequence() {
		if err := b.SetSequence(seq); err != nil {
			return err
		}
	}
	return storeAudit(tx, key, e)
}

// putNew stores v under key, refusing a key that holds a value already.
func putNew(b *bolt.Bucket, key []byte, v any) error {
	if b.Get(key) != nil {
		return storage.ErrAlreadyExists
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// Count implements storage.Copier. A bucket's key count comes from its
// pages, without decoding a record.
func (db *DB) Count(ctx context.Context) (c storage.Counts, err error) {
	err = db.view(ctx, "count", func(tx *bolt.Tx) error {
		c = storage.Counts{}
		for _, k := range copyKinds {
			c[k.kind] = tx.Bucket(k.bucket).Stats().KeyN
		}
		var keys []storage.SigningKey
		if err := getJSON(tx.Bucket(signingKeysBucket), signingKeysKey, &keys); err != nil {
			return err
		}
		c[storage.KindSigningKeys] = len(keys)
		secrets, err := allSecrets(tx)
		if err != nil {
			return err
		}
		c[storage.KindSecrets] = storage.Records{Secrets: secrets}.Counts()[storage.KindSecrets]
		if tx.Bucket(metaBucket).Get(settingsKey) != nil {
			c[storage.KindSettings] = 1
		}
		return nil
	})
	return c, err
}
