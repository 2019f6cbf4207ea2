package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestMain(m *testing.M) {
	defer pgtest.Stop()
	m.Run()
}

func open(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStorage(t *testing.T) {
	var mu sync.Mutex
	dsns := map[storage.Storage]string{}
	storagetest.RunTests(t, func(t *testing.T) storage.Storage {
		dsn := pgtest.NewDatabase(t)
		db := open(t, dsn)
		mu.Lock()
		defer mu.Unlock()
		dsns[db] = dsn
		return db
	}, func(t *testing.T, s storage.Storage) storage.Storage {
		// A second pool on the same database, as a second replica has.
		mu.Lock()
		dsn := dsns[s]
		mu.Unlock()
		return open(t, dsn)
	})
}

func TestMigrations(t *testing.T) {
	list, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 || schemaVersion() != len(list) {
		t.Errorf("got %d migrations and schema version %d, want some and equal", len(list), schemaVersion())
	}
}

// Replicas starting together migrate once: the others wait for the lock,
// then find nothing to do.
func TestOpenTogether(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := Open(t.Context(), dsn, Options{})
			if err == nil {
				err = db.Health(t.Context())
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db := open(t, dsn)
	var n int
	if err := db.pool.QueryRow(t.Context(), "SELECT count(*) FROM schema_version").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != schemaVersion() {
		t.Errorf("got %d schema_version rows, want %d", n, schemaVersion())
	}
}

// An older Gatehouse refuses a database a newer one has migrated.
func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	db := open(t, dsn)
	if _, err := db.pool.Exec(t.Context(), "INSERT INTO schema_version (version) VALUES ($1)", schemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	if err := db.Health(t.Context()); err == nil {
		t.Error("Health on a newer schema: got no error")
	}
	_, err := Open(t.Context(), dsn, Options{})
	want := fmt.Sprintf("database has schema version %d, this Gatehouse knows versions up to %d", schemaVersion()+1, schemaVersion())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open: got error %v, want one saying %q", err, want)
	}
}

// A record holds any string a Go string can, NUL and bytes that are not
// UTF-8 included, as bbolt's do: a request's state or a user agent comes
// from outside.
func TestRecordsHoldAnyString(t *testing.T) {
	db := open(t, pgtest.NewDatabase(t))
	odd := "a\x00b\xffc"
	a := storage.AuthRequest{ID: "ar1", State: odd, Nonce: odd, LoginHint: odd}
	if err := db.CreateAuthRequest(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAuthRequest(t.Context(), "ar1")
	if err != nil {
		t.Fatal(err)
	}
	// Bytes that are not UTF-8 come back as U+FFFD, as JSON has them.
	if want := "a\x00b\uFFFDc"; got.State != want {
		t.Errorf("State: got %q, want %q", got.State, want)
	}
	e := storage.AuditEvent{Time: time.Now(), Actor: odd, Subject: odd, UserAgent: odd, Action: "login", Outcome: storage.OutcomeSuccess}
	if err := db.AppendAudit(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	list, err := db.ListAudit(t.Context(), storage.AuditQuery{User: odd})
	if err != nil || len(list) != 1 {
		t.Errorf("ListAudit by an odd user: got %d events, %v; want 1", len(list), err)
	}
}

// Open refuses some other program's database rather than add its tables.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), "CREATE TABLE invoices (id int)"); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), dsn, Options{})
	if want := "not a Gatehouse database"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Open: got error %v, want one saying %q", err, want)
	}
}

// One SearchUsers call walks a bounded part of the index: a filter few
// users pass gives short pages with a Next, and following them finds
// those users.
func TestSearchUsersWalksABoundedPart(t *testing.T) {
	db := open(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	if err := db.CreateOrgUnit(ctx, storage.OrgUnit{ID: "root"}); err != nil {
		t.Fatal(err)
	}
	const n = maxWalked + 100
	err := db.Atomically(ctx, func(tx storage.Tx) error {
		for i := range n {
			u := storage.User{ID: fmt.Sprint("u", i), Username: fmt.Sprintf("ann%04d", i), OrgUnitID: "root", MFAEnabled: i == n-1}
			if err := tx.CreateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []storage.UserQuery{{Text: "ann", MFA: "on"}, {MFA: "on"}, {OrgUnitIDs: []string{"root"}, MFA: "on"}} {
		page, err := db.SearchUsers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Users) != 0 || page.Next == "" {
			t.Errorf("first page of %+v: got %d users and Next %q, want none and a Next", q, len(page.Users), page.Next)
		}
		q.Cursor = page.Next
		page, err = db.SearchUsers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Users) != 1 || page.Users[0].Username != fmt.Sprintf("ann%04d", n-1) || page.Next != "" {
			t.Errorf("second page of %+v: got %v, Next %q; want the last user alone and no Next", q, page.Users, page.Next)
		}
	}
}

// Two transactions that lock two records in opposite orders deadlock;
// PostgreSQL aborts one, and Atomically runs its function again, so both
// succeed and neither change is lost.
func TestAtomicallyRetriesADeadlock(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	pools := [2]*DB{open(t, dsn), open(t, dsn)}
	ctx := t.Context()
	for _, id := range []string{"m1", "m2"} {
		if err := pools[0].CreateMethod(ctx, storage.Method{ID: id, UserID: "u1", Type: storage.MethodTOTP}); err != nil {
			t.Fatal(err)
		}
	}
	step := func(m storage.Method) (storage.Method, error) { m.LastStep++; return m, nil }
	var runs [2]atomic.Int32
	var holding sync.WaitGroup // each holds its first record
	holding.Add(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, order := range [2][2]string{{"m1", "m2"}, {"m2", "m1"}} {
		wg.Go(func() {
			errs[i] = pools[i].Atomically(ctx, func(tx storage.Tx) error {
				if _, err := tx.UpdateMethod(order[0], step); err != nil {
					return err
				}
				if runs[i].Add(1) == 1 {
					holding.Done()
					holding.Wait()
				}
				_, err := tx.UpdateMethod(order[1], step)
				return err
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := runs[0].Load() + runs[1].Load(); got != 3 {
		t.Errorf("got %d runs of the two functions, want 3: one deadlocked and ran again", got)
	}
	for _, id := range []string{"m1", "m2"} {
		m, err := pools[1].GetMethod(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.LastStep != 2 {
			t.Errorf("%s: got LastStep %d, want 2", id, m.LastStep)
		}
	}
}
