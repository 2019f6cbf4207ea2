package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Journeys through the admin pages in a real browser, as the pages in
// browser_pages_test.go are walked: every admin page and state met (lists,
// forms, forms with an error summary, confirmation steps, notices) is
// checked with axe-core and saved as a screenshot, and each journey checks
// what it changed in the store, not only the pages it saw.

// TestBrowserAdminOrgUnitPrompted: a global admin signs in at /admin with
// a password and an authenticator app, sets an org unit to Prompted (after
// a refused save), sees the notice and how many users it reaches, creates
// a user in it (after a refused form) and finds them with a search; their
// page says they will be prompted. That user, signing in at the demo app
// with the one-time password, chooses a password and is offered MFA setup
// with "Not now".
func TestBrowserAdminOrgUnitPrompted(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addOrgUnits(storage.OrgUnit{ID: "sales", Name: "Sales"})
	_, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	e.placeUser(e.addUser("bea", alicePassword), "sales")
	b := newTab(t)

	b.signInToAdmin(e, "boss", key)
	b.wantText(".who", "User boss")
	checkA11y(t, b, "admin home")

	b.submit(`nav a[href="/admin/org-units"]`)
	b.wantPage("Org units")
	b.wantText("table", "Sales")
	checkA11y(t, b, "org units")
	b.submit(`table a[href="/admin/org-units/sales"]`)
	b.wantPage("Sales")
	b.wantText("main", "This setting applies to 1 user.")
	checkA11y(t, b, "org unit settings")

	// A phone region that does not exist: the error summary links to the field.
	save := `form[action="/admin/org-units/sales"] button[type=submit]`
	b.click("#mfa_prompted")
	b.fill("#regions", "Narnia")
	if got := b.submit(save); got != http.StatusUnprocessableEntity {
		t.Errorf("saving a bad phone region: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#regions"]`, "Phone regions")
	checkA11y(t, b, "org unit settings, error")
	if ou, _ := e.store.GetOrgUnit(t.Context(), "sales"); ou.MFA == storage.MFAPrompted {
		t.Error("a refused save changed the unit")
	}

	b.fill("#regions", "")
	b.click("#mfa_prompted")
	b.submit(save)
	b.wantPage("Sales")
	b.wantText(".notice", "Settings saved.")
	b.wantText("main", "Multi-factor authentication here: prompted")
	b.wantText("main", "This setting applies to 1 user.")
	if !inTab(b, "read the policy", chromedp.Evaluate[bool](`document.querySelector("#mfa_prompted").checked`)) {
		t.Error("after saving, Prompted is not the checked policy")
	}
	checkA11y(t, b, "org unit settings, saved")
	if ou, _ := e.store.GetOrgUnit(t.Context(), "sales"); ou.MFA != storage.MFAPrompted {
		t.Errorf("Sales stored with MFA %q, want prompted", ou.MFA)
	}

	// A new user in Sales: the form refuses a username that is taken.
	b.submit(`nav a[href="/admin/users"]`)
	b.wantPage("Users")
	checkA11y(t, b, "users")
	b.submit(`a.button[href="/admin/users/new"]`)
	b.wantPage("Create a user")
	checkA11y(t, b, "create a user")
	b.fill("#username", "bea")
	b.fill("#display_name", "Bob Brown")
	inTab(b, "choose Sales", chromedp.SetValue(chromedp.CSS("#org_unit"), "sales"))
	create := buttonLabelled("Create user")
	if got := b.submit(create); got != http.StatusUnprocessableEntity {
		t.Errorf("creating a user with a taken username: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#username"]`, "That username is taken")
	checkA11y(t, b, "create a user, error")
	b.fill("#username", "bob")
	inTab(b, "choose Sales", chromedp.SetValue(chromedp.CSS("#org_unit"), "sales"))
	b.submit(create)
	b.wantPage("Bob Brown was created")
	oneTime := b.text("code.secret")
	b.wantText("main", "will be: prompted to set up multi-factor authentication, because org unit Sales prompts")
	checkA11y(t, b, "user created")
	if bob := mustUser(t, e, "bob"); bob.OrgUnitID != "sales" || !bob.MustChangePassword {
		t.Errorf("bob stored in %q, must change password %v; want sales, true", bob.OrgUnitID, bob.MustChangePassword)
	}

	// The users list, searched, then the user's page: what their next sign-in will be.
	b.submit(`nav a[href="/admin/users"]`)
	b.fill("#q", "brown")
	b.submit(`form[role=search] button[type=submit]`)
	b.wantPage("Users")
	if got := b.count("tbody tr"); got != 1 {
		t.Errorf("searching for brown: %d rows, want 1\n%s", got, b.text("main"))
	}
	checkA11y(t, b, "users, search")
	b.submit(`tbody a[href^="/admin/users/"]`)
	b.wantPage("Bob Brown")
	b.wantText("main", "At next sign-in this user will be: prompted to set up multi-factor authentication")
	checkA11y(t, b, "user")

	// Bob, at his own computer, signs in at the demo app.
	u := newTab(t)
	u.signInAtDemo(demo, "bob", oneTime)
	u.wantPage("Choose a new password")
	u.fill("#new_password", "bob's own password")
	u.fill("#confirm_password", "bob's own password")
	u.submit(`form[action="/login/change-password"] button`)
	u.wantPage("Set up multi-factor authentication")
	if !u.has(`form[action="/login/not-now"] button`) {
		t.Fatal("a user in a prompted unit is not offered Not now")
	}
	u.submit(`form[action="/login/not-now"] button`)
	u.wantPage("Demo app")
	if got := u.demoClaim("acr"); got != `"pwd"` {
		t.Errorf("bob after Not now: acr = %s, want \"pwd\"", got)
	}
}

// TestBrowserAdminResetMFA: an admin finds a user with a search, opens
// "MFA Settings…", is stopped until the box is ticked, confirms on the
// "Are you sure?" page and is reminded to ask the user to set MFA up again;
// the user's methods are gone, and the notice telling the user of it is
// in the dev outbox. The reset is then found in the audit log by a filter
// (after a filter that names nobody).
func TestBrowserAdminResetMFA(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	_, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	carol := e.addUser("carol", alicePassword)
	e.addAuthenticatorApp(carol)
	if err := e.store.CreateMethod(t.Context(), storage.Method{ID: storage.NewID(), UserID: carol.ID, Type: storage.MethodEmail,
		Name: "Work email", Target: "carol@example.org", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.addUser("carl", alicePassword) // another match for "car", without MFA
	b := newTab(t)
	b.signInToAdmin(e, "boss", key)

	// The users with MFA on whose name starts "car": carol, not carl.
	b.submit(`nav a[href="/admin/users"]`)
	b.fill("#q", "car")
	inTab(b, "choose MFA on", chromedp.SetValue(chromedp.CSS("#mfa"), "on"))
	b.submit(`form[role=search] button[type=submit]`)
	b.wantPage("Users")
	if got := b.count("tbody tr"); got != 1 || !strings.Contains(b.text("tbody"), "carol") {
		t.Errorf("users with MFA matching car: %d rows:\n%s", got, b.text("main"))
	}
	checkA11y(t, b, "users, search with filters")

	b.submit(`tbody a[href="/admin/users/` + carol.ID + `"]`)
	b.wantPage("User carol")
	b.wantText("table", "Authenticator app")
	b.submit(`a[href="/admin/users/` + carol.ID + `/mfa"]`) // MFA Settings…
	b.wantPage("MFA settings for User carol")
	b.wantText("main", "2 registered methods")
	checkA11y(t, b, "user MFA settings")

	disable := buttonLabelled("Disable MFA")
	if got := b.submit(disable); got != http.StatusUnprocessableEntity {
		t.Errorf("Disable MFA without the box ticked: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#turn_off"]`, "Tick")
	checkA11y(t, b, "user MFA settings, error")

	b.click("#turn_off") // "Turn off MFA for User carol"
	b.submit(disable)
	b.wantPage("Turn off MFA for User carol?")
	if n := len(e.methodsOf(carol)); n != 2 {
		t.Errorf("before confirming: carol has %d methods, want 2", n)
	}
	checkA11y(t, b, "confirm turning off MFA")
	b.submit(buttonLabelled("Yes, turn off MFA"))
	b.wantPage("MFA turned off for User carol")
	b.wantText(".notice", "methods were removed")
	b.wantText("main", "Ask User carol to set MFA up again")
	checkA11y(t, b, "MFA turned off")

	if m := e.methodsOf(carol); len(m) != 0 {
		t.Errorf("after the reset carol still has %d methods", len(m))
	}
	if u := mustUser(t, e, "carol"); u.MFAEnabled {
		t.Error("after the reset carol's MFA is still on")
	}
	b.submit(`main a[href="/admin/users/` + carol.ID + `"]`)
	b.wantPage("User carol")
	b.wantText("main", "No methods registered.")

	e.sendDue() // as the sender does every two seconds
	b.open(e.issuer + "/dev/outbox")
	b.wantPage("Dev outbox")
	b.wantText("main", "Notification email to carol@example.org")
	b.wantText("main", "Your multi-factor authentication was reset")
	b.wantText("main", "An administrator reset multi-factor authentication on your account")
	checkA11y(t, b, "dev outbox with a notification")
	b.open(e.issuer + "/admin")

	// The audit log: a filter naming nobody is refused; one by action finds the reset.
	b.submit(`nav a[href="/admin/audit"]`)
	b.wantPage("Audit log")
	checkA11y(t, b, "audit log")
	b.fill("#user", "nobody-by-that-name")
	if got := b.submit(`form[action="/admin/audit"] button[type=submit]`); got != http.StatusUnprocessableEntity {
		t.Errorf("an audit filter for an unknown user: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#user"]`, "No user has that username or email")
	checkA11y(t, b, "audit log, error")
	b.fill("#user", "carol")
	b.fill("#action", "mfa.reset")
	b.submit(`form[action="/admin/audit"] button[type=submit]`)
	b.wantPage("Audit log")
	if n := b.count("tbody tr"); n != 1 {
		t.Errorf("audit events for carol's MFA reset: %d rows, want 1\n%s", n, b.text("main"))
	}
	b.wantText("tbody tr", "mfa.reset")
	b.wantText("tbody tr", "boss") // the actor, by username
	checkA11y(t, b, "audit log, filtered")
}

// TestBrowserAdminExceptions: an admin grants a short-term exception from
// the form (after leaving out the reason), sees it in force and revokes it
// through the confirmation step; then requests a long-term one with
// evidence and sees no Approve button on their own request; a second admin,
// signed in on another computer, approves it from the queue.
func TestBrowserAdminExceptions(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	_, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	boss2, key2 := e.addAdmin("boss2", storage.RoleOrgAdmin, "")
	dave := e.addUser("dave", alicePassword)
	e.addAuthenticatorApp(dave) // an exception covers a method that is unavailable
	b := newTab(t)
	b.signInToAdmin(e, "boss", key)

	b.submit(`nav a[href="/admin/exceptions"]`)
	b.wantPage("MFA exceptions")
	b.wantText("main", "No exceptions are in force.")
	checkA11y(t, b, "exceptions, none")
	b.fill("#username", "dave")
	b.submit(`form[action="/admin/exceptions/new"] button`)
	b.wantPage("MFA exception for User dave")
	checkA11y(t, b, "exception form")

	grant := buttonLabelled("Grant for 24 hours")
	if got := b.submit(grant); got != http.StatusUnprocessableEntity {
		t.Errorf("a short-term exception without a reason: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#short_reason"]`, "Choose a reason from the list")
	checkA11y(t, b, "exception form, error")
	b.click("#short_reason_no_signal")
	b.fillArea("#short_note", "Ticket 4411")
	b.submit(grant)
	b.wantPage("MFA exceptions")
	b.wantText(".notice", "Short-term exception granted")
	granted := e.exceptionsOf(dave, storage.ExceptionApproved)
	if len(granted) != 1 || granted[0].Kind != storage.ExceptionShortTerm || granted[0].Reason != "no_signal" {
		t.Fatalf("dave's exceptions in force: %+v, want one short-term for no_signal", granted)
	}
	row := "#exception-" + granted[0].ID
	b.wantText("#active + p + table "+row, "At a location without signal or internet")
	b.wantText("#active + p + table "+row, "Ending soon") // it ends within 48 hours, and is listed once
	checkA11y(t, b, "exceptions, one in force")

	b.fill("#revoke-note-"+granted[0].ID, "Back in the office")
	b.submit(row + " button[type=submit]")
	b.wantPage("Revoke User dave's exception?")
	checkA11y(t, b, "confirm revoking an exception")
	b.submit(buttonLabelled("Revoke the exception"))
	b.wantPage("MFA exceptions")
	b.wantText(".notice", "Exception revoked")
	b.wantText("main", "No exceptions are in force.")
	checkA11y(t, b, "exceptions, revoked")
	if got := e.exceptionsOf(dave, storage.ExceptionRevoked); len(got) != 1 {
		t.Errorf("dave has %d revoked exceptions, want 1", len(got))
	}

	// A long-term request, from dave's page: it waits for another admin.
	b.open(e.issuer + "/admin/users/" + dave.ID)
	b.submit(`a[href="/admin/users/` + dave.ID + `/exceptions/new"]`)
	b.wantPage("MFA exception for User dave")
	b.click("#long_reason") // accessibility needs, the first reason
	b.fillArea("#evidence", "Occupational health assessment OH-2291: cannot use a phone app")
	b.submit(buttonLabelled("Send for approval"))
	b.wantPage("MFA exceptions")
	b.wantText(".notice", "Long-term exception requested: another admin must approve it.")
	requested := e.exceptionsOf(dave, storage.ExceptionRequested)
	if len(requested) != 1 {
		t.Fatalf("dave has %d requested exceptions, want 1", len(requested))
	}
	row = "#exception-" + requested[0].ID
	b.wantText("#pending + table "+row, "OH-2291")
	b.wantText(row, "You made this request: another admin must approve it.")
	if b.has(row+` button:not([formaction])`) || !b.has(row+` button[formaction$="/reject"]`) {
		t.Error("on their own request the requester is shown an Approve button, or no Reject button")
	}
	checkA11y(t, b, "exceptions, own request waiting")

	// The second admin, at another computer.
	b2 := newTab(t)
	b2.signInToAdmin(e, "boss2", key2)
	b2.wantText(".warning", "1 long-term exception request waiting for approval")
	b2.submit(`.warning a[href="/admin/exceptions#pending"]`)
	b2.wantPage("MFA exceptions")
	b2.fill("#decision-note-"+requested[0].ID, "Seen the assessment")
	b2.submit(row + ` button:not([formaction])`) // Approve
	b2.wantPage("MFA exceptions")
	b2.wantText(".notice", "Exception approved: it lasts 180 days.")
	b2.wantText("#active + p + table", "User dave")
	checkA11y(t, b2, "exceptions, approved")
	approved := e.exceptionsOf(dave, storage.ExceptionApproved)
	if len(approved) != 1 || approved[0].ID != requested[0].ID || approved[0].DecidedBy != boss2.ID || approved[0].DecisionNote != "Seen the assessment" {
		t.Errorf("after approval, dave's exceptions in force: %+v", approved)
	}
}

// TestBrowserAdminClients: a global admin registers a client (after a
// refused form); its secret is shown once, matches the stored hash and is
// on no later page.
func TestBrowserAdminClients(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	_, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	b := newTab(t)
	b.signInToAdmin(e, "boss", key)

	b.submit(`nav a[href="/admin/clients"]`)
	b.wantPage("Clients")
	b.wantText("table", "Gatehouse demo")
	checkA11y(t, b, "clients")
	b.submit(`a.button[href="/admin/clients/new"]`)
	b.wantPage("Register a client")
	checkA11y(t, b, "register a client")

	register := buttonLabelled("Register client")
	b.fillArea("#redirect_uris", "http://payroll.example/callback")
	if got := b.submit(register); got != http.StatusUnprocessableEntity {
		t.Errorf("a client without a name and with an http redirect: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#name"]`, "Enter a name")
	b.wantText(`.error-summary a[href="#redirect_uris"]`, "http://payroll.example/callback")
	checkA11y(t, b, "register a client, error")

	b.fill("#name", "Payroll")
	b.fillArea("#redirect_uris", "https://payroll.example/callback")
	b.submit(register)
	b.wantPage("Client registered")
	secret := b.text("code.secret")
	b.wantText(".hint", "shown only this once")
	checkA11y(t, b, "client secret")

	c := clientNamed(t, e, "Payroll")
	if got := provider.HashSecret(secret); !slices.Equal(got, c.SecretHash) {
		t.Error("the secret shown does not match the stored hash")
	}
	if !slices.Equal(c.RedirectURIs, []string{"https://payroll.example/callback"}) {
		t.Errorf("stored redirect URIs %q", c.RedirectURIs)
	}
	b.submit(`main a[href="/admin/clients/` + c.ID + `"]`)
	b.wantPage("Payroll")
	checkA11y(t, b, "client")
	for _, page := range []string{e.issuer + "/admin/clients/" + c.ID, e.issuer + "/admin/clients"} {
		b.open(page)
		if b.has("code.secret") || strings.Contains(b.text("body"), secret) {
			t.Errorf("%s shows the secret again", page)
		}
	}
}

// TestBrowserAdminProtectedApps: a global admin registers a protected app
// (a refused form first, its errors linked to the fields), finds it in the
// list, edits it and deletes it after the confirmation step; every page
// state passes axe.
func TestBrowserAdminProtectedApps(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	e.addOrgUnits(storage.OrgUnit{ID: "wales", Name: "Wales"}, storage.OrgUnit{ID: "ward", Name: "Ward 7", ParentID: "wales"})
	_, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	b := newTab(t)
	b.signInToAdmin(e, "boss", key)

	b.submit(`nav a[href="/admin/apps"]`)
	b.wantPage("Protected apps")
	b.wantText("main", "No protected apps are registered yet.")
	checkA11y(t, b, "protected apps, none")
	b.submit(`a.button[href="/admin/apps/new"]`)
	b.wantPage("Register a protected app")
	checkA11y(t, b, "register a protected app")

	register := buttonLabelled("Register app")
	b.fill("#host", "https://wiki.example.org")
	if got := b.submit(register); got != http.StatusUnprocessableEntity {
		t.Errorf("an app without a name and with a scheme in its host: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#name"]`, "Enter a name")
	b.wantText(`.error-summary a[href="#host"]`, "without http:// or https://")
	checkA11y(t, b, "register a protected app, error")

	b.fill("#name", "Wiki")
	b.fill("#host", "wiki.example.org")
	b.fill("#path_prefix", "/wiki/")
	b.click(`label[for="min_acr_mfa"]`)
	b.click(`label[for="org_units_ward"]`)
	b.click(`label[for="exceptions"]`)
	b.submit(register)
	b.wantPage("Wiki")
	b.wantText(".notice", "Protected app registered.")
	checkA11y(t, b, "protected app")
	app := appNamed(t, e, "Wiki")
	if f := app.Forward; f.Host != "wiki.example.org" || f.PathPrefix != "/wiki/" || !slices.Equal(f.OrgUnitIDs, []string{"ward"}) ||
		f.AppPasswords || app.MinimumACR != "mfa" || !app.ExceptionsAllowed {
		t.Errorf("stored app: %+v, %+v", app, *f)
	}

	b.submit(`main a[href="/admin/apps"]`)
	b.wantPage("Protected apps")
	b.wantText("table", "wiki.example.org/wiki/")
	b.wantText("table", "Ward 7")
	checkA11y(t, b, "protected apps")

	b.submit(`main a[href="/admin/apps/` + app.ID + `"]`)
	b.fill("#name", "Team wiki")
	b.click(`label[for="app_passwords"]`)
	b.submit(buttonLabelled("Save"))
	b.wantPage("Team wiki")
	b.wantText(".notice", "Protected app saved.")
	checkA11y(t, b, "protected app, saved")
	if got := appNamed(t, e, "Team wiki"); !got.Forward.AppPasswords {
		t.Error("app passwords are not accepted after ticking them")
	}

	b.submit(buttonLabelled("Delete Team wiki"))
	b.wantPage("Delete Team wiki?")
	checkA11y(t, b, "delete a protected app")
	b.submit(buttonLabelled("Delete Team wiki"))
	b.wantPage("Protected apps")
	b.wantText(".notice", "Protected app deleted.")
	checkA11y(t, b, "protected apps, deleted")
	if _, err := e.store.GetClient(t.Context(), app.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after deleting: %v, want not found", err)
	}
}

// TestBrowserAdminNotifications: a global admin turns the new-browser
// notice on and the notice of a removed method off; the page says so and
// the store keeps it.
func TestBrowserAdminNotifications(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	_, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	b := newTab(t)
	b.signInToAdmin(e, "boss", key)

	b.submit(`nav a[href="/admin/notifications"]`)
	b.wantPage("Notifications")
	if !b.has(`input[value="mfa.method_removed"]:checked`) || b.has(`input[value="login.new_browser"]:checked`) {
		t.Fatal("the events as they start: want every one on but the new-browser notice")
	}
	checkA11y(t, b, "notifications")
	b.click(`label[for="event_login.new_browser"]`)
	b.click(`label[for="event_mfa.method_removed"]`)
	b.submit(buttonLabelled("Save"))
	b.wantText(".notice", "Saved.")
	checkA11y(t, b, "notifications, saved")
	if !b.has(`input[value="login.new_browser"]:checked`) || b.has(`input[value="mfa.method_removed"]:checked`) {
		t.Error("the page after saving does not show the change")
	}
	s, err := e.store.GetSettings(t.Context())
	if err != nil || !s.Notices["login.new_browser"] || s.Notices["mfa.method_removed"] || !s.Notices["mfa.reset"] {
		t.Errorf("stored settings: %+v, %v", s, err)
	}
}

// TestBrowserAdminOutsideScope: an org admin over one subtree sees their
// own unit and users, and gets the 403 page for another subtree's unit and
// user opened by URL; each refusal is in the audit log.
func TestBrowserAdminOutsideScope(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	e.addOrgUnits(storage.OrgUnit{ID: "wales", Name: "Wales"}, storage.OrgUnit{ID: "england", Name: "England"})
	walesAdmin, key := e.addAdmin("wales-admin", storage.RoleOrgAdmin, "wales")
	dai := e.placeUser(e.addUser("dai", alicePassword), "wales")
	eve := e.placeUser(e.addUser("eve", alicePassword), "england")
	b := newTab(t)
	b.signInToAdmin(e, "wales-admin", key)

	b.submit(`nav a[href="/admin/org-units"]`)
	b.wantPage("Org units")
	if got := b.text("table"); !strings.Contains(got, "Wales") || strings.Contains(got, "England") {
		t.Errorf("a Wales admin's org units:\n%s", got)
	}
	if got := b.open(e.issuer + "/admin/users/" + dai.ID); got != http.StatusOK {
		t.Errorf("a user in Wales: status %d, want 200", got)
	}
	b.wantPage("User dai")

	for _, page := range []string{"/admin/org-units/england", "/admin/users/" + eve.ID} {
		if got := b.open(e.issuer + page); got != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", page, got)
		}
		b.wantPage("You can't do that here")
		b.wantText("main", "outside the part of the organisation you look after")
	}
	checkA11y(t, b, "refused")

	events, err := e.store.ListAudit(t.Context(), storage.AuditQuery{User: walesAdmin.ID, Outcome: storage.OutcomeDenied})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, fmt.Sprintf("%s %s %s %s", ev.Action, ev.OrgUnitID, ev.Subject, ev.Details["path"]))
	}
	slices.Sort(got)
	want := []string{
		"org_unit.viewed england  /admin/org-units/england",
		"user.viewed england " + eve.ID + " /admin/users/" + eve.ID,
	}
	if !slices.Equal(got, want) {
		t.Errorf("denied audit events for the Wales admin:\n got %q\nwant %q", got, want)
	}
}

// TestBrowserAdminPhoneWidth: the admin home, the users list and an org
// unit's settings fit a 375 px wide phone screen without scrolling
// sideways, with long names and addresses; so do the pages with the widest
// tables (a user's exceptions and sign-ins, the exceptions, the audit
// log), whose tables scroll in their own box and can be reached from a
// keyboard.
func TestBrowserAdminPhoneWidth(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	e.addOrgUnits(storage.OrgUnit{ID: "ops", Name: "Operations and Facilities Management"})
	boss, key := e.addAdmin("boss", storage.RoleGlobalAdmin, "")
	var users []storage.User
	for _, name := range []string{"bartholomew.fortescue-smythe", "alexandra.featherstonehaugh"} {
		u := e.placeUser(e.addUser(name, alicePassword), "ops")
		e.addAuthenticatorApp(u)
		users = append(users, u)
	}
	if _, err := e.server.admin.RequestException(t.Context(), admin.Actor{User: boss}, admin.ExceptionRequest{
		UserID: users[1].ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost", Note: "Ticket 4411: left on the train to Aberystwyth",
	}); err != nil {
		t.Fatal(err)
	}
	b := newTab(t)
	const width = 375
	b.viewport(width, 740, chromedp.EmulateMobile)

	b.signInToAdmin(e, "boss", key)
	b.wantNoSideScroll(width)
	checkA11y(t, b, "admin home, phone")
	b.submit(`nav a[href="/admin/users"]`)
	b.wantPage("Users")
	b.wantText("tbody", "bartholomew.fortescue-smythe")
	b.wantNoSideScroll(width)
	checkA11y(t, b, "users, phone")
	b.open(e.issuer + "/admin/org-units/ops")
	b.wantPage("Operations and Facilities Management")
	b.wantNoSideScroll(width)
	checkA11y(t, b, "org unit settings, phone")

	for _, page := range []struct{ path, heading, table, text string }{
		{"/admin/users/" + users[1].ID, "User alexandra.featherstonehaugh", "#exceptions ~ table", "Phone lost or stolen"},
		{"/admin/users/" + boss.ID, "User boss", "#sign-ins ~ table", "Decision: signed in"},
		{"/admin/exceptions", "MFA exceptions", "main table:last-of-type", "Phone lost or stolen"},
		{"/admin/audit", "Audit log", "main table:last-of-type", "exception.approved"},
	} {
		b.open(e.issuer + page.path)
		b.wantPage(page.heading)
		b.wantText(page.table, page.text)
		b.wantNoSideScroll(width)
		checkA11y(t, b, page.heading+", phone")
	}
}

// TestBrowserAdminUserPage: a user's page puts first what a helpdesk
// member on a call needs (methods, with each phone's role and line, a
// temporary access pass, exceptions, recent sign-ins), then the profile,
// each section under its own h2; on a 375 px phone screen it never
// scrolls sideways, its tables scrolling in their own box.
func TestBrowserAdminUserPage(t *testing.T) {
	e, _ := newBrowserEnv(t, nil)
	e.addOrgUnits(storage.OrgUnit{ID: "ops", Name: "Operations and Facilities Management"})
	_, key := e.addAdmin("helpdesk", storage.RoleHelpdesk, "ops")
	u := e.placeUser(e.addUser("alexandra.featherstonehaugh", alicePassword), "ops")
	e.addAuthenticatorApp(u)
	for i, m := range []storage.Method{
		{Type: storage.MethodSMS, Name: "Work mobile with a rather long name", Target: "+447700900123"},
		{Type: storage.MethodVoice, Name: "Ward 7 nurses' station desk phone", Target: "+441632960123"},
	} {
		m.ID, m.UserID, m.CreatedAt = storage.NewID(), u.ID, e.clock.Now().Add(time.Duration(i+1)*time.Second)
		if err := e.store.CreateMethod(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.server.admin.RequestException(t.Context(), admin.Actor{User: mustUser(t, e, "helpdesk")}, admin.ExceptionRequest{
		UserID: u.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost", Note: "Ticket 4411: left on the train to Aberystwyth",
	}); err != nil {
		t.Fatal(err)
	}
	b := newTab(t)
	const width = 375
	b.viewport(width, 740, chromedp.EmulateMobile)
	b.signInToAdmin(e, "helpdesk", key)

	b.open(e.issuer + "/admin/users/" + u.ID)
	b.wantPage("User alexandra.featherstonehaugh")
	got := inTab(b, "read the headings", chromedp.Evaluate[[]string](`[...document.querySelectorAll("main h2")].map(h => h.textContent.trim())`))
	want := []string{"Sign-in methods", "Temporary access pass", "MFA exceptions", "Recent sign-ins", "Notifications", "Details", "Org unit", "Roles"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the user page's sections (-want +got):\n%s", diff)
	}
	b.wantText("main table", "Text message\nMobile phone")
	b.wantText("main table", "Voice call\nAlternate phone (landline)")
	if !b.has(`form[action$="/access-pass"] select#lifetime`) {
		t.Error("the helpdesk is not offered a temporary access pass")
	}
	b.wantNoSideScroll(width)
	checkA11y(t, b, "user page, helpdesk, phone")
}

// addOrgUnits adds units below the root.
func (e *env) addOrgUnits(units ...storage.OrgUnit) {
	e.t.Helper()
	root, err := findOrgUnit(context.Background(), e.store, "")
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ou := range units {
		if ou.ParentID == "" {
			ou.ParentID = root.ID
		}
		if err := e.store.CreateOrgUnit(context.Background(), ou); err != nil {
			e.t.Fatal(err)
		}
	}
}

// placeUser moves u into org unit ouID ("" keeps the root) with roles.
func (e *env) placeUser(u storage.User, ouID string, roles ...storage.RoleBinding) storage.User {
	e.t.Helper()
	u, err := e.store.UpdateUser(context.Background(), u.ID, func(u storage.User) (storage.User, error) {
		if ouID != "" {
			u.OrgUnitID = ouID
		}
		u.Roles = append(u.Roles, roles...)
		return u, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// addAdmin adds a user holding role over org unit ouID ("" for the root),
// living in that unit, with an authenticator app; it returns the user and
// the app's key.
func (e *env) addAdmin(username, role, ouID string) (storage.User, string) {
	e.t.Helper()
	u := e.addUser(username, alicePassword)
	over := ouID
	if over == "" {
		over = u.OrgUnitID
	}
	u = e.placeUser(u, ouID, storage.RoleBinding{Role: role, OrgUnitID: over})
	return u, e.addAuthenticatorApp(u)
}

// addAuthenticatorApp stores an authenticator app for u, as if they had
// set it up on Security info, and turns their MFA on; it returns the key
// the app holds. (TestBrowserAdminFirstSignIn walks the setup pages.)
func (e *env) addAuthenticatorApp(u storage.User) string {
	e.t.Helper()
	ctx := context.Background()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Gatehouse", AccountName: u.Username})
	if err != nil {
		e.t.Fatal(err)
	}
	raw, err := factors.LoadOrCreateKey(e.server.cfg.mfaKeyFile())
	if err != nil {
		e.t.Fatal(err)
	}
	sealer, err := factors.NewSealer(raw)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateMethod(ctx, storage.Method{ID: storage.NewID(), UserID: u.ID, Type: storage.MethodTOTP, Name: "Phone app",
		Secret: sealer.Seal([]byte(key.Secret()), u.ID), CreatedAt: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) {
		u.MFAEnabled = true
		return u, nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return key.Secret()
}

// methodsOf are u's registered methods.
func (e *env) methodsOf(u storage.User) []storage.Method {
	e.t.Helper()
	m, err := e.store.ListUserMethods(context.Background(), u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// exceptionsOf are u's exceptions in state, now.
func (e *env) exceptionsOf(u storage.User, state string) []storage.Exception {
	e.t.Helper()
	all, err := e.store.ListUserExceptions(context.Background(), u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(x storage.Exception) bool { return x.StateAt(e.clock.Now()) != state })
}

// signInToAdmin opens /admin in a browser with no session and signs in
// with the password and the authenticator app whose key is key.
func (b *tab) signInToAdmin(e *env, username, key string) {
	b.t.Helper()
	b.open(e.issuer + "/admin")
	b.wantPage("Sign in")
	b.fill("#username", username)
	b.fill("#password", alicePassword)
	b.submit(`form[action="/login/password"] button`)
	b.wantPage("Verify it's you")
	b.fill("#code", e.totpCode(key))
	b.submit(`#challenge button[type=submit]`)
	b.wantPage("Admin")
}

// fillArea types text into the textarea sel, replacing what it holds
// (fill's Clear fails on an empty textarea).
func (b *tab) fillArea(sel, text string) {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	inTab(b, "fill "+sel, chromedp.Steps(
		chromedp.WaitVisible(chromedp.CSS(sel)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ""`, q)),
		chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible),
	))
}

// wantNoSideScroll fails the test if the page scrolls sideways on a
// screen width CSS pixels wide (WCAG 1.4.10 Reflow): the document is no
// wider than its viewport, and that viewport no wider than the screen (a
// phone's browser widens it to fit a page that does not).
func (b *tab) wantNoSideScroll(width int) {
	b.t.Helper()
	got := inTab(b, "measure the page", chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, document.documentElement.clientWidth]`))
	if got[0] > got[1] || got[1] > width {
		b.t.Errorf("at %s: the page is %d px wide in a %d px viewport, on a %d px screen", b.url(), got[0], got[1], width)
	}
}

// buttonLabelled selects the main content's button whose text starts with
// label.
func buttonLabelled(label string) string {
	q, _ := json.Marshal(label)
	return fmt.Sprintf(`js:[...document.querySelectorAll("main button")].find(b => b.textContent.trim().startsWith(%s))`, q)
}
