package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

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
	accessWorks := func(token string) bool {
		_, err := app.provider.UserInfo(app.ctx(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token, TokenType: "Bearer"}))
		active, _ := app.introspect(token)["active"].(bool)
		if (err == nil) != active {
			t.Errorf("userinfo (err %v) and introspection (active %v) disagree", err, active)
		}
		return active
	}
	if !accessWorks(tok.AccessToken) || !accessWorks(next.AccessToken) {
		t.Fatal("access tokens from the exception's sign-in do not work while it is in force")
	}
	if _, err := e.adminService().RevokeException(ctx, hd, ex.ID, "phone found"); err != nil {
		t.Fatal(err)
	}
	_, err = app.refresh(next.RefreshToken)
	wantRetrieveError(t, "refresh after the exception was revoked", err, http.StatusBadRequest, "invalid_grant")
	// The access tokens go with it, and a new exception does not bring
	// them back.
	again, err := e.adminService().RequestException(ctx, hd, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "no_signal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []string{tok.AccessToken, next.AccessToken} {
		if accessWorks(at) {
			t.Error("an access token from the revoked exception's sign-in still works")
		}
	}
	if _, err := e.adminService().RevokeException(ctx, hd, again.ID, ""); err != nil {
		t.Fatal(err)
	}
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

// TestAdminHomeCountsByCurrentUnit: the start page's counts of requests
// waiting and exceptions in force follow each user's current org unit, as
// the exceptions page does, not the unit they were in when the exception
// was asked for: an org admin is not told of records outside their
// subtree, and is told of those inside it.
func TestAdminHomeCountsByCurrentUnit(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	hd := admin.Actor{User: mustUser(t, ue.env, "hd")}
	// request makes a long-term request and a short-term exception for a
	// new user in from, then moves them to to.
	request := func(name, from, to string) {
		t.Helper()
		u := ue.addUser(name, alicePassword)
		if err := ue.store.CreateMethod(ctx, storage.Method{ID: storage.NewID(), UserID: u.ID, Type: storage.MethodTOTP}); err != nil {
			t.Fatal(err)
		}
		if _, err := ue.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) { u.OrgUnitID = from; return u, nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := ue.adminService().RequestException(ctx, hd, admin.ExceptionRequest{UserID: u.ID, Kind: storage.ExceptionLongTerm, Reason: "accessibility", Evidence: "OH report"}); err != nil {
			t.Fatal(err)
		}
		if _, err := ue.adminService().RequestException(ctx, hd, admin.ExceptionRequest{UserID: u.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"}); err != nil {
			t.Fatal(err)
		}
		if _, err := ue.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) { u.OrgUnitID = to; return u, nil }); err != nil {
			t.Fatal(err)
		}
	}
	request("left-wales", "wales", "england")
	p := ue.wales.get(ue.issuer + "/admin")
	if !strings.Contains(p.body, "0 MFA exceptions in force") || strings.Contains(p.body, "waiting for approval") {
		t.Errorf("the Wales admin's start page counts a user who moved to England:\n%s", p.body)
	}
	request("joined-wales", "england", "cardiff")
	p = ue.wales.get(ue.issuer + "/admin")
	if !strings.Contains(p.body, "1 MFA exception in force") || !strings.Contains(p.body, "1 long-term exception request waiting") {
		t.Errorf("the Wales admin's start page misses a user who moved to Cardiff:\n%s", p.body)
	}
}

// TestConcurrentOrgUnitMoves: two moves at once, each valid alone (A under
// B, and B under A), must not both happen: that would leave a cycle cut
// off from the root, whose users lose every setting inherited from above
// it and whose admins lose sight of it.
func TestConcurrentOrgUnitMoves(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	csrf := ue.wales.get(ue.issuer + "/security").form().Get("csrf")
	for i := range 10 {
		a, b := storage.NewID(), storage.NewID()
		for _, id := range []string{a, b} {
			if err := ue.store.CreateOrgUnit(ctx, storage.OrgUnit{ID: id, Name: id, ParentID: "wales"}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for _, m := range [][2]string{{a, b}, {b, a}} {
			wg.Go(func() { ue.wales.post("/admin/org-units/"+m[0]+"/move", url.Values{"csrf": {csrf}, "parent": {m[1]}}) })
		}
		wg.Wait()
		ua, _ := ue.store.GetOrgUnit(ctx, a)
		ub, _ := ue.store.GetOrgUnit(ctx, b)
		if ua.ParentID == b && ub.ParentID == a {
			t.Fatalf("try %d: the two units are now each other's parent", i)
		}
	}
}

// TestOrgUnitMoveWhileParentDeleted: a unit moved under a unit being
// deleted at the same moment ends up under a unit that exists (the move
// is refused, or the delete finds the unit not empty), never under a
// removed one, cut off from the root.
func TestOrgUnitMoveWhileParentDeleted(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	csrf := ue.wales.get(ue.issuer + "/security").form().Get("csrf")
	for i := range 10 {
		x, d := storage.NewID(), storage.NewID()
		for _, id := range []string{x, d} {
			if err := ue.store.CreateOrgUnit(ctx, storage.OrgUnit{ID: id, Name: id, ParentID: "wales"}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		wg.Go(func() { ue.wales.post("/admin/org-units/"+x+"/move", url.Values{"csrf": {csrf}, "parent": {d}}) })
		wg.Go(func() { ue.wales.post("/admin/org-units/"+d+"/delete", url.Values{"csrf": {csrf}, "confirm": {"yes"}}) })
		wg.Wait()
		ux, _ := ue.store.GetOrgUnit(ctx, x)
		if _, err := ue.store.GetOrgUnit(ctx, ux.ParentID); err != nil {
			t.Fatalf("try %d: the moved unit's parent %s: %v", i, ux.ParentID, err)
		}
	}
}

// TestUserMoveWhileUnitDeleted: a user moved, or created, into a unit
// being deleted at the same moment ends up in a unit that exists, never
// in a removed one, where no org-unit policy and no scoped admin reaches
// them.
func TestUserMoveWhileUnitDeleted(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	csrf := ue.wales.get(ue.issuer + "/security").form().Get("csrf")
	for i := range 10 {
		d := storage.NewID()
		if err := ue.store.CreateOrgUnit(ctx, storage.OrgUnit{ID: d, Name: d, ParentID: "wales"}); err != nil {
			t.Fatal(err)
		}
		u := ue.addUser(fmt.Sprintf("mover%d", i), alicePassword)
		if _, err := ue.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) { u.OrgUnitID = "cardiff"; return u, nil }); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { ue.wales.post("/admin/users/"+u.ID+"/move", url.Values{"csrf": {csrf}, "org_unit": {d}}) })
		wg.Go(func() {
			ue.wales.post("/admin/users", url.Values{"csrf": {csrf}, "username": {fmt.Sprintf("new%d", i)}, "display_name": {"New"}, "org_unit": {d}})
		})
		wg.Go(func() { ue.wales.post("/admin/org-units/"+d+"/delete", url.Values{"csrf": {csrf}, "confirm": {"yes"}}) })
		wg.Wait()
		for _, name := range []string{u.Username, fmt.Sprintf("new%d", i)} {
			got, err := ue.store.GetUserByUsername(ctx, name)
			if err != nil {
				continue // not created: the unit was gone
			}
			if _, err := ue.store.GetOrgUnit(ctx, got.OrgUnitID); err != nil {
				t.Fatalf("try %d: %s is in unit %s: %v", i, name, got.OrgUnitID, err)
			}
		}
	}
}

// TestAdminFormRefusalsAudited: an admin form refused for a missing or
// wrong form token, or for coming from another site, is recorded in the
// audit log like any other refusal.
func TestAdminFormRefusalsAudited(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	boss := mustUser(t, ue.env, "boss")
	if p := ue.boss.post("/admin/org-units/wales", url.Values{"csrf": {"forged"}, "name": {"Cymru"}, "mfa": {"required"}}); p.status() != http.StatusForbidden {
		t.Fatalf("a wrong form token: status %d, want 403", p.status())
	}
	req, _ := http.NewRequest(http.MethodPost, ue.issuer+"/admin/org-units/wales", strings.NewReader("name=Cymru&mfa=required"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := ue.boss.do(req); p.status() != http.StatusForbidden {
		t.Fatalf("a cross-site form: status %d, want 403", p.status())
	}
	events, _ := ue.store.ListAudit(ctx, storage.AuditQuery{Action: "admin.access", Outcome: storage.OutcomeDenied})
	var csrf, crossSite bool
	for _, ev := range events {
		switch ev.Details["reason"] {
		case "form token missing or wrong":
			csrf = ev.Actor == boss.ID && ev.Details["path"] == "/admin/org-units/wales"
		case "cross-origin request":
			crossSite = ev.Details["path"] == "/admin/org-units/wales"
		}
	}
	if !csrf || !crossSite {
		t.Errorf("audited: form token %v, cross-site %v; want both (events %+v)", csrf, crossSite, events)
	}
}

// TestSignInDecisionsInOrgAdminsAuditLog: what the policy decided at a
// user's sign-in (let through, challenged, skipped under an exception) is
// recorded with the user's org unit, so an org admin over that unit sees
// it in the audit log, not only a global admin.
func TestSignInDecisionsInOrgAdminsAuditLog(t *testing.T) {
	ctx := context.Background()
	ue := newUsersEnv(t)
	u := ue.addUser("cardiff-user", alicePassword)
	if _, err := ue.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) { u.OrgUnitID = "cardiff"; return u, nil }); err != nil {
		t.Fatal(err)
	}
	b := ue.newBrowser()
	a := ue.app.authorize()
	if _, err := ue.app.exchange(a, b.signIn(ue.app, a, "cardiff-user", alicePassword)); err != nil {
		t.Fatal(err)
	}
	events, _ := ue.store.ListAudit(ctx, storage.AuditQuery{Subject: u.ID, Action: "login.decision"})
	if len(events) == 0 || events[0].OrgUnitID != "cardiff" {
		t.Fatalf("login.decision events %+v, want one in cardiff", events)
	}
	if p := ue.wales.get(ue.issuer + "/admin/audit?action=login.decision"); !strings.Contains(p.body, ">cardiff-user</a>") {
		t.Errorf("the Wales admin's audit log lacks the Cardiff user's sign-in decision:\n%s", p.body)
	}
}

// TestContinuousEvaluationAtRefresh: a refresh looks at policy again. When
// the user's org unit starts requiring MFA after a password-only sign-in,
// or a role is granted, or the client raises its minimum, the next
// refresh is invalid_grant (the app signs the user in again) and is
// audited; a family whose sign-in did prove a second factor goes on. A
// family let through by a remembered device goes on while the unit still
// remembers devices.
func TestContinuousEvaluationAtRefresh(t *testing.T) {
	ctx := context.Background()
	e, app, secret := newRequiredAliceEnv(t)
	e.setRootMFA(storage.MFAOptional)
	alice := mustUser(t, e, "alice")
	setMFA := func(on bool) {
		t.Helper()
		if _, err := e.store.UpdateUser(ctx, alice.ID, func(u storage.User) (storage.User, error) { u.MFAEnabled = on; return u, nil }); err != nil {
			t.Fatal(err)
		}
	}
	setMFA(false)
	pwdOnly := signInWithoutChallenge(t, e, app)
	if pwdOnly.claims["acr"] != "pwd" {
		t.Fatalf("alice in an optional unit with MFA off: acr %v, want pwd", pwdOnly.claims["acr"])
	}
	withMFA := func() *tokens {
		t.Helper()
		e.clock.Advance(30 * time.Second)
		b := e.newBrowser()
		a := app.authorize()
		setMFA(true)
		defer setMFA(false)
		tok, err := app.exchange(a, b.codeFrom(b.passChallenge(b.submitPassword(b.get(a.url), "alice", alicePassword), e.totpCode(secret)), a))
		if err != nil || tok.claims["acr"] != "mfa" {
			t.Fatalf("sign-in with a second factor: %v, acr %v", err, tok.claims["acr"])
		}
		return tok
	}
	mfaTok := withMFA()
	next, err := app.refresh(pwdOnly.RefreshToken)
	if err != nil {
		t.Fatalf("refresh while nothing changed: %v", err)
	}

	e.setRootMFA(storage.MFARequired)
	_, err = app.refresh(next.RefreshToken)
	wantRetrieveError(t, "refresh of a password-only family once the unit requires MFA", err, http.StatusBadRequest, "invalid_grant")
	if _, err := app.refresh(mfaTok.RefreshToken); err != nil {
		t.Errorf("refresh of a family that proved a second factor: %v", err)
	}
	events, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "token.refresh", Outcome: storage.OutcomeDenied})
	if len(events) != 1 || !strings.Contains(events[0].Details["reason"], "requires multi-factor authentication") {
		t.Errorf("audit of the refused refresh: %+v, want one saying the unit requires MFA", events)
	}

	// A role, or a client's raised minimum, does the same.
	e.setRootMFA(storage.MFAOptional)
	for _, change := range []struct {
		name  string
		apply func()
		undo  func()
	}{
		{"a role granted", func() { e.withRole(alice, storage.RoleHelpdesk) }, func() {
			e.store.UpdateUser(ctx, alice.ID, func(u storage.User) (storage.User, error) { u.Roles = nil; return u, nil })
		}},
		{"the client's minimum raised", func() {
			e.store.UpdateClient(ctx, app.client.ID, func(c storage.Client) (storage.Client, error) {
				c.MinimumACR, c.ExceptionsAllowed = "mfa", false
				return c, nil
			})
		}, func() {
			e.store.UpdateClient(ctx, app.client.ID, func(c storage.Client) (storage.Client, error) { c.MinimumACR = "pwd"; return c, nil })
		}},
	} {
		tok := signInWithoutChallenge(t, e, app)
		change.apply()
		_, err := app.refresh(tok.RefreshToken)
		wantRetrieveError(t, "refresh after "+change.name, err, http.StatusBadRequest, "invalid_grant")
		change.undo()
	}

	// A remembered device: the family goes on while the unit remembers
	// devices, and stops when it no longer does.
	window := 8 * time.Hour
	root, _ := findOrgUnit(ctx, e.store, "")
	setWindow := func(d *time.Duration) {
		if _, err := e.store.UpdateOrgUnit(ctx, root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
			ou.MFA, ou.RememberMFA = storage.MFARequired, d
			return ou, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setWindow(&window)
	e.clock.Advance(30 * time.Second)
	b := e.newBrowser()
	a := app.authorize()
	f := b.submitPassword(b.get(a.url), "alice", alicePassword).form()
	f.Set("code", e.totpCode(secret))
	f.Set("remember", "on")
	if _, err := app.exchange(a, b.codeFrom(b.post("/login/second-factor", f), a)); err != nil {
		t.Fatal(err)
	}
	e.store.DeleteUserSessions(ctx, alice.ID)
	a = app.authorize()
	remembered, err := app.exchange(a, b.codeFrom(b.submitPassword(b.get(a.url), "alice", alicePassword), a))
	if err != nil || remembered.claims["acr"] != "pwd" {
		t.Fatalf("sign-in on the remembered device: %v, acr %v", err, remembered.claims["acr"])
	}
	next, err = app.refresh(remembered.RefreshToken)
	if err != nil {
		t.Fatalf("refresh of the remembered device's family: %v", err)
	}
	// ... not beyond the window of the second factor that passed there,
	e.clock.Advance(window)
	_, err = app.refresh(next.RefreshToken)
	wantRetrieveError(t, "refresh of the remembered device's family past the window", err, http.StatusBadRequest, "invalid_grant")
	// ... and not once the unit stops remembering devices.
	e.clock.Advance(30 * time.Second)
	b = e.newBrowser()
	a = app.authorize()
	f = b.submitPassword(b.get(a.url), "alice", alicePassword).form()
	f.Set("code", e.totpCode(secret))
	f.Set("remember", "on")
	if _, err := app.exchange(a, b.codeFrom(b.post("/login/second-factor", f), a)); err != nil {
		t.Fatal(err)
	}
	e.store.DeleteUserSessions(ctx, alice.ID)
	a = app.authorize()
	if remembered, err = app.exchange(a, b.codeFrom(b.submitPassword(b.get(a.url), "alice", alicePassword), a)); err != nil {
		t.Fatal(err)
	}
	setWindow(nil)
	_, err = app.refresh(remembered.RefreshToken)
	wantRetrieveError(t, "refresh of the remembered device's family once the unit stops remembering", err, http.StatusBadRequest, "invalid_grant")
}

// TestRefreshUnderANewException: a family from a password-only sign-in
// whose unit then requires MFA goes on under an exception granted later,
// and its new tokens carry that exception: revoking it stops them too.
func TestRefreshUnderANewException(t *testing.T) {
	ctx := context.Background()
	e, app, _ := newRequiredAliceEnv(t)
	e.setRootMFA(storage.MFAOptional)
	alice := mustUser(t, e, "alice")
	if _, err := e.store.UpdateUser(ctx, alice.ID, func(u storage.User) (storage.User, error) { u.MFAEnabled = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	tok := signInWithoutChallenge(t, e, app)
	e.setRootMFA(storage.MFARequired)
	hd := admin.Actor{User: e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)}
	ex, err := e.adminService().RequestException(ctx, hd, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	next, err := app.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh under the new exception: %v", err)
	}
	if active, _ := app.introspect(next.AccessToken)["active"].(bool); !active {
		t.Fatal("the refreshed access token is not active")
	}
	if _, err := e.adminService().RevokeException(ctx, hd, ex.ID, ""); err != nil {
		t.Fatal(err)
	}
	if active, _ := app.introspect(next.AccessToken)["active"].(bool); active {
		t.Error("an access token from a refresh the exception allowed outlives the exception")
	}
	_, err = app.refresh(next.RefreshToken)
	wantRetrieveError(t, "refresh after the exception was revoked", err, http.StatusBadRequest, "invalid_grant")
}
