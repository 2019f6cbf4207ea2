package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/storage"
)

var shownPass = regexp.MustCompile(`<code class="secret">([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})</code>`)

// TestLostPhoneAccessPass: alice's phone (her authenticator app) is lost.
// The helpdesk issues a temporary access pass from her admin page and
// reads it out; she signs in with it (acr mfa, amr otp: a second factor,
// never phr), adds a new authenticator app at once on Security info, and
// signs in with that next time. The pass works once; the helpdesk cannot
// issue one to themselves, to an org admin, or while one is live.
func TestLostPhoneAccessPass(t *testing.T) {
	ctx := context.Background()
	e, app, _, _ := newTOTPAlice(t)
	e.setRootMFA(storage.MFARequired)
	alice := mustUser(t, e, "alice")
	e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	hd, _ := e.adminSignIn(t, "hd")

	// The helpdesk's screen offers the pass; issuing it shows it once.
	p := hd.get(e.issuer + "/admin/users/" + alice.ID)
	if !strings.Contains(p.body, "Issue a temporary access pass") {
		t.Fatalf("alice's page does not offer a pass to the helpdesk:\n%s", p.body)
	}
	p = hd.post("/admin/users/"+alice.ID+"/access-pass", url.Values{"csrf": {p.form().Get("csrf")}, "lifetime": {"1h0m0s"}})
	m := shownPass.FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(p.body, "60 random bits") {
		t.Fatalf("issuing a pass: status %d\n%s", p.status(), p.body)
	}
	pass := m[1]
	if p = hd.get(e.issuer + "/admin/users/" + alice.ID); !strings.Contains(p.body, "A pass is in force until") || strings.Contains(p.body, pass) {
		t.Errorf("alice's page after the pass: shows the pass again, or not that one is in force:\n%s", p.body)
	}
	if p = hd.post("/admin/users/"+alice.ID+"/access-pass", url.Values{"csrf": {p.form().Get("csrf")}, "lifetime": {"1h0m0s"}}); p.status() != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "This user has a pass already") {
		t.Errorf("a second pass while one is live: status %d", p.status())
	}

	// Alice signs in: the pass is what she is asked for.
	e.clock.Advance(time.Minute)
	b := e.newBrowser()
	a := app.authorize()
	p = b.submitPassword(b.get(a.url), "alice", alicePassword)
	if !strings.Contains(p.body, "temporary access pass") {
		t.Fatalf("the challenge does not ask for the pass:\n%s", p.body)
	}
	tok, err := app.exchange(a, b.codeFrom(b.passChallenge(p, strings.ToLower(strings.ReplaceAll(pass, "-", " "))), a))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["acr"] != "mfa" || !slices.Equal(claimsAMR(t, tok), []string{"pwd", "otp", "mfa"}) {
		t.Errorf("a sign-in with the pass: acr %v amr %v, want mfa and [pwd otp mfa]", tok.claims["acr"], claimsAMR(t, tok))
	}
	// ... and adds a new authenticator app straight away.
	secret := b.enrolTOTP("New phone")
	if p = b.get(e.issuer + "/security"); !strings.Contains(p.body, "New phone") {
		t.Errorf("Security info after adding a method:\n%s", p.body)
	}

	// The pass worked once.
	e.clock.Advance(time.Minute)
	b = e.newBrowser()
	a = app.authorize()
	p = b.submitPassword(b.get(a.url), "alice", alicePassword)
	if strings.Contains(p.body, "temporary access pass") {
		t.Error("a spent pass is still offered")
	}
	var newApp string
	for _, m := range mustMethods(t, e, alice.ID) {
		if m.Name == "New phone" {
			newApp = m.ID
		}
	}
	f := p.form()
	p = b.post("/login/method", url.Values{"id": {f.Get("id")}, "csrf": {f.Get("csrf")}, "method": {newApp}})
	e.clock.Advance(30 * time.Second)
	if _, err := app.exchange(a, b.codeFrom(b.passChallenge(p, e.totpCode(secret)), a)); err != nil {
		t.Fatalf("signing in with the new authenticator app: %v", err)
	}

	// Refused, and why.
	svc, hdActor := e.adminService(), admin.Actor{User: mustUser(t, e, "hd")}
	boss := e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	e.store.CreateMethod(ctx, storage.Method{ID: storage.NewID(), UserID: boss.ID, Type: storage.MethodTOTP, CreatedAt: e.clock.Now()})
	for _, tc := range []struct {
		name   string
		user   string
		life   time.Duration
		forbid bool
	}{
		{"for themselves", hdActor.User.ID, time.Hour, true},
		{"for an org admin", boss.ID, time.Hour, true},
		{"for nine hours", alice.ID, 9 * time.Hour, false},
	} {
		_, _, err := svc.IssuePass(ctx, hdActor, tc.user, tc.life, false)
		if tc.forbid != errors.Is(err, admin.ErrForbidden) || err == nil {
			t.Errorf("a pass %s: %v", tc.name, err)
		}
	}
	events, _ := e.store.ListAudit(ctx, storage.AuditQuery{ActionPrefix: "access_pass."})
	if len(events) < 3 {
		t.Errorf("audit of passes: %d events, want the issue and the refusals", len(events))
	}
}

// TestAccessPassRevokedOrExpired: a revoked pass and an expired one are
// refused at sign-in like a wrong answer, and never offered.
func TestAccessPassRevokedOrExpired(t *testing.T) {
	ctx := context.Background()
	e, app, _, _ := newTOTPAlice(t)
	e.setRootMFA(storage.MFARequired)
	alice := mustUser(t, e, "alice")
	hd := admin.Actor{User: e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)}
	svc := e.adminService()
	for _, end := range []string{"revoked", "expired"} {
		pass, _, err := svc.IssuePass(ctx, hd, alice.ID, time.Hour, true)
		if err != nil {
			t.Fatal(err)
		}
		b := e.newBrowser()
		a := app.authorize()
		p := b.submitPassword(b.get(a.url), "alice", alicePassword)
		if end == "revoked" {
			if err := svc.RevokePass(ctx, hd, alice.ID); err != nil {
				t.Fatal(err)
			}
		} else {
			e.clock.Advance(time.Hour)
		}
		if p = b.passChallenge(p, pass); p.location().Host == e.rpHost {
			t.Errorf("a %s pass let alice in", end)
		}
		if p = b.get(e.issuer + "/login?id=" + url.QueryEscape(p.form().Get("id"))); strings.Contains(p.body, "temporary access pass") {
			t.Errorf("a %s pass is still offered", end)
		}
	}
}

func mustMethods(t *testing.T, e *env, userID string) []storage.Method {
	t.Helper()
	list, err := e.store.ListUserMethods(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestHelpdeskRemovesOneMethod: the helpdesk removes the lost phone from a
// user's admin page (after a confirmation step) and nothing else; an MFA
// reset stays an org admin's, and the refusal says so rather than calling
// the user out of the helpdesk's reach.
func TestHelpdeskRemovesOneMethod(t *testing.T) {
	e, _, _, _ := newTOTPAlice(t)
	alice := mustUser(t, e, "alice")
	e.store.CreateMethod(context.Background(), storage.Method{ID: "sms1", UserID: alice.ID, Type: storage.MethodSMS, Name: "Old phone", Target: "+447700900123", CreatedAt: e.clock.Now()})
	e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	hd, _ := e.adminSignIn(t, "hd")
	csrf := hd.get(e.issuer + "/admin/users/" + alice.ID).form().Get("csrf")
	p := hd.post("/admin/users/"+alice.ID+"/methods/remove", url.Values{"csrf": {csrf}, "method": {"sms1"}})
	p = hd.confirm(t, p)
	if !strings.Contains(p.body, "Method removed.") {
		t.Fatalf("removing the lost phone: status %d\n%s", p.status(), p.body)
	}
	var left []string
	for _, m := range mustMethods(t, e, alice.ID) {
		left = append(left, m.Type)
	}
	if slices.Sort(left); !slices.Equal(left, []string{storage.MethodRecovery, storage.MethodTOTP}) {
		t.Errorf("alice's methods after the removal: %v, want her app and recovery codes", left)
	}
	p = hd.post("/admin/users/"+alice.ID+"/mfa", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
	if p.status() != http.StatusForbidden || !strings.Contains(p.body, "That needs an org admin over their unit") {
		t.Errorf("the helpdesk resetting MFA: status %d, want 403 naming the role\n%s", p.status(), p.body)
	}
}

// TestAddMethodUnderException: alice's phone is lost and the helpdesk
// gave her an exception. Security info says so, and her password alone
// (no second factor, which she cannot give) lets her add a new method;
// but not remove one, and the new method does not count as the second
// factor of the sign-in it was added in: a client that refuses exceptions
// still asks for it.
func TestAddMethodUnderException(t *testing.T) {
	ctx := context.Background()
	e, app, _, _ := newTOTPAlice(t)
	e.setRootMFA(storage.MFARequired)
	alice := mustUser(t, e, "alice")
	hd := admin.Actor{User: e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)}
	if _, err := e.adminService().RequestException(ctx, hd, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"}); err != nil {
		t.Fatal(err)
	}
	b := e.newBrowser()
	a := app.authorize()
	if _, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword)); err != nil {
		t.Fatal(err)
	}
	p := b.get(e.issuer + "/security")
	if !strings.Contains(p.body, "(Phone lost or stolen), granted by your helpdesk") {
		t.Errorf("Security info does not say an exception is in force:\n%s", p.body)
	}
	p = b.startEnrol("email", "Work email", "alice@example.org")
	wantAdded(t, b.finishEnrol("email", p, e.outboxCode()))

	// Removing needs a second factor, exception or not.
	var totpID string
	for _, m := range mustMethods(t, e, alice.ID) {
		if m.Type == storage.MethodTOTP {
			totpID = m.ID
		}
	}
	if p = b.securityPost("/security/remove", url.Values{"method": {totpID}}); !strings.Contains(p.body, "Verify it's you") {
		t.Errorf("removing a method with a password alone under an exception: status %d", p.status())
	}

	// The session is still a password's: a client refusing exceptions asks
	// for the second factor.
	strict := e.addRP("strict", false)
	e.store.UpdateClient(ctx, "strict", func(c storage.Client) (storage.Client, error) {
		c.MinimumACR, c.ExceptionsAllowed = "mfa", false
		return c, nil
	})
	if p = b.get(strict.authorize().url); !strings.Contains(p.body, "Verify it's you") {
		t.Errorf("a client refusing exceptions after a method was added under one: status %d, want the challenge", p.status())
	}
}

// TestOrganisationAndHelpdesk: codes go out in the organisation's name,
// and a user who cannot use any method is told how to reach the helpdesk.
func TestOrganisationAndHelpdesk(t *testing.T) {
	e := newSeededEnv(t, nil, func(c *Config) {
		c.Organisation.Name, c.Organisation.Helpdesk = "Hill Trust", "0300 123 4567 (IT service desk)"
	})
	e.addUser("alice", alicePassword)
	app := e.addRP("app", false)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	p := b.startEnrol("email", "Work", "alice@example.org")
	if box := e.newBrowser().get(e.issuer + "/dev/outbox"); !strings.Contains(box.body, "Your Hill Trust code is") {
		t.Errorf("the code message does not name the organisation:\n%s", box.body)
	}
	wantAdded(t, b.finishEnrol("email", p, e.outboxCode()))
	for _, m := range mustMethods(t, e, mustUser(t, e, "alice").ID) {
		if m.Type == storage.MethodRecovery { // she never kept them
			if err := e.store.DeleteMethod(context.Background(), m.ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	b = e.newBrowser()
	p = b.submitPassword(b.get(app.authorize(oauth2.SetAuthURLParam("acr_values", "mfa")).url), "alice", alicePassword)
	if !strings.Contains(p.body, "Can't use this method?") {
		t.Fatalf("the challenge with one method offers no way out:\n%s", p.body)
	}
	p = b.get(e.issuer + "/login/methods?id=" + url.QueryEscape(p.form().Get("id")))
	if !strings.Contains(p.body, "contact your helpdesk: 0300 123 4567 (IT service desk)") || !strings.Contains(p.body, "temporary access pass") {
		t.Errorf("the way out does not say how to reach the helpdesk:\n%s", p.body)
	}
}
