package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The invariants the store keeps whoever writes at once: checked one write
// at a time, then raced through two handles (s[0], s[1]) where the backend
// has two, so that a lock held in one process cannot pass them.

// rounds is how often each race is run: a backend without the check in
// its transaction loses some of them.
const rounds = 20

func testTreeInvariants(t *testing.T, s [2]storage.Storage) {
	ctx := t.Context()
	a, b := s[0], s[1]
	createUnits(t, a, "wales", "england")
	must(t, "create ward", a.CreateOrgUnit(ctx, storage.OrgUnit{ID: "ward", ParentID: "wales"}))
	move := func(st storage.Storage, id, parent string) error {
		_, err := st.UpdateOrgUnit(ctx, id, func(ou storage.OrgUnit) (storage.OrgUnit, error) { ou.ParentID = parent; return ou, nil })
		return err
	}
	runErrCases(t, []errCase{
		{"create under a missing unit", func(ctx context.Context) error {
			return b.CreateOrgUnit(ctx, storage.OrgUnit{ID: "lost", ParentID: "nowhere"})
		}, storage.ErrConflict},
		{"create a second root", func(ctx context.Context) error { return b.CreateOrgUnit(ctx, storage.OrgUnit{ID: "root2"}) }, storage.ErrConflict},
		{"move under itself", func(context.Context) error { return move(b, "wales", "wales") }, storage.ErrConflict},
		{"move under its own descendant", func(context.Context) error { return move(b, "wales", "ward") }, storage.ErrConflict},
		{"move under a missing unit", func(context.Context) error { return move(b, "ward", "nowhere") }, storage.ErrConflict},
		{"move to the top", func(context.Context) error { return move(b, "ward", "") }, storage.ErrConflict},
		{"move the root", func(context.Context) error { return move(b, "root", "ward") }, storage.ErrConflict},
		{"create a user in a missing unit", func(ctx context.Context) error {
			return b.CreateUser(ctx, storage.User{ID: "u9", Username: "lost", OrgUnitID: "nowhere"})
		}, storage.ErrConflict},
		{"move a user to a missing unit", func(ctx context.Context) error {
			must(t, "create user", b.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", OrgUnitID: "ward"}))
			_, err := b.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.OrgUnitID = "nowhere"; return u, nil })
			return err
		}, storage.ErrConflict},
	})
	checkErr(t, "move within the tree", move(b, "ward", "england"), nil)
	must(t, "delete user", b.DeleteUser(ctx, "u1"))

	// Two moves, each fine alone, that together would make a cycle: at
	// most one lands, and the tree stays a tree.
	for i := range rounds {
		x, y := fmt.Sprint("x", i), fmt.Sprint("y", i)
		must(t, "create "+x, a.CreateOrgUnit(ctx, storage.OrgUnit{ID: x, ParentID: "root"}))
		must(t, "create "+y, a.CreateOrgUnit(ctx, storage.OrgUnit{ID: y, ParentID: "root"}))
		var errX, errY error
		race(func() { errX = move(a, x, y) }, func() { errY = move(b, y, x) })
		if errX == nil && errY == nil {
			t.Fatalf("round %d: %s moved under %s and %s under %s: a cycle", i, x, y, y, x)
		}
		for _, err := range []error{errX, errY} {
			if err != nil && !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("round %d: a refused move: got %v, want ErrConflict", i, err)
			}
		}
	}

	// Deleting a unit while something is put in it: never both.
	for i := range rounds {
		unit := fmt.Sprint("gone", i)
		must(t, "create "+unit, a.CreateOrgUnit(ctx, storage.OrgUnit{ID: unit, ParentID: "root"}))
		var del, child, user error
		race(
			func() { del = a.DeleteOrgUnit(ctx, unit) },
			func() { child = b.CreateOrgUnit(ctx, storage.OrgUnit{ID: unit + "-child", ParentID: unit}) },
			func() {
				user = b.CreateUser(ctx, storage.User{ID: unit + "-user", Username: unit + "-user", OrgUnitID: unit})
			},
		)
		if del == nil && (child == nil || user == nil) {
			t.Fatalf("round %d: the unit was deleted and something was put in it (child: %v, user: %v)", i, child, user)
		}
		for _, err := range []error{child, user} {
			if err != nil && !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("round %d: putting something in a deleted unit: got %v, want ErrConflict", i, err)
			}
		}
		if del != nil && !errors.Is(del, storage.ErrNotEmpty) {
			t.Fatalf("round %d: deleting a unit being filled: got %v, want ErrNotEmpty", i, del)
		}
	}
	list, err := a.ListOrgUnits(ctx)
	must(t, "ListOrgUnits", err)
	checkTree(t, list)
}

// checkTree fails t unless list is one tree: one root, and every unit's
// parent present and reachable from it without a cycle.
func checkTree(t *testing.T, list []storage.OrgUnit) {
	t.Helper()
	byID := map[string]storage.OrgUnit{}
	roots := 0
	for _, ou := range list {
		byID[ou.ID] = ou
		if ou.ParentID == "" {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("%d roots, want 1", roots)
	}
	for _, ou := range list {
		seen := map[string]bool{}
		for id := ou.ID; id != ""; id = byID[id].ParentID {
			if _, ok := byID[id]; !ok || seen[id] {
				t.Errorf("unit %s: its ancestors break at %s", ou.ID, id)
				break
			}
			seen[id] = true
		}
	}
}

func testExceptionInvariants(t *testing.T, s [2]storage.Storage) {
	ctx := t.Context()
	a, b := s[0], s[1]
	now := testNow()
	short := func(id, user string) storage.Exception {
		return storage.Exception{ID: id, UserID: user, Kind: storage.ExceptionShortTerm, Reason: "phone_lost", State: storage.ExceptionApproved,
			RequestedBy: "hd", RequestedAt: now, DecidedBy: "hd", DecidedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	}
	requested := func(id, user string) storage.Exception {
		return storage.Exception{ID: id, UserID: user, Kind: storage.ExceptionLongTerm, Reason: "accessibility", Evidence: "OH report",
			State: storage.ExceptionRequested, RequestedBy: "hd", RequestedAt: now}
	}
	approve := func(st storage.Storage, id, by string) (storage.Exception, error) {
		return st.UpdateException(ctx, id, func(e storage.Exception) (storage.Exception, error) {
			e.State, e.DecidedBy, e.DecidedAt, e.ExpiresAt = storage.ExceptionApproved, by, now, now.Add(180*24*time.Hour)
			return e, nil
		})
	}

	must(t, "create a short-term exception", a.CreateException(ctx, short("s1", "u1")))
	checkErr(t, "a second in force", b.CreateException(ctx, short("s2", "u1")), storage.ErrConflict)
	checkErr(t, "another user's", b.CreateException(ctx, short("s3", "u2")), nil)
	checkErr(t, "a request while one is in force", b.CreateException(ctx, requested("l1", "u1")), nil)
	expired := short("old", "u3")
	expired.ExpiresAt = now
	must(t, "create an expired one", a.CreateException(ctx, expired))
	checkErr(t, "one in force after an expired one", b.CreateException(ctx, short("s4", "u3")), nil)

	// Approving a long-term exception replaces the short-term one bridging
	// to it, in the same transaction.
	long, err := approve(b, "l1", "admin2")
	must(t, "approve the long-term exception", err)
	replaced, err := a.GetException(ctx, "s1")
	must(t, "get the short-term exception", err)
	if replaced.State != storage.ExceptionRevoked || !replaced.RevokedAt.Equal(now) || replaced.RevokedBy != "admin2" || replaced.DecisionNote == "" {
		t.Errorf("the short-term exception after the long-term one was approved: %+v, want revoked at its approval by its approver, with a note", replaced)
	}
	if !long.InForce(now) {
		t.Errorf("the approved long-term exception is not in force: %+v", long)
	}
	// Nothing replaces a long-term exception.
	must(t, "request another", a.CreateException(ctx, requested("l2", "u1")))
	_, err = approve(a, "l2", "admin3")
	checkErr(t, "approving a second long-term one", err, storage.ErrConflict)
	if got, _ := b.GetException(ctx, "l2"); got.State != storage.ExceptionRequested {
		t.Errorf("a refused approval changed the request to %q", got.State)
	}

	// Many at once, through both handles: exactly one is in force.
	onlyOneWins(t, "exception", func(user string, j int) error {
		return s[j%2].CreateException(ctx, short(fmt.Sprint(user, "-", j), user))
	})
}

// testOnePassInForce: one live temporary method of a type per user, made
// through either handle at once; an expired or spent one does not count,
// and methods that last are not limited.
func testOnePassInForce(t *testing.T, s [2]storage.Storage) {
	ctx := t.Context()
	now := testNow()
	pass := func(id, user string, expires time.Time) storage.Method {
		return storage.Method{ID: id, UserID: user, Type: storage.MethodPass, Name: "Temporary access pass", CreatedAt: now, ExpiresAt: expires}
	}
	must(t, "create a pass", s[0].CreateMethod(ctx, pass("p1", "u1", now.Add(time.Hour))))
	checkErr(t, "a second live pass", s[1].CreateMethod(ctx, pass("p2", "u1", now.Add(time.Hour))), storage.ErrConflict)
	checkErr(t, "another user's pass", s[1].CreateMethod(ctx, pass("p3", "u2", now.Add(time.Hour))), nil)
	checkErr(t, "a lasting method beside a pass", s[1].CreateMethod(ctx, storage.Method{ID: "m1", UserID: "u1", Type: storage.MethodTOTP, CreatedAt: now}), nil)
	must(t, "create a spent pass", s[0].CreateMethod(ctx, pass("p4", "u3", now)))
	checkErr(t, "a pass after a spent one", s[1].CreateMethod(ctx, pass("p5", "u3", now.Add(time.Hour))), nil)
	got, err := s[0].GetMethod(ctx, "p1")
	must(t, "GetMethod", err)
	check(t, "a pass round trip", got, pass("p1", "u1", now.Add(time.Hour)))

	onlyOneWins(t, "pass", func(user string, j int) error {
		return s[j%2].CreateMethod(ctx, pass(fmt.Sprint(user, "-", j), user, now.Add(time.Hour)))
	})
}

// onlyOneWins races eight creations of a what for each of several users:
// exactly one must be made, the others refused with ErrConflict.
func onlyOneWins(t *testing.T, what string, create func(user string, j int) error) {
	t.Helper()
	for i := range rounds {
		user := fmt.Sprint("racer", i)
		errs := make([]error, 8)
		fns := make([]func(), len(errs))
		for j := range errs {
			fns[j] = func() { errs[j] = create(user, j) }
		}
		race(fns...)
		made := 0
		for _, err := range errs {
			switch {
			case err == nil:
				made++
			case !errors.Is(err, storage.ErrConflict):
				t.Fatalf("round %d: a refused %s: got %v, want ErrConflict", i, what, err)
			}
		}
		if made != 1 {
			t.Fatalf("round %d: %d of %d racing to make a %s were made, want 1", i, made, len(errs), what)
		}
	}
}

// race runs fns at once and waits for them all.
func race(fns ...func()) {
	var start, done sync.WaitGroup
	start.Add(1)
	for _, fn := range fns {
		done.Go(func() {
			start.Wait()
			fn()
		})
	}
	start.Done()
	done.Wait()
}
