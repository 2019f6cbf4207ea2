package admin

import (
	"context"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestNoSelfApproval: an org admin cannot approve a long-term exception
// for themselves, even one a colleague asked for: exceptions are never
// self-service. The refusal is audited.
func TestNoSelfApproval(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ward := storage.User{ID: "ward-admin", Username: "ward-admin", OrgUnitID: "ward",
		Roles: []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "ward"}}}
	if err := f.store.CreateUser(ctx, ward); err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateMethod(ctx, storage.Method{ID: "m2", UserID: ward.ID, Type: storage.MethodTOTP}); err != nil {
		t.Fatal(err)
	}
	// Asked for by an org admin: a helpdesk member cannot ask for one for
	// an org admin (TestExceptionOnlyForRolesTheActorCouldGrant).
	e, err := f.svc.RequestException(ctx, f.actor["wales-admin-2"], ExceptionRequest{UserID: ward.ID,
		Kind: storage.ExceptionLongTerm, Reason: "accessibility", Evidence: "OH assessment"})
	if err != nil {
		t.Fatal(err)
	}
	self := Actor{User: ward}
	if got, err := f.svc.DecideException(ctx, self, e.ID, true, ""); err == nil || got.State == storage.ExceptionApproved {
		t.Fatalf("the subject approved their own exception: %+v", got)
	}
	if stored, _ := f.store.GetException(ctx, e.ID); stored.State != storage.ExceptionRequested {
		t.Errorf("stored state %q, want still requested", stored.State)
	}
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: ward.ID, Action: "exception.approved"})
	if len(events) != 1 || events[0].Outcome != storage.OutcomeDenied || events[0].Actor != ward.ID {
		t.Errorf("audit of the refusal: %+v, want one denied event by the subject", events)
	}
	// Another admin over them still can.
	if got, err := f.svc.DecideException(ctx, f.actor["wales-admin"], e.ID, true, ""); err != nil || got.State != storage.ExceptionApproved {
		t.Errorf("another admin approving: %v, %+v", err, got)
	}
}
