package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	oneTimePassword = regexp.MustCompile(`<code class="secret">([A-Z2-7]{20,})</code>`)
	userRow         = regexp.MustCompile(`<th scope="row"><a href="/admin/users/[^"]+">([^<]+)</a>`)
	nextPage        = regexp.MustCompile(`<a href="(/admin/users\?[^"]+)" rel="next">`)
	confirmForm     = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
)

// usersEnv is alice (in the root unit) with the app, Wales and England
// below the root and Cardiff below Wales, and admins signed in: boss (a
// global admin), wales (an org admin over Wales) and hd (helpdesk over the
// root).
type usersEnv struct {
	*env
	app             *relyingParty
	boss, wales, hd *browser
}

func newUsersEnv(t *testing.T) usersEnv {
	t.Helper()
	ctx := context.Background()
	e, app := newAliceEnv(t)
	root, _ := findOrgUnit(ctx, e.store, "")
	for _, ou := range []storage.OrgUnit{
		{ID: "wales", Name: "Wales", ParentID: root.ID}, {ID: "england", Name: "England", ParentID: root.ID}, {ID: "cardiff", Name: "Cardiff", ParentID: "wales"},
	} {
		if err := e.store.CreateOrgUnit(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	e.withRole(e.addUser("boss", alicePassword), storage.RoleGlobalAdmin)
	e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	w := e.addUser("wales-admin", alicePassword)
	if _, err := e.store.UpdateUser(ctx, w.ID, func(u storage.User) (storage.User, error) {
		u.Roles = []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "wales"}}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	ue := usersEnv{env: e, app: app}
	ue.boss, _ = e.adminSignIn(t, "boss")
	ue.wales, _ = e.adminSignIn(t, "wales-admin")
	ue.hd, _ = e.adminSignIn(t, "hd")
	return ue
}

// adminForm posts form, with the browser's form token, to path. The
// token is the browser's, so the Security info page (which has forms for
// everyone) shows it even to a helpdesk member, who has no admin forms.
func (b *browser) adminForm(t *testing.T, path string, form url.Values) page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	csrf := b.get(b.e.issuer + "/security").form().Get("csrf")
	if csrf == "" {
		t.Fatal("no form token on the Security info page")
	}
	form.Set("csrf", csrf)
	return b.post(path, form)
}

// confirm answers an "Are you sure?" page with yes.
func (b *browser) confirm(t *testing.T, p page) page {
	t.Helper()
	m := confirmForm.FindStringSubmatch(p.body)
	if m == nil || p.form().Get("confirm") != "yes" {
		t.Fatalf("want the confirmation step, got status %d:\n%s", p.status(), p.body)
	}
	return b.post(m[1], p.form())
}

// secretOn is the one-time password a notice page shows.
func secretOn(t *testing.T, p page) string {
	t.Helper()
	m := oneTimePassword.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no one-time password on the page (status %d):\n%s", p.status(), p.body)
	}
	return m[1]
}

// changeOneTimePassword signs username in at the app with a one-time
// password, chooses newPW on the page that insists, and returns the tokens.
func (e *env) changeOneTimePassword(t *testing.T, app *relyingParty, username, otp, newPW string) *tokens {
	t.Helper()
	b := e.newBrowser()
	a := app.authorize()
	p := b.submitPassword(b.get(a.url), username, otp)
	if !strings.Contains(p.body, "Choose a new password") {
		t.Fatalf("signing in with the one-time password: want the change-password page, got status %d:\n%s", p.status(), p.body)
	}
	f := p.form()
	f.Set("new_password", newPW)
	f.Set("confirm_password", newPW)
	tok, err := app.exchange(a, b.codeFrom(b.post("/login/change-password", f), a))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestAdminOneTimePasswordExpires: a one-time password an admin made works
// until password.one_time_lifetime has passed, and not after: the sign-in
// says so and is audited, the user's page shows it, and a reset gives one
// that works.
func TestAdminOneTimePasswordExpires(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	lifetime := ue.server.cfg.Password.OneTimeLifetime
	form := url.Values{"username": {"Newbie"}, "display_name": {"New Bie"}, "email": {"newbie@example.org"}, "org_unit": {"cardiff"}}
	p := ue.wales.adminForm(t, "/admin/users", form)
	otp := secretOn(t, p)
	expires := ue.clock.Now().Add(lifetime)
	when := expires.UTC().Format("2 Jan 2006 15:04 MST")
	if !strings.Contains(p.body, "If it is not used by "+when+", it expires") {
		t.Errorf("the created page does not say the one-time password expires at %s:\n%s", when, p.body)
	}
	u := mustUser(t, ue.env, "newbie")
	if !u.OneTimePasswordExpiresAt.Equal(expires) {
		t.Errorf("stored expiry %v, want %v", u.OneTimePasswordExpiresAt, expires)
	}
	page := "/admin/users/" + u.ID
	if p := ue.wales.get(ue.issuer + page); !strings.Contains(p.body, "with a one-time password that works until "+when) {
		t.Errorf("the user's page does not say when the one-time password expires:\n%s", p.body)
	}

	ue.clock.Advance(lifetime - time.Second)
	b := ue.newBrowser()
	a := ue.app.authorize()
	if p := b.submitPassword(b.get(a.url), "newbie", otp); !strings.Contains(p.body, "Choose a new password") {
		t.Fatalf("a second before it expires: want the change-password page, got status %d:\n%s", p.status(), p.body)
	}
	ue.clock.Advance(time.Second)
	b = ue.newBrowser()
	a = ue.app.authorize()
	p = b.submitPassword(b.get(a.url), "newbie", otp)
	if p.status() != http.StatusForbidden || !strings.Contains(p.body, "This one-time password has expired. Ask your helpdesk for a new one.") || strings.Contains(p.body, "Choose a new password") {
		t.Errorf("once expired: status %d, want 403 and the reason on the sign-in page:\n%s", p.status(), p.body)
	}
	events, _ := ue.store.ListAudit(ctx, storage.AuditQuery{Subject: u.ID, Action: "login.password", Outcome: storage.OutcomeDenied})
	if len(events) != 1 || events[0].Details["reason"] != "one-time password expired" {
		t.Errorf("denied sign-ins audited: %+v, want one for the expired one-time password", events)
	}

	// The admins' sessions lapsed meanwhile: another admin signs in.
	admin, _ := ue.adminSignIn(t, ue.withRole(ue.addUser("boss2", alicePassword), storage.RoleGlobalAdmin).Username)
	if p := admin.get(ue.issuer + page); !strings.Contains(p.body, "one-time password expired on "+when) {
		t.Errorf("the user's page does not say the one-time password expired:\n%s", p.body)
	}
	otp = secretOn(t, admin.confirm(t, admin.adminForm(t, page+"/reset-password", nil)))
	ue.changeOneTimePassword(t, ue.app, "newbie", otp, "kettle orchard lantern")
}

// searchUsers follows a search's pages, returning the usernames on each.
func (b *browser) searchUsers(t *testing.T, query string) [][]string {
	t.Helper()
	var pages [][]string
	next := "/admin/users?" + query
	for next != "" && len(pages) < 20 {
		p := b.get(b.e.issuer + next)
		if p.status() != http.StatusOK {
			t.Fatalf("GET %s: status %d", next, p.status())
		}
		var names []string
		for _, m := range userRow.FindAllStringSubmatch(p.body, -1) {
			names = append(names, htmlUnescape(m[1]))
		}
		pages = append(pages, names)
		next = ""
		if m := nextPage.FindStringSubmatch(p.body); m != nil {
			next = htmlUnescape(m[1])
		}
	}
	return pages
}

// deniedFor lists the actions refused to actor about subject, by the audit log.
func deniedFor(t *testing.T, e *env, actor, subject string) []string {
	t.Helper()
	events, err := e.store.ListAudit(context.Background(), storage.AuditQuery{Subject: subject, Outcome: storage.OutcomeDenied})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		if ev.Actor == actor {
			out = append(out, ev.Action)
		}
	}
	return out
}

// TestAdminUserCreate: an org admin creates a user in their subtree; the
// one-time password is shown once and must be changed at the first
// sign-in. A taken username is a field error; a unit outside the admin's
// subtree, and any attempt by the helpdesk, is refused.
func TestAdminUserCreate(t *testing.T) {
	ue := newUsersEnv(t)
	p := ue.wales.get(ue.issuer + "/admin/users/new")
	if !strings.Contains(p.body, `<option value="wales"`) || !strings.Contains(p.body, `<option value="cardiff"`) || strings.Contains(p.body, `<option value="england"`) {
		t.Errorf("the Wales admin's create form offers the wrong units:\n%s", p.body)
	}
	form := url.Values{"username": {"Newbie"}, "display_name": {"New Bie"}, "email": {"newbie@example.org"}, "org_unit": {"cardiff"}}
	p = ue.wales.adminForm(t, "/admin/users", form)
	otp := secretOn(t, p)
	if !strings.Contains(p.body, "New Bie was created") || !strings.Contains(p.body, "shown only this once") {
		t.Errorf("the created page: status %d\n%s", p.status(), p.body)
	}
	u := mustUser(t, ue.env, "newbie")
	if u.OrgUnitID != "cardiff" || !u.MustChangePassword || u.Email != "newbie@example.org" {
		t.Errorf("created %+v", u)
	}

	form.Set("email", "other@example.org")
	if p = ue.wales.adminForm(t, "/admin/users", form); p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#username">That username is taken</a>`) {
		t.Errorf("a taken username: status %d\n%s", p.status(), p.body)
	}
	form.Set("username", "rogue")
	form.Set("org_unit", "england")
	if p = ue.wales.adminForm(t, "/admin/users", form); p.status() != http.StatusForbidden {
		t.Errorf("creating a user in England as the Wales admin: status %d", p.status())
	}
	if p = ue.hd.get(ue.issuer + "/admin/users/new"); p.status() != http.StatusForbidden {
		t.Errorf("the helpdesk's create form: status %d", p.status())
	}
	form.Set("org_unit", "wales")
	if p = ue.hd.adminForm(t, "/admin/users", form); p.status() != http.StatusForbidden {
		t.Errorf("the helpdesk creating a user: status %d", p.status())
	}
	if _, err := ue.store.GetUserByUsername(context.Background(), "rogue"); err == nil {
		t.Error("a refused create stored the user")
	}

	ue.changeOneTimePassword(t, ue.app, "newbie", otp, "newbie's own password")
	b := ue.newBrowser()
	a := ue.app.authorize()
	if _, err := ue.app.exchange(a, b.signIn(ue.app, a, "newbie", "newbie's own password")); err != nil {
		t.Fatalf("signing in with the chosen password: %v", err)
	}
}

// TestAdminUserSearch: search by name, username or email prefix, filter by
// org unit (with the units below it), MFA and method, page with Next; a
// scoped admin finds only the users of their subtree.
func TestAdminUserSearch(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	var walesUsers []string
	for i := range 55 {
		u := storage.User{ID: fmt.Sprintf("p%02d", i), Username: fmt.Sprintf("pat%02d", i), Email: fmt.Sprintf("pat%02d@example.org", i),
			DisplayName: fmt.Sprintf("Pat Jones %d", i), OrgUnitID: []string{"wales", "cardiff", "england"}[i%3], MFAEnabled: i%5 == 0}
		if err := ue.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.OrgUnitID != "england" {
			walesUsers = append(walesUsers, u.Username)
		}
	}
	if err := ue.store.CreateMethod(ctx, storage.Method{ID: "m1", UserID: "p07", Type: storage.MethodTOTP, Name: "Phone"}); err != nil {
		t.Fatal(err)
	}

	pages := ue.boss.searchUsers(t, "q=jones")
	if len(pages) != 2 || len(pages[0]) != 50 || len(pages[1]) != 5 {
		t.Fatalf("a search for jones: pages of %v, want 50 and 5", lens(pages))
	}
	if all := slices.Concat(pages...); len(slices.Compact(slices.Sorted(slices.Values(all)))) != 55 {
		t.Errorf("the pages repeat or miss users: %v", all)
	}
	if p := ue.boss.get(ue.issuer + "/admin/users?q=jones&cursor=x"); !strings.Contains(p.body, ">First page</a>") {
		t.Error("a later page has no link to the first")
	}
	for _, tt := range []struct {
		who   *browser
		query string
		want  []string
	}{
		{ue.boss, "q=PAT03%40", []string{"pat03"}},
		{ue.boss, "q=pat+jones+12", []string{"pat12"}},
		{ue.boss, "q=jones&mfa=on&ou=cardiff", []string{"pat10", "pat25", "pat40"}},
		{ue.boss, "q=jones&method=totp", []string{"pat07"}},
		{ue.boss, "ou=england&mfa=on", []string{"pat05", "pat20", "pat35", "pat50"}},
		{ue.wales, "q=pat", walesUsers},
		{ue.wales, "q=pat02", nil}, // in England
		{ue.wales, "q=alice", nil}, // in the root unit
		{ue.hd, "q=alice", []string{"alice"}},
	} {
		got := slices.Concat(tt.who.searchUsers(t, tt.query)...)
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("search %q: %v, want %v", tt.query, got, tt.want)
		}
	}
	if p := ue.wales.get(ue.issuer + "/admin/users?ou=england"); p.status() != http.StatusForbidden {
		t.Errorf("the Wales admin filtering by England: status %d", p.status())
	}
	// A unit that does not exist is a bad request, not a server error.
	if p := ue.wales.get(ue.issuer + "/admin/users?ou=nowhere"); p.status() != http.StatusBadRequest || !strings.Contains(p.body, "No such org unit") {
		t.Errorf("filtering by a unit that does not exist: status %d", p.status())
	}
	if p := ue.wales.adminForm(t, "/admin/org-units", url.Values{"name": {"Lost"}, "parent": {"nowhere"}}); p.status() != http.StatusBadRequest {
		t.Errorf("a unit under one that does not exist: status %d", p.status())
	}
}

func lens(pages [][]string) []int {
	var n []int
	for _, p := range pages {
		n = append(n, len(p))
	}
	return n
}

// TestAdminUserLifecycle: the user page shows details, recent sign-ins
// and the next sign-in; an org admin edits, moves (within their subtree
// only), disables (after a confirmation; sessions end and refresh tokens
// stop working), enables, and resets the password (shown once, changed at
// the next sign-in).
func TestAdminUserLifecycle(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	walt := ue.addUser("walt", alicePassword)
	if _, err := ue.store.UpdateUser(ctx, walt.ID, func(u storage.User) (storage.User, error) { u.OrgUnitID = "wales"; return u, nil }); err != nil {
		t.Fatal(err)
	}
	wb := ue.newBrowser()
	a := ue.app.authorize()
	tok, err := ue.app.exchange(a, wb.signIn(ue.app, a, "walt", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	page := "/admin/users/" + walt.ID

	p := ue.wales.get(ue.issuer + page)
	for _, want := range []string{
		"At next sign-in this user will be: <strong>let through</strong>, because password verified; no second factor required.",
		"<td>Password</td>", "<td>Succeeded</td>", "<td>App app</td>", "<td>127.0.0.1</td>", `action="` + page + `/move"`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("walt's page lacks %q:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "Grant a role") {
		t.Error("an org admin is offered roles to grant")
	}

	p = ue.wales.adminForm(t, page, url.Values{"display_name": {"Walt Whit"}, "email": {"alice@example.org"}})
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#email">Another user has that email address</a>`) || !strings.Contains(p.body, `value="Walt Whit"`) {
		t.Errorf("a taken email: status %d\n%s", p.status(), p.body)
	}
	if p = ue.wales.adminForm(t, page, url.Values{"display_name": {"Walt Whit"}, "email": {"walt@example.org"}}); !strings.Contains(p.body, "Details saved.") {
		t.Errorf("saving details: status %d\n%s", p.status(), p.body)
	}
	if u := mustUser(t, ue.env, "walt"); u.DisplayName != "Walt Whit" || u.Email != "walt@example.org" {
		t.Errorf("saved %+v", u)
	}

	if p = ue.wales.adminForm(t, page+"/move", url.Values{"org_unit": {"england"}}); p.status() != http.StatusForbidden {
		t.Errorf("moving walt to England: status %d", p.status())
	}
	if p = ue.wales.adminForm(t, page+"/move", url.Values{"org_unit": {"cardiff"}}); !strings.Contains(p.body, "User moved.") {
		t.Errorf("moving walt to Cardiff: status %d\n%s", p.status(), p.body)
	}
	if u := mustUser(t, ue.env, "walt"); u.OrgUnitID != "cardiff" {
		t.Errorf("walt is in %s, want cardiff", u.OrgUnitID)
	}

	p = ue.wales.adminForm(t, page+"/disable", nil)
	if !strings.Contains(p.body, "Disable Walt Whit?") {
		t.Fatalf("disable: want the confirmation step, got status %d\n%s", p.status(), p.body)
	}
	if u := mustUser(t, ue.env, "walt"); u.Disabled {
		t.Fatal("disabled before the confirmation")
	}
	if p = ue.wales.confirm(t, p); !strings.Contains(p.body, "User disabled") {
		t.Errorf("confirming: status %d\n%s", p.status(), p.body)
	}
	sessions, _ := ue.store.ListUserSessions(ctx, walt.ID)
	if u := mustUser(t, ue.env, "walt"); !u.Disabled || len(sessions) != 0 {
		t.Errorf("after disabling: disabled %v, %d sessions", u.Disabled, len(sessions))
	}
	_, err = ue.app.refresh(tok.RefreshToken)
	wantRetrieveError(t, "walt's refresh token after disabling", err, http.StatusBadRequest, "invalid_grant")
	if p = wb.get(ue.issuer + "/security"); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("walt's browser after disabling: want the sign-in page, got status %d", p.status())
	}
	if p = ue.wales.adminForm(t, page+"/enable", nil); !strings.Contains(p.body, "User enabled") || mustUser(t, ue.env, "walt").Disabled {
		t.Errorf("enabling: status %d\n%s", p.status(), p.body)
	}

	p = ue.wales.confirm(t, ue.wales.adminForm(t, page+"/reset-password", nil))
	otp := secretOn(t, p)
	b := ue.newBrowser()
	a = ue.app.authorize()
	if p := b.submitPassword(b.get(a.url), "walt", alicePassword); p.status() != http.StatusUnauthorized {
		t.Errorf("the old password after a reset: status %d", p.status())
	}
	ue.changeOneTimePassword(t, ue.app, "walt", otp, "walt's new password")

	events, _ := ue.store.ListAudit(ctx, storage.AuditQuery{Subject: walt.ID, Outcome: storage.OutcomeSuccess, ActionPrefix: "user."})
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action)
	}
	for _, want := range []string{"user.updated", "user.moved", "user.disabled", "user.enabled", "user.password_reset"} {
		if !slices.Contains(actions, want) {
			t.Errorf("no %s event in the audit log (have %v)", want, actions)
		}
	}
}

// TestAdminUserMFAReset: MFA Settings… -> tick the box -> confirm -> the
// user's methods are gone, the admin is told to ask them to set MFA up
// again, and the user is sent a notice of it, which their page lists with
// its delivery. The helpdesk cannot.
func TestAdminUserMFAReset(t *testing.T) {
	ue := newUsersEnv(t)
	alice := mustUser(t, ue.env, "alice")
	ab := ue.newBrowser()
	a := ue.app.authorize()
	ab.signIn(ue.app, a, "alice", alicePassword)
	ab.enrolTOTP("Phone")
	ue.setRootMFA(storage.MFARequired)
	page := "/admin/users/" + alice.ID

	// The helpdesk sees alice but not the MFA settings, and a crafted
	// form changes nothing.
	if p := ue.hd.get(ue.issuer + page); p.status() != http.StatusOK || strings.Contains(p.body, "MFA Settings") {
		t.Errorf("the helpdesk's view of alice: status %d", p.status())
	}
	if p := ue.hd.get(ue.issuer + page + "/mfa"); p.status() != http.StatusForbidden {
		t.Errorf("the helpdesk at MFA settings: status %d", p.status())
	}
	if p := ue.hd.adminForm(t, page+"/mfa", url.Values{"turn_off": {"on"}, "confirm": {"yes"}}); p.status() != http.StatusForbidden {
		t.Errorf("the helpdesk resetting MFA: status %d", p.status())
	}
	if got := deniedFor(t, ue.env, mustUser(t, ue.env, "hd").ID, alice.ID); !slices.Equal(got, []string{"mfa.reset", "mfa.reset"}) {
		t.Errorf("the helpdesk's refusals in the audit log: %v", got)
	}

	p := ue.boss.get(ue.issuer + page)
	if !strings.Contains(p.body, `<a href="`+page+`/mfa">MFA Settings…</a>`) || !strings.Contains(p.body, "Authenticator app") {
		t.Fatalf("alice's page: status %d\n%s", p.status(), p.body)
	}
	p = ue.boss.get(ue.issuer + page + "/mfa")
	if !strings.Contains(p.body, `<label for="turn_off">Turn off MFA for User alice</label>`) || !strings.Contains(p.body, ">Disable MFA</button>") {
		t.Fatalf("MFA settings: status %d\n%s", p.status(), p.body)
	}
	p = ue.boss.adminForm(t, page+"/mfa", nil)
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#turn_off">`) {
		t.Errorf("without the box ticked: status %d\n%s", p.status(), p.body)
	}
	before, _ := ue.store.ListUserMethods(context.Background(), alice.ID)
	p = ue.boss.adminForm(t, page+"/mfa", url.Values{"turn_off": {"on"}})
	if !strings.Contains(p.body, "Turn off MFA for User alice?") {
		t.Fatalf("want the confirmation step, got status %d\n%s", p.status(), p.body)
	}
	if methods, _ := ue.store.ListUserMethods(context.Background(), alice.ID); len(methods) != len(before) {
		t.Fatal("methods removed before the confirmation")
	}
	p = ue.boss.confirm(t, p)
	for _, want := range []string{"MFA turned off for User alice", "Ask User alice to set MFA up again", "Their org unit requires MFA"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the notice lacks %q:\n%s", want, p.body)
		}
	}
	if methods, _ := ue.store.ListUserMethods(context.Background(), alice.ID); len(methods) != 0 {
		t.Errorf("%d methods left after the reset", len(methods))
	}
	if p := ue.boss.get(ue.issuer + page); !strings.Contains(p.body, "<td>Your multi-factor authentication was reset</td>") || !strings.Contains(p.body, "<td>Waiting to be sent</td>") {
		t.Errorf("alice's page before the notice went: status %d\n%s", p.status(), p.body)
	}
	ue.sendDue()
	box := ue.newBrowser().get(ue.issuer + "/dev/outbox").body
	for _, want := range []string{"Notification email to alice@example.org", "Your multi-factor authentication was reset",
		"An administrator reset multi-factor authentication on your account"} {
		if !strings.Contains(box, want) {
			t.Errorf("the dev outbox lacks %q:\n%s", want, box)
		}
	}
	if p := ue.boss.get(ue.issuer + page); !strings.Contains(p.body, "<td>Sent "+ue.clock.Now().UTC().Format("2 Jan 2006 15:04 MST")+"</td>") {
		t.Errorf("alice's page once the notice went: status %d\n%s", p.status(), p.body)
	}
	b := ue.newBrowser()
	if p := b.submitPassword(b.get(ue.app.authorize().url), "alice", alicePassword); !strings.Contains(p.body, "Set up multi-factor authentication") {
		t.Errorf("alice's next sign-in: want the set-up page, got status %d", p.status())
	}
}

// TestAdminUserScope: an org admin reaches no user outside their subtree,
// by crafted URL or form, and each refusal is in the audit log; only a
// global admin changes roles.
func TestAdminUserScope(t *testing.T) {
	ue := newUsersEnv(t)
	alice := mustUser(t, ue.env, "alice") // in the root unit, outside Wales
	userPage := "/admin/users/" + alice.ID
	for _, tt := range []struct {
		path string
		form url.Values
	}{
		{userPage, nil},
		{userPage + "/mfa", nil},
		{userPage, url.Values{"display_name": {"Mine"}}},
		{userPage + "/move", url.Values{"org_unit": {"wales"}}},
		{userPage + "/disable", url.Values{"confirm": {"yes"}}},
		{userPage + "/reset-password", url.Values{"confirm": {"yes"}}},
		{userPage + "/mfa", url.Values{"turn_off": {"on"}, "confirm": {"yes"}}},
		{userPage + "/roles", url.Values{"role": {"org_admin"}, "role_unit": {"wales"}}},
	} {
		var p page
		if tt.form == nil {
			p = ue.wales.get(ue.issuer + tt.path)
		} else {
			p = ue.wales.adminForm(t, tt.path, tt.form)
		}
		if p.status() != http.StatusForbidden {
			t.Errorf("the Wales admin at %s (form %v): status %d", tt.path, tt.form, p.status())
		}
		checkSafe(t, tt.path, p)
	}
	if u := mustUser(t, ue.env, "alice"); u.DisplayName != alice.DisplayName || u.Disabled || u.OrgUnitID != alice.OrgUnitID || u.PasswordHash != alice.PasswordHash || len(u.Roles) != 0 {
		t.Errorf("alice changed: %+v", u)
	}
	got := deniedFor(t, ue.env, mustUser(t, ue.env, "wales-admin").ID, alice.ID)
	for _, want := range []string{"user.viewed", "mfa.reset", "user.updated", "user.moved", "user.disabled", "user.password_reset", "user.role_granted"} {
		if !slices.Contains(got, want) {
			t.Errorf("no denied %s in the audit log (have %v)", want, got)
		}
	}

	// The global admin grants the Wales admin's helper a role, and it shows.
	helper := ue.addUser("helper", alicePassword)
	if p := ue.boss.adminForm(t, "/admin/users/"+helper.ID+"/roles", url.Values{"role": {"helpdesk"}, "role_unit": {"wales"}}); !strings.Contains(p.body, "Role granted.") || !strings.Contains(p.body, "<td>Helpdesk</td>") {
		t.Errorf("granting a role: status %d\n%s", p.status(), p.body)
	}
	if u := mustUser(t, ue.env, "helper"); !slices.Equal(u.Roles, []storage.RoleBinding{{Role: storage.RoleHelpdesk, OrgUnitID: "wales"}}) {
		t.Errorf("helper's roles: %+v", u.Roles)
	}
	if p := ue.boss.adminForm(t, "/admin/users/"+helper.ID+"/roles/remove", url.Values{"binding": {"helpdesk|wales"}}); !strings.Contains(p.body, "Role removed.") {
		t.Errorf("removing a role: status %d", p.status())
	}
}

// TestAdminUserPhones: a user's phones are their text and voice call
// methods, as Microsoft's Security info has them: the mobile phone (texts,
// and calls to the same number) and an alternate phone (calls only),
// each with its line where the role does not say it. The helpdesk sees
// them, masked, with the methods; there are no profile phone fields to
// disagree with them. The phone scope's claim is the mobile phone.
func TestAdminUserPhones(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	alice := mustUser(t, ue.env, "alice")
	now := ue.clock.Now()
	for i, m := range []storage.Method{
		{Type: storage.MethodSMS, Name: "Work mobile", Target: "+447700900123"},
		{Type: storage.MethodVoice, Name: "Work mobile", Target: "+447700900123"},
		{Type: storage.MethodVoice, Name: "Desk", Target: "+441632960123"},
		{Type: storage.MethodVoice, Name: "Home mobile", Target: "+447700900456"},
	} {
		m.ID, m.UserID, m.CreatedAt = storage.NewID(), alice.ID, now.Add(time.Duration(i)*time.Second)
		if err := ue.store.CreateMethod(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	p := ue.hd.get(ue.issuer + "/admin/users/" + alice.ID)
	cell := regexp.MustCompile(`<td><strong>([^<]+)</strong>(.*?)</td>`)
	var got []string
	for _, m := range cell.FindAllStringSubmatch(p.body, -1) {
		got = append(got, m[1]+": "+htmlUnescape(strings.ReplaceAll(m[2], "<br>", " / ")))
	}
	want := []string{
		"Text message:  / Mobile phone / Work mobile / ••••123",
		"Voice call:  / Mobile phone / Work mobile / ••••123",
		"Voice call:  / Alternate phone (landline) / Desk / ••••123",
		"Voice call:  / Alternate phone (mobile) / Home mobile / ••••456",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alice's methods on her page (-want +got):\n%s", diff)
	}
	if strings.Contains(p.body, "7700 900123") || strings.Contains(p.body, "+447700900123") {
		t.Error("the helpdesk sees a whole phone number")
	}
	p = ue.boss.get(ue.issuer + "/admin/users/" + alice.ID)
	if strings.Contains(p.body, "Alternative phone") || strings.Contains(p.body, `name="phone"`) || strings.Contains(p.body, `name="alt_phone"`) {
		t.Errorf("the page still has profile phone fields:\n%s", p.body)
	}

	ue.app.oauth.Scopes = append(ue.app.oauth.Scopes, "phone")
	b := ue.newBrowser()
	a := ue.app.authorize()
	tok, err := ue.app.exchange(a, b.signIn(ue.app, a, "alice", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["phone_number"] != "+447700900123" || tok.claims["phone_number_verified"] != true {
		t.Errorf("phone claims: %v, %v; want alice's mobile phone, verified", tok.claims["phone_number"], tok.claims["phone_number_verified"])
	}
}
