package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/factors/totp"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
)

// seedStore is what seeding needs of a store.
type seedStore interface {
	ListOrgUnits(ctx context.Context) ([]storage.OrgUnit, error)
	Atomically(ctx context.Context, fn func(storage.Tx) error) error
	Close() error
}

// seed writes the sign-in scenario's users into a Gatehouse database:
// user0 … user<N-1> in the root org unit, all with one password, hashed
// once (a million argon2 hashes would be hours of CPU), and, with a TOTP
// seed, an authenticator app each and MFA on. Users already there are left
// as they are, so a seed can be run again to add more. A bbolt file must
// be seeded with its server stopped (the file has one writer); a
// PostgreSQL database (-driver postgres) may be seeded beside running
// replicas. Users are written -batch to a transaction: one commit per user
// would make a million users an hour's work.
func seed(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var dataDir, keyFile, pw, totpSeed, driver, dsn string
	var users, batch int
	fs := flag.NewFlagSet("gatehouse-load seed", flag.ContinueOnError)
	fs.StringVar(&driver, "driver", "bbolt", "the server's storage.driver: bbolt (the file in -data-dir) or postgres (the database at -dsn)")
	fs.StringVar(&dataDir, "data-dir", "", "bbolt: the stopped server's data directory (required); postgres: where mfa.key is, if -mfa-key-file is not given")
	fs.StringVar(&dsn, "dsn", "", "postgres: the servers' storage.dsn (or set GATEHOUSE_STORAGE_DSN)")
	fs.StringVar(&keyFile, "mfa-key-file", "", "the servers' mfa.key_file, if set (default: <data-dir>/mfa.key)")
	fs.IntVar(&users, "users", 1000, "how many users")
	fs.IntVar(&batch, "batch", 1000, "users written in one transaction")
	fs.StringVar(&pw, "password", "", "their password (or set GATEHOUSE_LOAD_PASSWORD)")
	fs.StringVar(&totpSeed, "totp-seed", "", "give each an authenticator app, its key made from this seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw = cmp.Or(pw, getenv("GATEHOUSE_LOAD_PASSWORD"))
	dsn = cmp.Or(dsn, getenv("GATEHOUSE_STORAGE_DSN"))
	if keyFile == "" && dataDir != "" {
		keyFile = filepath.Join(dataDir, "mfa.key")
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	switch driver {
	case "bbolt":
		if dataDir == "" {
			problems = append(problems, "-data-dir is required with -driver bbolt")
		}
	case "postgres":
		if dsn == "" {
			problems = append(problems, "-dsn (or GATEHOUSE_STORAGE_DSN) is required with -driver postgres")
		}
		if totpSeed != "" && keyFile == "" {
			problems = append(problems, "-totp-seed with -driver postgres needs the replicas' -mfa-key-file (or the -data-dir it is in)")
		}
	default:
		problems = append(problems, fmt.Sprintf("-driver %q is not bbolt or postgres", driver))
	}
	if pw == "" {
		problems = append(problems, "-password (or GATEHOUSE_LOAD_PASSWORD) is required")
	}
	if users < 1 || users > 10_000_000 {
		problems = append(problems, "-users must be 1 to 10,000,000")
	}
	if batch < 1 || batch > 100_000 {
		problems = append(problems, "-batch must be 1 to 100,000")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}

	db, err := openSeedStore(ctx, driver, dataDir, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	root, err := rootOrgUnit(ctx, db)
	if err != nil {
		return err
	}
	hash, err := password.NewHasher(password.OWASP(), 1).Hash(ctx, pw)
	if err != nil {
		return err
	}
	var app *totp.Factor
	if totpSeed != "" {
		if driver == "postgres" {
			// The replicas made the key at their first start: a new one
			// here would seal secrets no replica can open.
			if _, err := os.Stat(keyFile); err != nil {
				return fmt.Errorf("-mfa-key-file: %w (give the replicas' mfa.key_file)", err)
			}
		}
		key, err := factors.LoadOrCreateKey(keyFile)
		if err != nil {
			return err
		}
		sealer, err := factors.NewSealer(key)
		if err != nil {
			return err
		}
		app = &totp.Factor{Sealer: sealer}
	}
	start := time.Now()
	now, added, reported := start, 0, start
	for first := 0; first < users; first += batch {
		last := min(first+batch, users)
		var inBatch int
		err := db.Atomically(ctx, func(tx storage.Tx) error {
			inBatch = 0 // the function may run again
			for i := first; i < last; i++ {
				name := fmt.Sprint("user", i)
				u := storage.User{ID: storage.NewID(), Username: name, DisplayName: "Load user " + fmt.Sprint(i), PasswordHash: hash,
					OrgUnitID: root.ID, MFAEnabled: app != nil, CreatedAt: now, PasswordChangedAt: now}
				switch err := tx.CreateUser(u); {
				case errors.Is(err, storage.ErrAlreadyExists):
					continue
				case err != nil:
					return fmt.Errorf("create %s: %w", name, err)
				}
				if app != nil {
					if err := tx.CreateMethod(app.Method(u, totpKey(totpSeed, name), now)); err != nil {
						return fmt.Errorf("give %s an authenticator app: %w", name, err)
					}
				}
				inBatch++
			}
			return nil
		})
		if err != nil {
			return err
		}
		added += inBatch
		if time.Since(reported) >= 10*time.Second && last < users {
			reported = time.Now()
			elapsed := time.Since(start)
			fmt.Fprintf(out, "%d of %d users done in %s, %d added\n", last, users, elapsed.Round(time.Second), added)
		}
	}
	elapsed := time.Since(start)
	fmt.Fprintf(out, "%d users added (user0 … user%d), %d there already, in %s (%.0f added a second)\n",
		added, users-1, users-added, elapsed.Round(time.Millisecond), float64(added)/elapsed.Seconds())
	return nil
}

// openSeedStore opens the database the server uses.
func openSeedStore(ctx context.Context, driver, dataDir, dsn string) (seedStore, error) {
	if driver == "postgres" {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			return nil, fmt.Errorf("-dsn: %w", err)
		}
		return db, nil
	}
	// A scratch store for load tests: no fsync per commit.
	return bbolt.Open(filepath.Join(dataDir, "gatehouse.db"), bbolt.Options{NoSync: true})
}

// rootOrgUnit is the store's root org unit: the server makes it at its
// first start.
func rootOrgUnit(ctx context.Context, store seedStore) (storage.OrgUnit, error) {
	ous, err := store.ListOrgUnits(ctx)
	if err != nil {
		return storage.OrgUnit{}, err
	}
	for _, o := range ous {
		if o.ParentID == "" {
			return o, nil
		}
	}
	return storage.OrgUnit{}, errors.New("no root org unit: start the server once first")
}
