package main

import (
	"bytes"
	"encoding/base32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
)

func TestMain(m *testing.M) {
	defer pgtest.Stop()
	m.Run()
}

// TestSeedPostgres: seed writes users into a PostgreSQL database in
// batches, each with the one password hash and an authenticator app
// sealed with the replicas' key; run again, it adds only the users not
// there yet.
func TestSeedPostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "mfa.key")
	key, err := factors.LoadOrCreateKey(keyFile) // as the replicas' first start makes it
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.CreateOrgUnit(t.Context(), storage.OrgUnit{ID: "root", Name: "Root"}); err != nil {
		t.Fatal(err)
	}

	seedArgs := func(users string) []string {
		return []string{"seed", "-driver", "postgres", "-dsn", dsn, "-mfa-key-file", keyFile, "-users", users, "-batch", "20",
			"-password", "a load test password", "-totp-seed", "s"}
	}
	for _, tt := range []struct{ users, want string }{
		{"50", "50 users added (user0 … user49), 0 there already"},
		{"60", "10 users added (user0 … user59), 50 there already"},
	} {
		var out bytes.Buffer
		if err := run(t.Context(), seedArgs(tt.users), &out, func(string) string { return "" }); err != nil {
			t.Fatalf("seed -users %s: %v\n%s", tt.users, err, out.String())
		}
		if !strings.Contains(out.String(), tt.want) {
			t.Errorf("seed -users %s says:\n%s\nwant %q", tt.users, out.String(), tt.want)
		}
	}

	sealer, err := factors.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]bool{} // one a run
	for _, name := range []string{"user0", "user19", "user20", "user49", "user59"} {
		u, err := db.GetUserByUsername(t.Context(), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		hashes[u.PasswordHash] = true
		if u.OrgUnitID != "root" || !u.MFAEnabled || u.PasswordHash == "" {
			t.Errorf("%s: org unit %q, MFA %v, hash %q; want root, on and a hash", name, u.OrgUnitID, u.MFAEnabled, u.PasswordHash)
		}
		methods, err := db.ListUserMethods(t.Context(), u.ID)
		if err != nil || len(methods) != 1 || methods[0].Type != storage.MethodTOTP {
			t.Fatalf("%s: methods %v, %v; want one authenticator app", name, methods, err)
		}
		got, err := sealer.Open(methods[0].Secret, u.ID)
		if err != nil {
			t.Fatalf("%s: the app's key does not open with the replicas' key: %v", name, err)
		}
		if want := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(totpKey("s", name)); string(got) != want {
			t.Errorf("%s: app key %q, want %q, made from the seed", name, got, want)
		}
	}
	if len(hashes) != 2 {
		t.Errorf("got %d password hashes for two runs, want one a run", len(hashes))
	}
}

func TestSeedFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"bbolt without a data dir", []string{"-password", "p"}, "-data-dir is required"},
		{"postgres without a DSN", []string{"-driver", "postgres", "-password", "p"}, "-dsn (or GATEHOUSE_STORAGE_DSN) is required"},
		{"postgres app without its key", []string{"-driver", "postgres", "-dsn", "host=/nowhere", "-password", "p", "-totp-seed", "s"}, "-mfa-key-file"},
		{"no password", []string{"-data-dir", "/nowhere"}, "-password"},
		{"unknown driver", []string{"-driver", "sqlite", "-password", "p"}, `-driver "sqlite"`},
		{"no batch", []string{"-data-dir", "/nowhere", "-password", "p", "-batch", "0"}, "-batch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"seed"}, tt.args...), &bytes.Buffer{}, func(string) string { return "" })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
