// Package storagetest is the conformance suite every storage backend passes.
// It pins down the behaviour the storage contract promises in words
// (sentinel errors, atomic updates, index maintenance, code and refresh-token
// replay handling, expiry), so a new backend is correct when RunTests passes.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunTests runs the suite. newStorage returns a new, empty store and
// arranges to close it when t ends; each subtest gets its own. second, if
// the backend allows it, opens another handle on the same store as s (a
// second connection pool, as a second replica would have), closed when t
// ends: the invariant and race tests then write through both at once, so
// no lock held in one process can pass them. A backend that allows one
// handle (bbolt locks its file) passes nil, and they write through one.
func RunTests(t *testing.T, newStorage func(t *testing.T) storage.Storage, second func(t *testing.T, s storage.Storage) storage.Storage) {
	if second == nil {
		second = func(_ *testing.T, s storage.Storage) storage.Storage { return s }
	}
	pair := func(t *testing.T) [2]storage.Storage {
		s := newStorage(t)
		return [2]storage.Storage{s, second(t, s)}
	}
	t.Run("Invariants", func(t *testing.T) {
		t.Run("Tree", func(t *testing.T) { t.Parallel(); testTreeInvariants(t, pair(t)) })
		t.Run("OneExceptionInForce", func(t *testing.T) { t.Parallel(); testExceptionInvariants(t, pair(t)) })
		t.Run("OnePassInForce", func(t *testing.T) { t.Parallel(); testOnePassInForce(t, pair(t)) })
	})
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Storage)
	}{
		{"OrgUnits", testOrgUnits},
		{"Users", testUsers},
		{"ListUsers", testListUsers},
		{"SearchUsers", testSearchUsers},
		{"ListAdmins", testListAdmins},
		{"Methods", testMethods},
		{"Exceptions", testExceptions},
		{"Challenges", testChallenges},
		{"Clients", testClients},
		{"ProtectedApps", testProtectedApps},
		{"AuthRequests", testAuthRequests},
		{"AuthCodes", testAuthCodes},
		{"AccessTokens", testAccessTokens},
		{"RefreshTokens", testRefreshTokens},
		{"Sessions", testSessions},
		{"RememberedDevices", testRememberedDevices},
		{"SigningKeys", testSigningKeys},
		{"Secrets", testSecrets},
		{"Throttle", testThrottle},
		{"Audit", testAudit},
		{"DeleteExpired", testDeleteExpired},
		{"BackupAndHealth", testBackupAndHealth},
		{"Atomically", testAtomically},
		{"AtomicallyAccount", testAtomicallyAccount},
		{"Notifications", testNotifications},
		{"Settings", testSettings},
		{"AppPasswords", testAppPasswords},
		{"Restore", testRestore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newStorage(t))
		})
	}
	RunCopyTests(t, newStorage, newStorage)
	// Races, run through both handles.
	races := []struct {
		name string
		run  func(t *testing.T, s [2]storage.Storage)
	}{
		{"Concurrency", testConcurrency},
		{"NotificationClaimsRace", testNotificationClaimsRace},
		{"AppPasswordLimitRace", testAppPasswordLimitRace},
	}
	for _, tt := range races {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, pair(t))
		})
	}
}

// errRefused is what the update funcs in this suite return to check that a
// refused update changes nothing.
var errRefused = errors.New("update refused by test")

func refuse[T any](T) (T, error) {
	var zero T
	return zero, errRefused
}

// testNow is the suite's clock: whole milliseconds, so every backend stores
// it exactly, and UTC, so a diff prints it plainly. Tests move it by adding
// durations rather than sleeping.
func testNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// check fails t when got differs from want. Nil and empty slices and maps
// count as equal, since backends need not tell them apart.
func check[T any](t *testing.T, what string, got, want T, opts ...cmp.Option) {
	t.Helper()
	opts = append(opts, cmpopts.EquateEmpty())
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("%s: mismatch (-want +got):\n%s", what, diff)
	}
}

// checkErr fails t unless errors.Is(err, want); a nil want expects no error.
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// Lists whose order the contract leaves open are compared sorted; audit IDs
// are the backend's to choose.
var (
	sortOrgUnits  = cmpopts.SortSlices(func(a, b storage.OrgUnit) bool { return a.ID < b.ID })
	sortClients   = cmpopts.SortSlices(func(a, b storage.Client) bool { return a.ID < b.ID })
	sortSessions  = cmpopts.SortSlices(func(a, b storage.Session) bool { return a.ID < b.ID })
	ignoreAuditID = cmpopts.IgnoreFields(storage.AuditEvent{}, "ID")
)

// must stops the test on an error in setup.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// errCase is one call that must fail with a sentinel error.
type errCase struct {
	name string
	do   func(ctx context.Context) error
	want error
}

func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, c := range cases {
		checkErr(t, c.name, c.do(t.Context()), c.want)
	}
}

// entity is the create, get, update and delete methods most record kinds
// have, so the error cases they share are written once.
type entity[T any] struct {
	create func(context.Context, T) error
	get    func(context.Context, string) (T, error)
	update func(context.Context, string, func(T) (T, error)) (T, error)
	delete func(context.Context, string) error
}

// checkCommonErrors checks the sentinel errors every entity shares, given
// the stored record under id, and that a refused create or update leaves
// that record as it was.
func checkCommonErrors[T any](t *testing.T, e entity[T], id string, stored T) {
	t.Helper()
	runErrCases(t, []errCase{
		{"create with a taken id", func(ctx context.Context) error { return e.create(ctx, stored) }, storage.ErrAlreadyExists},
		{"get missing", func(ctx context.Context) error { _, err := e.get(ctx, "nope"); return err }, storage.ErrNotFound},
		{"update missing", func(ctx context.Context) error { _, err := e.update(ctx, "nope", noChange); return err }, storage.ErrNotFound},
		{"delete missing", func(ctx context.Context) error { return e.delete(ctx, "nope") }, storage.ErrNotFound},
		{"refused update", func(ctx context.Context) error { _, err := e.update(ctx, id, refuse); return err }, errRefused},
	})
	got, err := e.get(t.Context(), id)
	must(t, "get "+id, err)
	check(t, id+" after refused create and update", got, stored)
}

func noChange[T any](v T) (T, error) { return v, nil }

// createUnits creates the root unit "root" and, under it, the units named:
// a user's org unit must exist.
func createUnits(t *testing.T, s storage.Storage, children ...string) {
	t.Helper()
	must(t, "create root", s.CreateOrgUnit(t.Context(), storage.OrgUnit{ID: "root", Name: "Root"}))
	for _, id := range children {
		must(t, "create "+id, s.CreateOrgUnit(t.Context(), storage.OrgUnit{ID: id, Name: id, ParentID: "root"}))
	}
}

func testBackupAndHealth(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	checkErr(t, "Health", s.Health(ctx), nil)
	createUnits(t, s)
	must(t, "create user", s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org", testNow())))
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("Backup: %v", err)
	}
	must(t, "Backup", err)
	if n <= 0 || n != int64(buf.Len()) {
		t.Errorf("Backup: got n = %d with %d bytes written, want n > 0 and equal", n, buf.Len())
	}
}
