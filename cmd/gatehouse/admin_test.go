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
	// The app's first code is the second factor: straight to the page.
	secret, p := b.enrolDuringSignIn(p)
	if !strings.Contains(p.body, "<h1>Admin</h1>") {
		t.Fatalf("after setting up MFA: want the admin start page, got status %d:\n%s", p.status(), p.body)
	}
	e.clock.Advance(30 * time.Second) // the next code is another step's
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

// TestScopedAdminCannotLoosenBelowScope: an org admin of a ward under a
// trust that requires MFA, allows only an authenticator app and security
// keys, remembers a device for an hour and accepts GB numbers may not
// loosen any of that, in the ward or in a unit they create below it, nor
// move a looser unit in from elsewhere in their scope.
func TestScopedAdminCannotLoosenBelowScope(t *testing.T) {
	ctx := context.Background()
	e, _ := newAliceEnv(t)
	root, _ := findOrgUnit(ctx, e.store, "")
	hour := time.Hour
	for _, ou := range []storage.OrgUnit{
		{ID: "trust", Name: "Trust", ParentID: root.ID, MFA: storage.MFARequired, AllowedMethods: []string{storage.MethodTOTP, storage.MethodWebAuthn},
			PhoneRegions: []string{"GB"}, RememberMFA: &hour},
		{ID: "ward", Name: "Ward", ParentID: "trust", MFA: storage.MFAInherit},
		{ID: "annex", Name: "Annex", ParentID: root.ID, MFA: storage.MFAOptional},
		{ID: "loose", Name: "Loose", ParentID: "annex", MFA: storage.MFAOptional},
		{ID: "plain", Name: "Plain", ParentID: "annex", MFA: storage.MFAInherit},
		// A global admin's exemption under the trust, and a second trust.
		{ID: "exempt", Name: "Exempt", ParentID: "ward", MFA: storage.MFAOptional},
		{ID: "trust2", Name: "Trust 2", ParentID: root.ID, MFA: storage.MFARequired},
		{ID: "ward2", Name: "Ward 2", ParentID: "trust2", MFA: storage.MFAInherit},
	} {
		if err := e.store.CreateOrgUnit(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	wardAdmin := e.addUser("ward-admin", alicePassword)
	if _, err := e.store.UpdateUser(ctx, wardAdmin.ID, func(u storage.User) (storage.User, error) {
		u.Roles = []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "ward"}, {Role: storage.RoleOrgAdmin, OrgUnitID: "annex"},
			{Role: storage.RoleOrgAdmin, OrgUnitID: "ward2"}}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	b, _ := e.adminSignIn(t, "ward-admin")
	csrf := b.adminCSRF(t)

	// A unit of their own below the ward: allowed, and it inherits.
	p := b.post("/admin/org-units", url.Values{"csrf": {csrf}, "name": {"Side room"}, "parent": {"ward"}})
	if !strings.Contains(p.body, "Org unit created.") {
		t.Fatalf("creating a unit under the ward: status %d\n%s", p.status(), p.body)
	}
	side := strings.TrimPrefix(p.resp.Request.URL.Path, "/admin/org-units/")

	save := func(unit string, form url.Values) page {
		form.Set("csrf", csrf)
		form.Set("name", "Side room")
		if form.Get("mfa") == "" {
			form.Set("mfa", "inherit")
		}
		return b.post("/admin/org-units/"+unit, form)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"MFA optional", url.Values{"mfa": {"optional"}}, "Trust, above this unit, makes MFA required; only an admin of Trust can make it looser here"},
		{"text messages allowed", url.Values{"methods_mode": {"own"}, "methods": {"totp", "sms"}}, "Trust, above this unit, allows only"},
		{"every method", url.Values{"methods_mode": {"own"}, "methods": {"totp", "webauthn", "sms", "voice", "email", "recovery"}}, "only an admin of Trust can allow more here"},
		{"French numbers", url.Values{"regions": {"GB, FR"}}, "Trust, above this unit, accepts phone numbers from GB only"},
		{"a day's remembering", url.Values{"remember": {"24h0m0s"}}, "Trust, above this unit, remembers a device for at most 1 hour"},
		{"app passwords", url.Values{"app_passwords": {"on"}}, "Trust, above this unit, does not allow app passwords; only an admin of Trust can allow them here"},
	} {
		for _, unit := range []string{side, "ward"} {
			p := save(unit, tc.form)
			if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, tc.want) {
				t.Errorf("%s in %s: status %d, want 422 and %q", tc.name, unit, p.status(), tc.want)
			}
		}
	}
	// Stricter is fine.
	if p := save(side, url.Values{"methods_mode": {"own"}, "methods": {"totp"}, "remember": {"0s"}}); !strings.Contains(p.body, "Settings saved.") {
		t.Errorf("a stricter setting: status %d\n%s", p.status(), p.body)
	}
	got, _ := e.store.GetOrgUnit(ctx, side)
	if got.MFA != storage.MFAInherit || len(got.AllowedMethods) != 1 || got.RememberMFA == nil || *got.RememberMFA != 0 {
		t.Errorf("the side room after the refusals and one stricter save: %+v", got)
	}

	// Moving a unit with its own optional setting in under the ward is a
	// way round the same rule; one that inherits becomes required.
	move := func(unit, parent string) page {
		return b.post("/admin/org-units/"+unit+"/move", url.Values{"csrf": {csrf}, "parent": {parent}})
	}
	if p := move("loose", side); p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, "only an admin of Trust can make it looser here") {
		t.Errorf("moving an optional unit under the ward: status %d\n%s", p.status(), p.body)
	}
	if got, _ := e.store.GetOrgUnit(ctx, "loose"); got.ParentID != "annex" {
		t.Errorf("the refused move moved the unit to %q", got.ParentID)
	}
	if p := move("plain", side); !strings.Contains(p.body, "Org unit moved.") {
		t.Errorf("moving an inheriting unit under the ward: status %d\n%s", p.status(), p.body)
	}
	// The exemption a global admin made under the trust stays editable
	// where it is, but does not travel to another trust.
	if p := b.post("/admin/org-units/exempt", url.Values{"csrf": {csrf}, "name": {"Exempt ward"}, "mfa": {"optional"}}); !strings.Contains(p.body, "Settings saved.") {
		t.Errorf("renaming the global admin's exemption in place: status %d\n%s", p.status(), p.body)
	}
	if p := move("exempt", "ward2"); p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, "only an admin of Trust 2 can make it looser here") {
		t.Errorf("moving the exemption under another trust: status %d\n%s", p.status(), p.body)
	}
	// A global admin may loosen anything.
	alice, _ := e.store.GetUserByUsername(ctx, "alice")
	e.withRole(alice, storage.RoleGlobalAdmin)
	g, _ := e.adminSignIn(t, "alice")
	gcsrf := g.adminCSRF(t)
	if p := g.post("/admin/org-units/"+side, url.Values{"csrf": {gcsrf}, "name": {"Side room"}, "mfa": {"optional"}}); !strings.Contains(p.body, "Settings saved.") {
		t.Errorf("a global admin loosening the side room: status %d\n%s", p.status(), p.body)
	}
}
