package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestRefreshEndsWithRevokedException: refresh tokens from a sign-in that
// skipped MFA under an exception end with the exception, when it is
// revoked as well as when it expires; tokens from a sign-in with a second
// factor are untouched.
func TestRefreshEndsWithRevokedException(t *testing.T) {
	ctx := context.Background()
	e, app, secret := newRequiredAliceEnv(t)
	alice := mustUser(t, e, "alice")
	hd := admin.Actor{User: e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)}
	ex, err := e.adminService().RequestException(ctx, hd, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	tok := signInWithoutChallenge(t, e, app)
	if exceptionClaim(tok) == nil || tok.RefreshToken == "" {
		t.Fatalf("the sign-in under the exception: claim %v, refresh token %q", exceptionClaim(tok), tok.RefreshToken)
	}
	next, err := app.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh while the exception is in force: %v", err)
	}
	if _, err := e.adminService().RevokeException(ctx, hd, ex.ID, "phone found"); err != nil {
		t.Fatal(err)
	}
	_, err = app.refresh(next.RefreshToken)
	wantRetrieveError(t, "refresh after the exception was revoked", err, http.StatusBadRequest, "invalid_grant")
	events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "token.refresh", Outcome: storage.OutcomeDenied})
	if len(events) != 1 || events[0].Details["reason"] == "" {
		t.Errorf("audit of the refused refresh: %+v, want one denied event with a reason", events)
	}

	// A sign-in with a second factor keeps refreshing.
	e.clock.Advance(30 * time.Second)
	b := e.newBrowser()
	a := app.authorize()
	full, err := app.exchange(a, b.codeFrom(b.passChallenge(b.submitPassword(b.get(a.url), "alice", alicePassword), e.totpCode(secret)), a))
	if err != nil || exceptionClaim(full) != nil {
		t.Fatalf("the MFA sign-in: %v, exception claim %v", err, exceptionClaim(full))
	}
	if _, err := app.refresh(full.RefreshToken); err != nil {
		t.Errorf("refreshing the MFA sign-in's token: %v", err)
	}
}
