package bbolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestStorage(t *testing.T) {
	// One handle: bbolt locks its file for the process that opens it. Observed,
	// as a server's store is: watching commits must change nothing.
	storagetest.RunTests(t, func(t *testing.T) storage.Storage {
		db, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{Observer: &fakeObserver{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}, nil)
}

func openTemp(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	openTemp(t, path)
	_, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, storage.ErrLocked) {
		t.Errorf("second Open: got error %v, want %v", err, storage.ErrLocked)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "gatehouse.db")
	openTemp(t, path)
	for name, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode(); got != want {
			t.Errorf("%s: got mode %v, want %v", name, got, want)
		}
	}
}

func TestOpenChecksSchema(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(tx *bolt.Tx) error // runs on a fresh Gatehouse file
		want    string                  // in Open's error; "" for success
		after   func(t *testing.T, db *DB)
	}{
		{"same version", func(*bolt.Tx) error { return nil }, "", nil},
		{"other version", func(tx *bolt.Tx) error {
			return tx.Bucket(metaBucket).Put(versionKey, []byte("99"))
		}, `schema version "99", this Gatehouse needs version 6`, nil},
		{"version 1, migrated", func(tx *bolt.Tx) error {
			return tx.Bucket(metaBucket).Put(versionKey, []byte("1"))
		}, "", nil},
		{"version 2, migrated", func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("methods_by_expiry")); err != nil {
				return err
			}
			return tx.Bucket(metaBucket).Put(versionKey, []byte("2"))
		}, "", nil},
		{"version 3, migrated", func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket([]byte("remembered_devices_by_browser")); err != nil {
				return err
			}
			return tx.Bucket(metaBucket).Put(versionKey, []byte("3"))
		}, "", nil},
		{"version 4, admins indexed", func(tx *bolt.Tx) error {
			admin := storage.User{ID: "a1", Username: "ada", Roles: []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "ou"}}}
			if err := users.insert(tx, admin); err != nil {
				return err
			}
			if err := users.insert(tx, storage.User{ID: "u1", Username: "bob"}); err != nil {
				return err
			}
			if err := tx.DeleteBucket(usersByAdmin.bucket); err != nil {
				return err
			}
			return tx.Bucket(metaBucket).Put(versionKey, []byte("4"))
		}, "", func(t *testing.T, db *DB) {
			list, err := db.ListAdmins(t.Context())
			if err != nil || len(list) != 1 || list[0].ID != "a1" {
				t.Errorf("ListAdmins after migrating = %v, %v; want a1 alone", list, err)
			}
		}},
		{"version 5, protected apps indexed", func(tx *bolt.Tx) error {
			if err := clients.insert(tx, storage.Client{ID: "wiki", Forward: &storage.ForwardAuth{Host: "Wiki.example.org", PathPrefix: "/w/"}}); err != nil {
				return err
			}
			if err := clients.insert(tx, storage.Client{ID: "rp"}); err != nil {
				return err
			}
			if err := tx.DeleteBucket(clientsByApp.bucket); err != nil {
				return err
			}
			return tx.Bucket(metaBucket).Put(versionKey, []byte("5"))
		}, "", func(t *testing.T, db *DB) {
			app, err := db.FindProtectedApp(t.Context(), "wiki.example.org", "/w/page")
			if err != nil || app.ID != "wiki" {
				t.Errorf("FindProtectedApp after migrating = %v, %v; want wiki", app.ID, err)
			}
		}},
		{"not a Gatehouse file", func(tx *bolt.Tx) error {
			return tx.DeleteBucket(metaBucket)
		}, "not a Gatehouse database", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			db, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.bolt.Update(tt.prepare); err != nil {
				t.Fatal(err)
			}
			db.Close()

			db, err = Open(path, Options{})
			if err == nil {
				defer db.Close()
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Open: got error %v, want none", err)
			case tt.want == "":
				err = db.bolt.View(func(tx *bolt.Tx) error {
					if got := string(tx.Bucket(metaBucket).Get(versionKey)); got != "6" {
						t.Errorf("schema version after Open = %q, want 6", got)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if tt.after != nil {
					tt.after(t, db)
				}
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Open: got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// fill stores n records a thousand per transaction: the public API would
// commit, and fsync, once per record, and bolt splits nodes only at commit,
// so one huge transaction is slow too.
func fill[T any](b *testing.B, db *DB, t *table[T], n int, record func(i int) T) {
	b.Helper()
	for start := 0; start < n; start += 1000 {
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			for i := start; i < min(start+1000, n); i++ {
				if err := t.insert(tx, record(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchLookup times lookup(i) in stores of 1,000 and 100,000 records. The
// lookups are B-tree searches, so time per op should grow with log n:
// barely at all across the hundredfold.
func benchLookup(b *testing.B, setup func(b *testing.B, db *DB, n int), lookup func(ctx context.Context, db *DB, i int) error) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			db := openTemp(b, filepath.Join(b.TempDir(), "gatehouse.db"))
			setup(b, db, n)
			i := 0
			for b.Loop() {
				// Stride through the keys so reads are not sequential.
				if err := lookup(b.Context(), db, i*7919%n); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkGetUserByUsername(b *testing.B) {
	now := time.Now().UTC()
	benchLookup(b, func(b *testing.B, db *DB, n int) {
		fill(b, db, users, n, func(i int) storage.User {
			return storage.User{ID: storage.NewID(), Username: fmt.Sprintf("user%06d", i),
				Email: fmt.Sprintf("user%06d@example.org", i), OrgUnitID: "root", CreatedAt: now}
		})
	}, func(ctx context.Context, db *DB, i int) error {
		_, err := db.GetUserByUsername(ctx, fmt.Sprintf("user%06d", i))
		return err
	})
}

func BenchmarkGetAccessToken(b *testing.B) {
	now := time.Now().UTC()
	benchLookup(b, func(b *testing.B, db *DB, n int) {
		fill(b, db, accessTokens, n, func(i int) storage.AccessToken {
			return storage.AccessToken{ID: fmt.Sprint("at", i), ClientID: "web", Subject: fmt.Sprint("u", i%5000),
				FamilyID: fmt.Sprint("f", i), Scopes: []string{"openid"}, ExpiresAt: now.Add(time.Hour), CreatedAt: now}
		})
	}, func(ctx context.Context, db *DB, i int) error {
		_, err := db.GetAccessToken(ctx, fmt.Sprint("at", i))
		return err
	})
}

// TestOldUserPhones: a user stored by a Gatehouse that kept unverified
// Phone and AltPhone on users still reads, and its next update drops
// them: a user's phones are their methods now.
func TestOldUserPhones(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err := db.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", DisplayName: "Alice"}); err != nil {
		t.Fatal(err)
	}
	old := func(tx *bolt.Tx) []byte { return tx.Bucket([]byte("users")).Get([]byte("u1")) }
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		v := strings.Replace(string(old(tx)), `"Disabled":false`, `"Disabled":false,"Phone":"+447700900123","AltPhone":"+441632960123"`, 1)
		if !strings.Contains(v, "AltPhone") {
			return fmt.Errorf("unexpected record %s", old(tx))
		}
		return tx.Bucket([]byte("users")).Put([]byte("u1"), []byte(v))
	}); err != nil {
		t.Fatal(err)
	}
	if u, err := db.GetUser(ctx, "u1"); err != nil || u.DisplayName != "Alice" {
		t.Fatalf("an old user record: %+v, %v", u, err)
	}
	if _, err := db.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.DisplayName = "Alice Smith"; return u, nil }); err != nil {
		t.Fatal(err)
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		if v := old(tx); strings.Contains(string(v), "Phone") {
			t.Errorf("the updated record still holds the old phones: %s", v)
		}
		return nil
	})
}
