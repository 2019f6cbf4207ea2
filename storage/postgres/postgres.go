// Package postgres is Gatehouse's PostgreSQL storage backend, for
// deployments that run several replicas on one database. It implements the
// same contract, and passes the same conformance suite, as storage/bbolt.
//
// Each kind of record is a table: the record's id, the whole record as
// JSON, and the columns its look-ups, uniqueness rules and expiry need
// (see migrations/). Transactions run at READ COMMITTED. An operation that
// reads a record and writes it back locks the row first (SELECT ... FOR NO
// KEY UPDATE), so writers of one record queue and each sees the last one's
// write; a rule over several rows (one exception in force, at most
// MaxAppPasswords, a tree without cycles) takes a transaction-scoped
// advisory lock named for what it guards, then reads. Uniqueness is kept
// by UNIQUE indexes. Replicas share nothing but the database, so nothing
// here relies on a lock held in one process.
package postgres

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.Storage = (*DB)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the session advisory lock Open holds while it
// migrates, so replicas starting together migrate once.
const migrationLock int64 = 0x6761_7465_686f_7573 // "gatehous"

// Options configures Open.
type Options struct {
	// MaxConns bounds the connection pool; zero keeps pgxpool's default
	// (the larger of 4 and the number of CPUs).
	MaxConns int32
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told of every transaction and commit (for
	// metrics); nil observes nothing.
	Observer storage.Observer
}

// DB is a Gatehouse store in a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	obs  storage.Observer
}

// defaultConnectTimeout bounds a connection attempt when the DSN sets no
// connect_timeout.
const defaultConnectTimeout = 5 * time.Second

// Open connects to the database at dsn and brings its schema up to date.
// It refuses a database whose schema is newer than this Gatehouse knows.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password in the DSN it quotes.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// Without connect_timeout a database host that drops packets
		// holds each new connection for the kernel's minutes of retries.
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := &DB{pool: pool, log: log, obs: opts.Observer}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return db, nil
}

// migration is one file of migrations/, named NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var list []migration
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name does not start with a version", base)
		}
		data, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		list = append(list, migration{version: v, name: base, sql: string(data)})
	}
	slices.SortFunc(list, func(a, b migration) int { return a.version - b.version })
	for i, m := range list {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return list, nil
}

// schemaVersion is the newest schema this code knows.
var schemaVersion = sync.OnceValue(func() int {
	list, err := migrations()
	if err != nil {
		panic(err) // the embedded files are fixed at build time; a test checks them
	}
	return len(list)
})

// migrate applies the migrations the database lacks, each in its own
// transaction with its schema_version row, under a session advisory lock.
func (db *DB) migrate(ctx context.Context) error {
	list, err := migrations()
	if err != nil {
		return err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("lock for migration: %w", err)
	}
	defer func() {
		// A connection whose unlock failed must not go back to the pool
		// holding the lock.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	if err := checkDatabase(ctx, conn.Conn()); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > len(list) {
		return fmt.Errorf("database has schema version %d, this Gatehouse knows versions up to %d", current, len(list))
	}
	for _, m := range list[current:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		db.log.Info("migrated storage", "migration", m.name, "schema_version", m.version)
	}
	return nil
}

// checkDatabase refuses a database Gatehouse cannot use: one that is not
// UTF-8 (text columns and JSON must hold any Unicode), or one that holds
// tables but no schema_version, some other program's, which Gatehouse
// must not mix its tables into.
func checkDatabase(ctx context.Context, conn *pgx.Conn) error {
	var encoding string
	var ours bool
	var tables int
	if err := conn.QueryRow(ctx, `SELECT pg_encoding_to_char(encoding), to_regclass('schema_version') IS NOT NULL,
		(SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())
		FROM pg_database WHERE datname = current_database()`).Scan(&encoding, &ours, &tables); err != nil {
		return fmt.Errorf("inspect database: %w", err)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("database encoding is %s, Gatehouse needs UTF8", encoding)
	}
	if !ours && tables > 0 {
		return errors.New("not a Gatehouse database: it has tables but no schema_version")
	}
	return nil
}

// maxTries bounds how often a transaction is run when PostgreSQL aborts it
// for a deadlock or a serialization failure.
const maxTries = 10

// retryable reports whether err is PostgreSQL aborting a transaction that
// may succeed if run again, or a pooled connection found broken before
// anything was sent on it (after the server restarted, say).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") || pgconn.SafeToRetry(err)
}

// write runs fn in one transaction, and again (up to maxTries) when
// it may succeed if run again (see retryable), so fn
// must only read and write through tx and assign its results. Errors are
// wrapped with op: "get user: not found".
func (db *DB) write(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	var err error
	start := time.Now()
	defer func() { db.observe(storage.KindWrite, op, start, err) }()
	for try := 1; ; try++ {
		err = pgx.BeginFunc(ctx, db.pool, fn)
		if !retryable(err) || try == maxTries || ctx.Err() != nil {
			break
		}
		// Back off a little, at random, so the transactions that collided
		// do not collide again.
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rand.Int64N(int64(try) * int64(5*time.Millisecond)))):
		}
	}
	return wrap(op, err)
}

// read runs fn on the pool: reads that need one statement need no
// transaction.
func (db *DB) read(ctx context.Context, op string, fn func(querier) error) error {
	start := time.Now()
	err := fn(db.pool)
	db.observe(storage.KindRead, op, start, err)
	return wrap(op, err)
}

// observe tells the Observer of a storage call that began at start, and
// of its commit when it was a write that committed.
func (db *DB) observe(kind, op string, start time.Time, err error) {
	if db.obs == nil {
		return
	}
	took := time.Since(start)
	db.obs.Transaction(kind, op, took)
	if kind == storage.KindWrite && err == nil {
		db.obs.Committed(took, 0)
	}
}

// wrap names op in err, and marks an error reaching the database as
// storage.ErrUnavailable: "get user: storage unavailable: dial ...".
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		// The caller went away: the database may be fine.
		return fmt.Errorf("%s: %w", op, err)
	case unreachable(err):
		return fmt.Errorf("%s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err is the database out of reach rather
// than refusing what was asked: no connection could be made, one broke,
// or the server is shutting down, starting up or out of connections.
// A transaction that ends so is not retried (unless nothing was sent):
// its commit may have been lost on the way back, and the caller's user
// can try again.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || // connection exception
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" || // shutdown, crash, starting
			pgErr.Code == "53300" // too many connections
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		pgconn.SafeToRetry(err)
}

// querier is what reads need: a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lock takes a transaction-scoped advisory lock named name: the
// transactions that take the same name run the part after it one at a
// time, and each sees what the one before committed (READ COMMITTED takes
// a new snapshot for every statement).
func lock(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", storable("gatehouse/"+name))
	return err
}

// DeleteExpired implements storage.Storage. Every expiry column is
// indexed, so the cost follows what is deleted. Two replicas sweeping at
// once delete each row once between them.
func (db *DB) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	var total int
	err := db.write(ctx, "delete expired", func(tx pgx.Tx) error {
		total = 0
		for _, table := range []string{"auth_requests", "auth_codes", "access_tokens", "refresh_tokens", "sessions",
			"attempts", "challenges", "methods", "remembered_devices", "notifications"} {
			tag, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE expires_ns <= $1", nanos(now))
			if err != nil {
				return err
			}
			total += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// Backup implements storage.Storage: it is not supported. A PostgreSQL
// database is backed up with PostgreSQL's own tools (pg_dump, or base
// backups with WAL archiving for point-in-time recovery), which are
// consistent while the database is in use and which its operators already
// run; a second, Gatehouse-made format would be one more to restore from.
func (db *DB) Backup(context.Context, io.Writer) (int64, error) {
	return 0, fmt.Errorf("backup: use pg_dump to back up a PostgreSQL store: %w", errors.ErrUnsupported)
}

// Health implements storage.Storage: the database answers, with the
// schema this code knows.
func (db *DB) Health(ctx context.Context) error {
	return db.read(ctx, "health", func(q querier) error {
		var v int
		if err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v); err != nil {
			return err
		}
		if v != schemaVersion() {
			return fmt.Errorf("database has schema version %d, this Gatehouse needs %d", v, schemaVersion())
		}
		return nil
	})
}

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// getDocument decodes the document under key into v, leaving v alone when
// there is none.
func getDocument(ctx context.Context, q querier, key string, v any) error {
	var data []byte
	err := q.QueryRow(ctx, "SELECT data FROM documents WHERE key = $1", key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// updateDocument runs update on the document under key (the zero value
// when there is none) and stores the result. The advisory lock on key
// queues writers even before the first one has stored a row to lock.
func updateDocument[T any](ctx context.Context, tx pgx.Tx, key string, update func(T) (T, error)) (T, error) {
	var old, zero T
	if err := lock(ctx, tx, "documents/"+key); err != nil {
		return zero, err
	}
	if err := getDocument(ctx, tx, key, &old); err != nil {
		return zero, err
	}
	v, err := update(old)
	if err != nil {
		return zero, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return zero, fmt.Errorf("encode %s: %w", key, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO documents (key, data) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET data = excluded.data`, key, data)
	return v, err
}

// ListSigningKeys implements storage.SigningKeys.
func (db *DB) ListSigningKeys(ctx context.Context) (keys []storage.SigningKey, err error) {
	err = db.read(ctx, "list signing keys", func(q querier) error { return getDocument(ctx, q, "signing_keys", &keys) })
	return keys, err
}

// UpdateSigningKeys implements storage.SigningKeys. The key set is one
// document, so a rotation replaces it whole; the lock on it lets one
// replica rotate at a time.
func (db *DB) UpdateSigningKeys(ctx context.Context, update func([]storage.SigningKey) ([]storage.SigningKey, error)) (keys []storage.SigningKey, err error) {
	err = db.write(ctx, "update signing keys", func(tx pgx.Tx) error {
		keys, err = updateDocument(ctx, tx, "signing_keys", update)
		return err
	})
	return keys, err
}

// UpdateSecrets implements storage.Secrets.
func (db *DB) UpdateSecrets(ctx context.Context, purpose string, update func([]storage.Secret) ([]storage.Secret, error)) (secrets []storage.Secret, err error) {
	err = db.write(ctx, "update secrets", func(tx pgx.Tx) error {
		secrets, err = updateDocument(ctx, tx, "secrets/"+purpose, update)
		return err
	})
	return secrets, err
}

// GetSettings implements storage.SettingsStore.
func (db *DB) GetSettings(ctx context.Context) (s storage.Settings, err error) {
	err = db.read(ctx, "get settings", func(q querier) error { return getDocument(ctx, q, "settings", &s) })
	return s, err
}

// UpdateSettings implements storage.SettingsStore.
func (db *DB) UpdateSettings(ctx context.Context, update func(storage.Settings) (storage.Settings, error)) (s storage.Settings, err error) {
	err = db.write(ctx, "update settings", func(tx pgx.Tx) error {
		s, err = updateDocument(ctx, tx, "settings", update)
		return err
	})
	return s, err
}
