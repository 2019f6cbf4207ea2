package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/factors/totp"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// seed writes the sign-in scenario's users into a stopped Gatehouse's
// database: user0 … user<N-1> in the root org unit, all with one password,
// hashed once (a million argon2 hashes would be hours of CPU), and, with a
// TOTP seed, an authenticator app each and MFA on. Users already there are
// left as they are, so a seed can be run again to add more.
func seed(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	var dataDir, keyFile, pw, totpSeed string
	var users int
	fs := flag.NewFlagSet("gatehouse-load seed", flag.ContinueOnError)
	fs.StringVar(&dataDir, "data-dir", "", "the stopped server's data directory (required)")
	fs.StringVar(&keyFile, "mfa-key-file", "", "its mfa.key_file, if set (default: <data-dir>/mfa.key)")
	fs.IntVar(&users, "users", 1000, "how many users")
	fs.StringVar(&pw, "password", "", "their password (or set GATEHOUSE_LOAD_PASSWORD)")
	fs.StringVar(&totpSeed, "totp-seed", "", "give each an authenticator app, its key made from this seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw = cmp.Or(pw, getenv("GATEHOUSE_LOAD_PASSWORD"))
	switch {
	case dataDir == "" || pw == "":
		return errors.New("seed needs -data-dir and -password")
	case users < 1 || users > 10_000_000:
		return errors.New("-users must be 1 to 10,000,000")
	}
	keyFile = cmp.Or(keyFile, filepath.Join(dataDir, "mfa.key"))

	// A scratch store for load tests: no fsync per user.
	db, err := bbolt.Open(filepath.Join(dataDir, "gatehouse.db"), bbolt.Options{NoSync: true})
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
	now, added := time.Now(), 0
	for i := range users {
		name := fmt.Sprint("user", i)
		u := storage.User{ID: storage.NewID(), Username: name, DisplayName: "Load user " + fmt.Sprint(i), PasswordHash: hash,
			OrgUnitID: root.ID, MFAEnabled: app != nil, CreatedAt: now, PasswordChangedAt: now}
		switch err := db.CreateUser(ctx, u); {
		case errors.Is(err, storage.ErrAlreadyExists):
			continue
		case err != nil:
			return fmt.Errorf("create %s: %w", name, err)
		}
		if app != nil {
			if err := db.CreateMethod(ctx, app.Method(u, totpKey(totpSeed, name), now)); err != nil {
				return fmt.Errorf("give %s an authenticator app: %w", name, err)
			}
		}
		added++
	}
	fmt.Fprintf(out, "%d users added (user0 … user%d), %d there already\n", added, users-1, users-added)
	return nil
}

// rootOrgUnit is the store's root org unit: the server makes it at its
// first start.
func rootOrgUnit(ctx context.Context, store storage.OrgUnits) (storage.OrgUnit, error) {
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
