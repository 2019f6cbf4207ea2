package bbolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// table stores the records of one kind as JSON under their id, and keeps the
// kind's index buckets in step with every write, so no caller can forget one.
type table[T any] struct {
	bucket  []byte
	id      func(T) string
	indexes []index[T]
}

// index is a secondary-index bucket. A unique index maps key -> id, so a
// lookup is one B-tree search. Any other index stores key\x00id with an empty
// value, so the ids under one key are a cursor range found with Seek. Ids
// never contain \x00 (insert refuses them), which keeps that range exact.
type index[T any] struct {
	bucket []byte
	unique bool
	// expiry marks the index DeleteExpired walks; its keys start with
	// timeKey(ExpiresAt), so the expired records are a prefix of the bucket.
	expiry bool
	key    func(T) string // "" leaves the record out of the index
}

func newTable[T any](name string, id func(T) string, indexes ...index[T]) *table[T] {
	return &table[T]{bucket: []byte(name), id: id, indexes: indexes}
}

func unique[T any](bucket string, key func(T) string) index[T] {
	return index[T]{bucket: []byte(bucket), unique: true, key: key}
}

func multi[T any](bucket string, key func(T) string) index[T] {
	return index[T]{bucket: []byte(bucket), key: key}
}

func expiry[T any](bucket string, at func(T) time.Time) index[T] {
	return index[T]{bucket: []byte(bucket), expiry: true, key: func(v T) string { return string(timeKey(at(v))) }}
}

// expiryIfSet is expiry for records that may last for ever: one whose
// expiry is zero stays out of the index.
func expiryIfSet[T any](bucket string, at func(T) time.Time) index[T] {
	return index[T]{bucket: []byte(bucket), expiry: true, key: func(v T) string {
		if at(v).IsZero() {
			return ""
		}
		return string(timeKey(at(v)))
	}}
}

// timeKey is the big-endian unix nanoseconds of t, so keys sort by time.
// Times before 1970, the zero time among them, sort first: a record that does
// not say when it expires counts as expired, as RedeemAuthCode treats it.
func timeKey(t time.Time) []byte {
	var n uint64
	switch {
	case t.Before(time.Unix(0, 0)):
	case t.After(time.Unix(0, math.MaxInt64)):
		n = math.MaxInt64
	default:
		n = uint64(t.UnixNano())
	}
	return binary.BigEndian.AppendUint64(nil, n)
}

// buckets names every bucket the table uses, for Open to create.
func (t *table[T]) buckets() [][]byte {
	names := [][]byte{t.bucket}
	for _, ix := range t.indexes {
		names = append(names, ix.bucket)
	}
	return names
}

func (t *table[T]) get(tx *bolt.Tx, id string) (T, error) {
	var v T
	data := tx.Bucket(t.bucket).Get([]byte(id))
	if data == nil {
		return v, storage.ErrNotFound
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("decode %s: %w", t.bucket, err)
	}
	return v, nil
}

func (t *table[T]) insert(tx *bolt.Tx, v T) error {
	id := t.id(v)
	if id == "" || strings.Contains(id, "\x00") {
		return fmt.Errorf("invalid id %q", id)
	}
	if tx.Bucket(t.bucket).Get([]byte(id)) != nil {
		return storage.ErrAlreadyExists
	}
	return t.write(tx, nil, v)
}

// keys are v's index keys, one per index, for write to compare: taken
// before v is changed, since a change through a pointer field changes
// every copy of v.
func (t *table[T]) keys(v T) []string {
	keys := make([]string, len(t.indexes))
	for i, ix := range t.indexes {
		keys[i] = ix.key(v)
	}
	return keys
}

// write stores v over the record whose index keys were oldKeys (nil for a
// new record), moving the index entries whose key changed. A unique key
// held by another record is ErrAlreadyExists; the caller's transaction
// then rolls back whatever write already did.
func (t *table[T]) write(tx *bolt.Tx, oldKeys []string, v T) error {
	id := t.id(v)
	for i, ix := range t.indexes {
		b := tx.Bucket(ix.bucket)
		key := ix.key(v)
		if oldKeys != nil {
			oldKey := oldKeys[i]
			if oldKey == key {
				continue
			}
			if oldKey != "" {
				if err := b.Delete(ix.entry(oldKey, id)); err != nil {
					return err
				}
			}
		}
		if key == "" {
			continue
		}
		if ix.unique {
			if owner := b.Get([]byte(key)); owner != nil && string(owner) != id {
				return storage.ErrAlreadyExists
			}
			if err := b.Put([]byte(key), []byte(id)); err != nil {
				return err
			}
			continue
		}
		if err := b.Put(ix.entry(key, id), []byte{}); err != nil {
			return err
		}
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", t.bucket, err)
	}
	return tx.Bucket(t.bucket).Put([]byte(id), data)
}

func (t *table[T]) delete(tx *bolt.Tx, id string) error {
	old, err := t.get(tx, id)
	if err != nil {
		return err
	}
	return t.remove(tx, old)
}

// remove deletes old, a record the caller has just read, and its index
// entries, without reading it again.
func (t *table[T]) remove(tx *bolt.Tx, old T) error {
	id := t.id(old)
	for _, ix := range t.indexes {
		if key := ix.key(old); key != "" {
			if err := tx.Bucket(ix.bucket).Delete(ix.entry(key, id)); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(t.bucket).Delete([]byte(id))
}

// update runs fn on the stored record inside the caller's transaction; an
// error from fn is returned before anything is written.
func (t *table[T]) update(tx *bolt.Tx, id string, fn func(T) (T, error)) (T, error) {
	var zero T
	old, err := t.get(tx, id)
	if err != nil {
		return zero, err
	}
	oldKeys := t.keys(old)
	v, err := fn(old)
	if err != nil {
		return zero, err
	}
	if t.id(v) != id {
		return zero, errors.New("update must not change the id")
	}
	if err := t.write(tx, oldKeys, v); err != nil {
		return zero, err
	}
	return v, nil
}

// all returns every record in id order.
func (t *table[T]) all(tx *bolt.Tx) ([]T, error) {
	var list []T
	err := tx.Bucket(t.bucket).ForEach(func(_, data []byte) error {
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("decode %s: %w", t.bucket, err)
		}
		list = append(list, v)
		return nil
	})
	return list, err
}

// lookup finds a record through a unique index.
func (t *table[T]) lookup(tx *bolt.Tx, ix index[T], key string) (T, error) {
	id := tx.Bucket(ix.bucket).Get([]byte(key))
	if id == nil {
		var zero T
		return zero, storage.ErrNotFound
	}
	return t.get(tx, string(id))
}

// under returns the records an index holds under key.
func (t *table[T]) under(tx *bolt.Tx, ix index[T], key string) ([]T, error) {
	var list []T
	for _, id := range ix.ids(tx, key, 0) {
		v, err := t.get(tx, id)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, nil
}

// deleteAll deletes the records a non-unique index holds under key.
func (t *table[T]) deleteAll(tx *bolt.Tx, ix index[T], key string) error {
	for _, id := range ix.ids(tx, key, 0) {
		if err := t.delete(tx, id); err != nil {
			return err
		}
	}
	return nil
}

// deleteExpired deletes the records whose ExpiresAt is not after now: a
// prefix of the expiry index, so the cost follows what is deleted.
func (t *table[T]) deleteExpired(tx *bolt.Tx, now time.Time) (int, error) {
	var ids []string
	for _, ix := range t.indexes {
		if !ix.expiry {
			continue
		}
		end := timeKey(now)
		// Collect first: deleting under a live cursor can skip keys.
		c := tx.Bucket(ix.bucket).Cursor()
		for k, _ := c.First(); k != nil && bytes.Compare(k[:8], end) <= 0; k, _ = c.Next() {
			ids = append(ids, string(k[9:]))
		}
	}
	for _, id := range ids {
		if err := t.delete(tx, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// entry is the key a record id has in the index under key.
func (ix index[T]) entry(key, id string) []byte {
	if ix.unique {
		return []byte(key)
	}
	return []byte(key + "\x00" + id)
}

// ids returns the ids under key in a non-unique index, at most limit of them
// (all for limit 0).
func (ix index[T]) ids(tx *bolt.Tx, key string, limit int) []string {
	prefix := []byte(key + "\x00")
	var ids []string
	c := tx.Bucket(ix.bucket).Cursor()
	for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rest := k[len(prefix):]
		if bytes.IndexByte(rest, 0) >= 0 {
			continue // a longer key that happens to start with key\x00
		}
		ids = append(ids, string(rest))
		if len(ids) == limit {
			break
		}
	}
	return ids
}

// The helpers below are the plain storage methods: one table operation in
// one transaction, named op in errors.

func createRecord[T any](ctx context.Context, db *DB, t *table[T], op string, v T) error {
	return db.update(ctx, op, func(tx *bolt.Tx) error { return t.insert(tx, v) })
}

func getRecord[T any](ctx context.Context, db *DB, t *table[T], op, id string) (v T, err error) {
	err = db.view(ctx, op, func(tx *bolt.Tx) error {
		v, err = t.get(tx, id)
		return err
	})
	return v, err
}

func updateRecord[T any](ctx context.Context, db *DB, t *table[T], op, id string, fn func(T) (T, error)) (v T, err error) {
	err = db.update(ctx, op, func(tx *bolt.Tx) error {
		v, err = t.update(tx, id, fn)
		return err
	})
	return v, err
}

func deleteRecord[T any](ctx context.Context, db *DB, t *table[T], op, id string) error {
	return db.update(ctx, op, func(tx *bolt.Tx) error { return t.delete(tx, id) })
}

func listRecords[T any](ctx context.Context, db *DB, t *table[T], op string) (list []T, err error) {
	err = db.view(ctx, op, func(tx *bolt.Tx) error {
		list, err = t.all(tx)
		return err
	})
	return list, err
}
