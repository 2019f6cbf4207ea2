package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// adminSignIn signs username in at /admin in a new browser, through the
// password and an authenticator app set up for them, and returns the
// browser and the TOTP key.
func (e *env) adminSignIn(t *testing.T, username string) (*browser, string) {
	t.Helper()
	b := e.newBrowser()
	p := b.submitPassword(b.get(e.issuer+"/admin"), username, alicePassword)
	if !strings.Contains(p.body, "Set up multi-factor authentication") {
		t.Fatalf("an admin without MFA at /admin: want the set-up page, got status %d:\n%s", p.status(), p.body)
	}
	secret, p := b.enrolDuringSignIn(p)
	e.clock.Advance(30 * time.Second)
	if p = b.passChallenge(p, e.totpCode(secret)); !strings.Contains(p.body, "<h1>Admin</h1>") {
		t.Fatalf("after MFA: want the admin start page, got status %d:\n%s", p.status(), p.body)
	}
	return b, secret
}

// TestAdminAccess: the admin pages need a role and a second factor, time
// out after 15 idle minutes, and refuse (and audit) a scoped admin's
// request outside their subtree, however it is made.
func TestAdminAccess(t *testing.T) {
	ctx := context.Background()
	e, _ := newAliceEnv(t)
	root, _ := findOrgUnit(ctx, e.store, "")
	for _, ou := range []storage.OrgUnit{{ID: "wales", Name: "Wales", ParentID: root.ID}, {ID: "england", Name: "England", ParentID: root.ID}} {
		if err := e.store.CreateOrgUnit(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	wales := e.addUser("wales-admin", alicePassword)
	if _, err := e.store.UpdateUser(ctx, wales.ID, func(u storage.User) (storage.User, error) {
		u.Roles = []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "wales"}}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}

	// No role: refused after signing in, and audited.
	b := e.newBrowser()
	p := b.submitPassword(b.get(e.issuer+"/admin"), "alice", alicePassword)
	if p.status() != http.StatusForbidden {
		t.Errorf("a user without a role at /admin: status %d, want 403", p.status())
	}

	b, secret := e.adminSignIn(t, "wales-admin")
	p = b.get(e.issuer + "/admin/org-units")
	if !strings.Contains(p.body, ">Wales</a>") || strings.Contains(p.body, ">England</a>") {
		t.Errorf("a Wales admin's org units page shows other units, or not Wales:\n%s", p.body)
	}
	if p = b.get(e.issuer + "/admin/org-units/wales"); p.status() != http.StatusOK || !strings.Contains(p.body, "Settings → Multi-Factor Authentication") {
		t.Errorf("own unit's settings: status %d", p.status())
	}
	// Outside the subtree: a crafted URL and a crafted form are refused.
	if p = b.get(e.issuer + "/admin/org-units/england"); p.status() != http.StatusForbidden {
		t.Errorf("another unit's settings: status %d, want 403", p.status())
	}
	csrf := b.get(e.issuer + "/admin/org-units/wales").form().Get("csrf")
	if p = b.post("/admin/org-units/england", url.Values{"csrf": {csrf}, "name": {"Mine now"}, "mfa": {"optional"}}); p.status() != http.StatusForbidden {
		t.Errorf("a crafted form for another unit: status %d, want 403", p.status())
	}
	if p = b.post("/admin/org-units", url.Values{"csrf": {csrf}, "name": {"Rogue"}, "parent": {root.ID}}); p.status() != http.StatusForbidden {
		t.Errorf("creating a unit at the root: status %d, want 403", p.status())
	}
	if england, _ := e.store.GetOrgUnit(ctx, "england"); england.Name != "England" {
		t.Error("the crafted form changed England")
	}
	// Without the form token, nothing changes.
	if p = b.post("/admin/org-units/wales", url.Values{"name": {"Cymru"}, "mfa": {"required"}}); p.status() != http.StatusForbidden {
		t.Errorf("a form without its token: status %d, want 403", p.status())
	}
	// Required above Wales: its admin may not loosen it here.
	e.setRootMFA(storage.MFARequired)
	p = b.post("/admin/org-units/wales", url.Values{"csrf": {csrf}, "name": {"Wales"}, "mfa": {"optional"}, "methods_mode": {"inherit"}})
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, "only an admin of Organisation can make it looser here") {
		t.Errorf("loosening below a required parent: status %d, want 422 and why", p.status())
	}
	e.setRootMFA(storage.MFAOptional)
	// A refused save shows what was typed, with the error by its field.
	p = b.post("/admin/org-units/wales", url.Values{"csrf": {csrf}, "name": {"Wales"}, "mfa": {"required"}, "methods_mode": {"inherit"}, "regions": {"GB, XX"}})
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `value="GB, XX"`) || !strings.Contains(p.body, `id="regions_error"`) ||
		!strings.Contains(p.body, `value="required" checked`) {
		t.Errorf("a refused save: status %d, the typed values or the field error missing:\n%s", p.status(), p.body)
	}
	// Set Wales to prompted: the page says how many users it reaches.
	p = b.post("/admin/org-units/wales", url.Values{"csrf": {csrf}, "name": {"Wales"}, "mfa": {"prompted"}, "methods_mode": {"inherit"}, "remember": {"12h0m0s"}})
	if !strings.Contains(p.body, "Settings saved.") || !strings.Contains(p.body, "prompted (own setting)") {
		t.Errorf("saving Wales: status %d\n%s", p.status(), p.body)
	}
	if w, _ := e.store.GetOrgUnit(ctx, "wales"); w.MFA != storage.MFAPrompted || w.RememberMFA == nil || *w.RememberMFA != 12*time.Hour {
		t.Errorf("Wales stored as %+v", w)
	}

	events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Action: "org_unit.updated"})
	denied := 0
	for _, ev := range events {
		if ev.Outcome == storage.OutcomeDenied && ev.Actor == wales.ID {
			denied++
		}
	}
	if denied != 1 {
		t.Errorf("%d denied org_unit.updated events for the Wales admin, want 1", denied)
	}

	// Fifteen idle minutes: the password and a second factor again.
	e.clock.Advance(16 * time.Minute)
	p = b.get(e.issuer + "/admin/org-units")
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("after 16 idle minutes: want the password page, got status %d", p.status())
	}
	p = b.submitPassword(p, "wales-admin", alicePassword)
	if p = b.passChallenge(p, e.totpCode(secret)); !strings.Contains(p.body, "<h1>Org units</h1>") {
		t.Errorf("after signing in again: want the page asked for, got status %d", p.status())
	}
}

// TestExceptionNeverOpensAdmin: a helpdesk member with an MFA exception
// signs in to apps without a second factor, but the admin pages still ask
// for one.
func TestExceptionNeverOpensAdmin(t *testing.T) {
	ctx := context.Background()
	e, app := newAliceEnv(t)
	hd := e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	boss := e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	e.adminSignIn(t, "hd") // sets up an authenticator app
	if _, err := e.server.admin.RequestException(ctx, admin.Actor{User: boss}, admin.ExceptionRequest{UserID: hd.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"}); err != nil {
		t.Fatal(err)
	}
	b := e.newBrowser()
	a := app.authorize()
	tok, err := app.exchange(a, b.signIn(app, a, "hd", alicePassword))
	if err != nil || tok.claims["acr"] != "pwd" || exceptionClaim(tok) == nil {
		t.Fatalf("the helpdesk member's app sign-in under the exception: %v, acr %v", err, tok.claims["acr"])
	}
	if p := b.get(e.issuer + "/admin"); !strings.Contains(p.body, "Verify it's you") {
		t.Errorf("the admin pages under an exception: want the challenge, got status %d", p.status())
	}
}

// TestDeletedClient: a deleted client's access tokens stop working, and a
// sign-in to it that was under way ends with a clear page, not a token.
func TestDeletedClient(t *testing.T) {
	ctx := context.Background()
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	tok, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.provider.UserInfo(app.ctx(), oauth2.StaticTokenSource(tok.Token)); err != nil {
		t.Fatalf("userinfo before the delete: %v", err)
	}
	other := e.addRP("other", false)
	a = other.authorize()
	fresh := e.newBrowser()
	p := fresh.get(a.url)
	for _, id := range []string{"app", "other"} {
		if err := e.store.DeleteClient(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := app.provider.UserInfo(app.ctx(), oauth2.StaticTokenSource(tok.Token)); err == nil {
		t.Error("a deleted client's access token still works at userinfo")
	}
	p = fresh.submitPassword(p, "alice", alicePassword)
	if p.location().Host == e.rpHost || p.status() != http.StatusBadRequest || !strings.Contains(p.body, "no longer registered") {
		t.Errorf("signing in to a deleted client: status %d location %q", p.status(), p.location())
	}
}
