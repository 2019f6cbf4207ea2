// Package bbolt is Gatehouse's embedded storage backend: one bbolt file, one
// bucket per kind of record holding JSON values, and index buckets so every
// lookup the storage contract promises is a B-tree search and DeleteExpired
// walks only what has expired.
package bbolt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/gatehouse-id/gatehouse/storage"
)

// schemaVersion is the layout of buckets and values this code reads and
// writes. Change it with any incompatible change, and migrate in Open.
// Version 2 added the user-search and audit-by-user indexes: a version 1
// file is indexed at Open and then stamped, so an older Gatehouse, which
// would write records without index entries, refuses it. Version 3 added
// temporary methods (a temporary access pass) and their expiry index; a
// version 2 file has none to index. Version 4 added remembered devices:
// an older Gatehouse would never expire them, and would go on honouring
// its own cookie for a device the user had forgotten. A version 3 file
// has none. Version 5 added the admin index (ListAdmins), and version 6
// the protected-app index (FindProtectedApp), built at Open from the
// users and clients of an older file.
const schemaVersion = 6

// migratesFrom are the older versions Open brings up to date.
var migratesFrom = []string{"1", "2", "3", "4", "5"}

var (
	metaBucket = []byte("meta")
	versionKey = []byte("schema_version")
)

var _ storage.Storage = (*DB)(nil)

// Options configures Open.
type Options struct {
	// Timeout bounds the wait for the file lock; zero means one second. A
	// running server holds the lock, so a second process (a backup, a CLI
	// command) fails fast with storage.ErrLocked instead of hanging.
	Timeout time.Duration
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// NoSync skips the fsync at every commit, so a crash can lose or
	// corrupt recent writes. It is for bulk-loading a scratch store (the
	// benchmarks' 100,000 users); never set it for a store that matters.
	NoSync bool
	// Observer, if set, is told of every transaction and commit (for
	// metrics); nil observes nothing and costs nothing.
	Observer storage.Observer
}

// DB is a Gatehouse store in one bbolt file.
//
// Writes are committed in groups (see write): concurrent writes share one
// transaction and one fsync. A write's function may run more than once, so
// those functions only read and write the transaction and assign their
// results, and an update func passed to an update may be called more than
// once.
type DB struct {
	bolt  *bolt.DB
	log   *slog.Logger
	obs   storage.Observer
	group group
	// lastTx is the write transaction whose commit is being watched, so
	// a group's functions register one commit handler, not one each.
	// Only functions inside write transactions touch it, and bolt runs
	// those one at a time.
	lastTx *bolt.Tx
	// fileSize is the largest size the file has been seen at after a
	// commit: a commit that grows the file flushes it once more.
	fileSize atomic.Int64
}

// Open opens or creates the store at path, creating its directory if needed.
// It refuses a file written with another schema version, and builds any
// index a file from an older Gatehouse lacks.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %s)", path, storage.ErrLocked, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{bolt: b, log: log, obs: opts.Observer}
	if err := b.Update(db.setup); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.indexOldAudit(auditIndexChunk); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Every index is built: stamp a migrated file with this version (a
	// write, with its fsync, only when one is due).
	var stamped bool
	b.View(func(tx *bolt.Tx) error {
		stamped = string(tx.Bucket(metaBucket).Get(versionKey)) == strconv.Itoa(schemaVersion)
		return nil
	})
	if !stamped {
		if err := b.Update(func(tx *bolt.Tx) error {
			return tx.Bucket(metaBucket).Put(versionKey, []byte(strconv.Itoa(schemaVersion)))
		}); err != nil {
			b.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		log.Info("migrated storage", "path", path, "schema_version", schemaVersion)
	}
	if info, err := os.Stat(path); err == nil {
		db.fileSize.Store(info.Size())
	}
	return db, nil
}

// setup stamps a new file with the schema version, refuses a file with a
// different one, and creates any missing bucket.
func (db *DB) setup(tx *bolt.Tx) error {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		// Buckets without meta mean some other program's file: refuse it
		// rather than mix Gatehouse data into it.
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error {
			return errors.New("not a Gatehouse database (no meta bucket)")
		}); err != nil {
			return err
		}
		var err error
		if meta, err = tx.CreateBucket(metaBucket); err != nil {
			return err
		}
		if err := meta.Put(versionKey, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
		db.log.Info("created storage", "path", db.bolt.Path(), "schema_version", schemaVersion)
	}
	if got := string(meta.Get(versionKey)); got != strconv.Itoa(schemaVersion) && !slices.Contains(migratesFrom, got) {
		return fmt.Errorf("database has schema version %q, this Gatehouse needs version %d", got, schemaVersion)
	}
	for _, name := range allBuckets() {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	if v, err := strconv.Atoi(string(meta.Get(versionKey))); err == nil {
		if err := buildIndex(tx, v < 5, users, usersByAdmin); err != nil {
			return err
		}
		if err := buildIndex(tx, v < 6, clients, clientsByApp); err != nil {
			return err
		}
	}
	return setupUserSearch(tx)
}

// buildIndex, when due (the file is older than the index), fills index ix
// from table t's records. Of two records with one unique key, the first
// keeps it.
func buildIndex[T any](tx *bolt.Tx, due bool, t *table[T], ix index[T]) error {
	if !due {
		return nil
	}
	list, err := t.all(tx)
	if err != nil {
		return err
	}
	b := tx.Bucket(ix.bucket)
	for _, v := range list {
		key := ix.key(v)
		if key == "" || ix.unique && b.Get([]byte(key)) != nil {
			continue
		}
		value := []byte{}
		if ix.unique {
			value = []byte(t.id(v))
		}
		if err := b.Put(ix.entry(key, t.id(v)), value); err != nil {
			return err
		}
	}
	return nil
}

func allBuckets() [][]byte {
	names := [][]byte{auditBucket, auditByUserBucket, userTermsBucket, signingKeysBucket, secretsBucket}
	for _, t := range []interface{ buckets() [][]byte }{
		orgUnits, users, methods, exceptions, challenges, clients, authRequests, authCodes, accessTokens, refreshTokens, sessions, devices, attempts, notifications, appPasswords,
	} {
		names = append(names, t.buckets()...)
	}
	return names
}

// view and update run fn in a read or a write transaction (committed with
// other writes: see DB for what fn must not do) and wrap any error with
// op, so callers see "get user: not found".
func (db *DB) view(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	return db.run(ctx, op, storage.KindRead, db.bolt.View, fn)
}

func (db *DB) update(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	return db.run(ctx, op, storage.KindWrite, db.write, fn)
}

func (db *DB) run(ctx context.Context, op, kind string, txn func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	var err error
	if db.obs == nil {
		err = txn(fn)
	} else {
		if kind != storage.KindRead {
			fn = db.watchCommit(fn)
		}
		start := time.Now()
		err = txn(fn)
		db.obs.Transaction(kind, op, time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// watchCommit wraps fn, a write, so that the commit of the transaction it
// runs in is observed once, however many functions share it, and
// not at all if it rolls back.
func (db *DB) watchCommit(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if db.lastTx != tx {
			db.lastTx = tx
			start := time.Now()
			tx.OnCommit(func() { db.committed(time.Since(start)) })
		}
		return fn(tx)
	}
}

// committed tells the observer of a commit and its fsyncs: bolt flushes
// the data pages, then the meta page (unless NoSync), and the file
// whenever a commit grows it (even with NoSync). Commit handlers run once
// the writer lock is released, so two may run at once.
func (db *DB) committed(took time.Duration) {
	fsyncs := 0
	if !db.bolt.NoSync {
		fsyncs = 2
	}
	if info, err := os.Stat(db.bolt.Path()); err == nil && db.grew(info.Size()) {
		fsyncs++
	}
	db.obs.Committed(took, fsyncs)
}

// grew records size as the file's and reports whether it is larger than
// any seen before.
func (db *DB) grew(size int64) bool {
	for {
		old := db.fileSize.Load()
		if size <= old {
			return false
		}
		if db.fileSize.CompareAndSwap(old, size) {
			return true
		}
	}
}

// DeleteExpired implements storage.Storage.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	var total int
	err := db.update(ctx, "delete expired", func(tx *bolt.Tx) error {
		total = 0
		for _, del := range []func(*bolt.Tx, time.Time) (int, error){
			authRequests.deleteExpired, authCodes.deleteExpired, accessTokens.deleteExpired,
			refreshTokens.deleteExpired, sessions.deleteExpired, attempts.deleteExpired, challenges.deleteExpired,
			methods.deleteExpired, devices.deleteExpired, notifications.deleteExpired,
		} {
			n, err := del(tx, now)
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// Backup implements storage.Storage. A read transaction sees a consistent
// snapshot while writers carry on.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.view(ctx, "backup", func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	return n, err
}

// ctxWriter stops a long backup when its context is cancelled.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Health implements storage.Storage.
func (db *DB) Health(ctx context.Context) error {
	return db.view(ctx, "health", func(tx *bolt.Tx) error {
		if tx.Bucket(metaBucket) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
}

// Close releases the file and its lock.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close storage: %w", err)
	}
	return nil
}
