package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

var sortExceptions = cmpopts.SortSlices(func(a, b storage.Exception) bool { return a.ID < b.ID })

func testExceptions(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	short := storage.Exception{ID: "e1", UserID: "u1", OrgUnitID: "ward", Kind: storage.ExceptionShortTerm, Reason: "phone_lost",
		State: storage.ExceptionApproved, RequestedBy: "helpdesk", RequestedAt: now, DecidedBy: "helpdesk", DecidedAt: now,
		ExpiresAt: now.Add(24 * time.Hour)}
	long := storage.Exception{ID: "e2", UserID: "u1", OrgUnitID: "ward", Kind: storage.ExceptionLongTerm, Reason: "accessibility",
		Note: "screen reader", Evidence: "OT assessment 2026-11", State: storage.ExceptionRequested, RequestedBy: "helpdesk", RequestedAt: now}
	other := storage.Exception{ID: "e3", UserID: "u2", Kind: storage.ExceptionShortTerm, Reason: "no_signal",
		State: storage.ExceptionRequested, RequestedBy: "admin", RequestedAt: now}
	for _, e := range []storage.Exception{short, long, other} {
		must(t, "CreateException "+e.ID, s.CreateException(ctx, e))
	}
	got, err := s.GetException(ctx, "e2")
	must(t, "GetException", err)
	check(t, "GetException", got, long)
	runErrCases(t, []errCase{
		{"create with a taken id", func(ctx context.Context) error { return s.CreateException(ctx, long) }, storage.ErrAlreadyExists},
		{"get missing", func(ctx context.Context) error { _, err := s.GetException(ctx, "nope"); return err }, storage.ErrNotFound},
		{"update missing", func(ctx context.Context) error { _, err := s.UpdateException(ctx, "nope", noChange); return err }, storage.ErrNotFound},
		{"refused update", func(ctx context.Context) error { _, err := s.UpdateException(ctx, "e2", refuse); return err }, errRefused},
	})

	byState := func(state string) []storage.Exception {
		list, err := s.ListExceptions(ctx, state)
		must(t, "ListExceptions "+state, err)
		return list
	}
	check(t, "requested", byState(storage.ExceptionRequested), []storage.Exception{long, other}, sortExceptions)
	check(t, "approved", byState(storage.ExceptionApproved), []storage.Exception{short})

	// Approval moves it from one state's index to the other's; the
	// short-term exception it replaces moves to revoked (see
	// testExceptionInvariants).
	long.State, long.DecidedBy, long.DecidedAt, long.ExpiresAt = storage.ExceptionApproved, "admin2", now, now.Add(180*24*time.Hour)
	got, err = s.UpdateException(ctx, "e2", func(e storage.Exception) (storage.Exception, error) {
		e.State, e.DecidedBy, e.DecidedAt, e.ExpiresAt = long.State, long.DecidedBy, long.DecidedAt, long.ExpiresAt
		return e, nil
	})
	must(t, "UpdateException", err)
	check(t, "UpdateException result", got, long)
	check(t, "requested after approval", byState(storage.ExceptionRequested), []storage.Exception{other})
	check(t, "approved after approval", byState(storage.ExceptionApproved), []storage.Exception{long})
	replaced := short
	replaced.State, replaced.RevokedBy, replaced.RevokedAt, replaced.DecisionNote = storage.ExceptionRevoked, "admin2", now, "Replaced by long-term exception e2"
	check(t, "revoked after approval", byState(storage.ExceptionRevoked), []storage.Exception{replaced})

	users, err := s.ListUserExceptions(ctx, "u1")
	must(t, "ListUserExceptions", err)
	check(t, "u1's exceptions", users, []storage.Exception{replaced, long}, sortExceptions)
	users, err = s.ListUserExceptions(ctx, "nobody")
	must(t, "ListUserExceptions nobody", err)
	check(t, "exceptions of a user without any", users, nil)

	if got := short.StateAt(now); got != storage.ExceptionApproved {
		t.Errorf("StateAt before expiry = %s", got)
	}
	if got := short.StateAt(short.ExpiresAt); got != storage.ExceptionExpired {
		t.Errorf("StateAt at expiry = %s, want expired", got)
	}
}
