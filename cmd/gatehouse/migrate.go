package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
)

const migrateUsage = `Usage:
  gatehouse migrate --to postgres --dsn DSN [flags]
  gatehouse migrate --to bbolt [--data-dir DIR] [flags]

Copies the configured store into an empty database of the other backend,
then counts each kind of record in both and prints the counts side by side;
a count that differs fails the command.

--to postgres copies the bbolt file in the data directory into the empty
PostgreSQL database DSN names, making its schema first. Stop the server:
it holds the file.
--to bbolt copies the PostgreSQL database storage.dsn names into a new
file, <data_dir>/gatehouse.db. Stop every replica first, so that nothing
changes while it copies.

Copied, exactly as stored (ids, times, hashes, sealed secrets): org units,
users, their methods, exceptions, clients and protected apps, remembered
devices, app passwords, refresh and access tokens, the notification
outbox, the audit log, signing keys, secrets (cookie keys among them) and
settings. Not copied: sign-ins in progress, codes, challenges, sessions and
throttle records, so users sign in again; relying parties keep their
refresh tokens, which belong to no session. mfa.key is not in the
database: keep it beside the copy.

Flags:
`

// migrateBatch is how many records one transaction of the copy writes.
const migrateBatch = 1000

// migrateCommand copies the configured store into an empty store of the
// other backend, and checks the copy by counting both (gatehouse migrate).
func migrateCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flagSet("migrate", stderr)
	to := fs.String("to", "", "postgres or bbolt: the backend to copy the configured store into (required)")
	dsn := fs.String("dsn", "", "with --to postgres, the empty PostgreSQL database to copy into (a password is safer in PGPASSWORD or ~/.pgpass than here)")
	fs.Usage = func() {
		fmt.Fprint(stderr, migrateUsage)
		fs.PrintDefaults()
	}
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return invalidConfig(err)
	}
	if err := checkMigrate(cfg, *to, *dsn); err != nil {
		return err
	}
	from, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer from.Close()
	dst, err := openTarget(ctx, cfg, *to, *dsn)
	if err != nil {
		return err
	}
	if err := migrate(ctx, from, dst.store, stdout, stderr); err != nil {
		return dst.fail(err)
	}
	if err := dst.store.Close(); err != nil {
		return dst.fail(err)
	}
	fmt.Fprintln(stdout, dst.next)
	return nil
}

// checkMigrate refuses a gatehouse migrate that cannot be run, before
// anything is opened: the copy goes to the other backend.
func checkMigrate(cfg Config, to, dsn string) error {
	switch to {
	case driverPostgres:
		if cfg.Storage.Driver != driverBbolt {
			return errors.New("--to postgres copies a bbolt file, but storage.driver is postgres: copy one PostgreSQL database to another with pg_dump")
		}
		if dsn == "" {
			return errors.New("--dsn is required with --to postgres: the empty PostgreSQL database to copy into")
		}
		// Opening a missing file would make an empty store and copy that.
		if _, err := os.Stat(dbPath(cfg)); err != nil {
			return fmt.Errorf("no database at %s to copy: check --data-dir", dbPath(cfg))
		}
	case driverBbolt:
		if cfg.Storage.Driver != driverPostgres {
			return errors.New("--to bbolt copies a PostgreSQL database, but storage.driver is bbolt: set --storage.driver postgres and --storage.dsn to the database to copy")
		}
		if dsn != "" {
			return fmt.Errorf("--dsn names a PostgreSQL database to copy into, for --to postgres; --to bbolt copies into %s (set by --data-dir)", dbPath(cfg))
		}
	case "":
		return errors.New("--to is required: postgres or bbolt")
	default:
		return fmt.Errorf("--to: %q is neither postgres nor bbolt", to)
	}
	return nil
}

// migrateTarget is the store a copy goes into.
type migrateTarget struct {
	store storage.Storage
	// fail is what a copy that failed midway becomes: the error, and what
	// is left of the target and what to do about it.
	fail func(err error) error
	// next tells the operator what to do after a good copy.
	next string
}

// openTarget opens the store to copy into, and refuses it unless it is
// empty.
func openTarget(ctx context.Context, cfg Config, to, dsn string) (*migrateTarget, error) {
	var t migrateTarget
	var empty string // how to give the command an empty target
	if to == driverPostgres {
		openCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		db, err := postgres.Open(openCtx, dsn, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("--dsn: cannot use the PostgreSQL database: %s", oneLine(err))
		}
		t.store = db
		t.fail = func(err error) error {
			defer db.Close()
			// Each batch is a transaction: when none was written, the
			// database is as empty as it was, and can be used again.
			countCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if counts, cerr := db.Count(countCtx); cerr == nil && counts.Total() == 0 {
				return fmt.Errorf("migrate failed: %s; nothing was written", oneLine(err))
			}
			return fmt.Errorf("migrate failed: %s; the PostgreSQL database holds part of the copy: drop it and create it empty again (dropdb, createdb) before trying again", oneLine(err))
		}
		t.next = fmt.Sprintf("Next: set storage.driver: postgres and storage.dsn to this database, give every replica this mfa.key (%s), and start them.", cfg.mfaKeyFile())
		empty = "give it a database of its own, new and empty (createdb)"
	} else {
		path := dbPath(cfg)
		_, statErr := os.Stat(path)
		created := errors.Is(statErr, os.ErrNotExist)
		db, err := bbolt.Open(path, bbolt.Options{Timeout: time.Second})
		if errors.Is(err, storage.ErrLocked) {
			return nil, fmt.Errorf("%s is in use by a running Gatehouse server: stop it, or choose another --data-dir", path)
		}
		if err != nil {
			return nil, err
		}
		t.store = db
		t.fail = func(err error) error {
			db.Close()
			if created && os.Remove(path) == nil {
				return fmt.Errorf("migrate failed: %s; removed the partial copy %s", oneLine(err), path)
			}
			return fmt.Errorf("migrate failed: %s; %s holds part of the copy: remove it before trying again", oneLine(err), path)
		}
		t.next = fmt.Sprintf("Next: set storage.driver: bbolt (the file is %s, beside mfa.key), and start one server.", path)
		empty = fmt.Sprintf("move %s away, or choose another --data-dir", path)
	}
	counts, err := t.store.Count(ctx)
	if err != nil {
		return nil, t.fail(fmt.Errorf("count what the target holds: %w", err))
	}
	if counts.Total() > 0 {
		t.store.Close()
		return nil, fmt.Errorf("the target is not empty (it holds %s): migrate copies into an empty database only; %s", counts, empty)
	}
	return &t, nil
}

// migrate copies from into to, migrateBatch records a transaction,
// telling stderr how far it has got, then counts both and prints the
// counts side by side on stdout. A count that differs is an error.
func migrate(ctx context.Context, from, to storage.Copier, stdout, stderr io.Writer) error {
	start := time.Now()
	var done, told int
	copied, err := storage.Copy(ctx, from, to, migrateBatch, func(c storage.Counts) {
		if done += c.Total(); done-told >= 100_000 {
			fmt.Fprintf(stderr, "copied %d records...\n", done)
			told = done
		}
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	source, err := from.Count(ctx)
	if err != nil {
		return fmt.Errorf("count the source: %w", err)
	}
	target, err := to.Count(ctx)
	if err != nil {
		return fmt.Errorf("count the copy: %w", err)
	}
	var differ []string
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSOURCE\tTARGET")
	for _, k := range storage.CopyKinds {
		fmt.Fprintf(tw, "%s\t%d\t%d", k, source[k], target[k])
		if source[k] != target[k] {
			fmt.Fprint(tw, "\tdiffers")
			differ = append(differ, string(k))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if differ != nil {
		return fmt.Errorf("the copy's count of %s differs from the source's (see the table)", strings.Join(differ, ", "))
	}
	fmt.Fprintf(stdout, "copied %d records in %s\n", copied.Total(), took.Round(time.Millisecond))
	return nil
}
