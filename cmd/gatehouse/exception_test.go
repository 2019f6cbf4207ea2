package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// withRole gives u a role over the root org unit.
func (e *env) withRole(u storage.User, role string) storage.User {
	e.t.Helper()
	root, err := findOrgUnit(context.Background(), e.store, "")
	if err != nil {
		e.t.Fatal(err)
	}
	u, err = e.store.UpdateUser(context.Background(), u.ID, func(u storage.User) (storage.User, error) {
		u.Roles = append(u.Roles, storage.RoleBinding{Role: role, OrgUnitID: root.ID})
		return u, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) adminService() *admin.Service {
	return e.server.admin
}

// newRequiredAliceEnv is alice with an authenticator app in an org unit
// that requires MFA, and the client app; it returns her TOTP key.
func newRequiredAliceEnv(t *testing.T) (*env, *relyingParty, string) {
	t.Helper()
	e, app, _, secret := newTOTPAlice(t)
	e.setRootMFA(storage.MFARequired)
	e.clock.Advance(30 * time.Second)
	return e, app, secret
}

// signInWithoutChallenge signs alice in from a new browser and expects no
// second factor to be asked for.
func signInWithoutChallenge(t *testing.T, e *env, app *relyingParty, extra ...oauth2.AuthCodeOption) *tokens {
	t.Helper()
	b := e.newBrowser()
	a := app.authorize(extra...)
	tok, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantChallenge signs alice in from a new browser and expects the
// challenge page after her password.
func wantChallenge(t *testing.T, e *env, app *relyingParty, why string) {
	t.Helper()
	b := e.newBrowser()
	p := b.submitPassword(b.get(app.authorize().url), "alice", alicePassword)
	if !strings.Contains(p.body, "Verify it's you") || p.location().Host == e.rpHost {
		t.Fatalf("%s: want the challenge page, got status %d location %q", why, p.status(), p.location())
	}
}

// wantPasswordOnly checks a token claims a password sign-in and nothing more.
func wantPasswordOnly(t *testing.T, tok *tokens, at time.Time) {
	t.Helper()
	if tok.claims["acr"] != "pwd" || !slices.Equal(claimsAMR(t, tok), []string{"pwd"}) {
		t.Errorf("acr %v amr %v, want pwd and [pwd]", tok.claims["acr"], claimsAMR(t, tok))
	}
	if !tok.authTime().Equal(at) {
		t.Errorf("auth_time %v, want %v", tok.authTime(), at)
	}
}

// authTime is the ID token's auth_time.
func (tok *tokens) authTime() time.Time {
	at, _ := tok.claims["auth_time"].(float64)
	return time.Unix(int64(at), 0)
}

// exceptionClaim is the gatehouse_mfa_exception claim, or nil.
func exceptionClaim(tok *tokens) map[string]any {
	c, _ := tok.claims[provider.ExceptionClaim].(map[string]any)
	return c
}

// TestMFAException: a helpdesk exception lets a user in a required org
// unit sign in without a second factor, and the token says so (acr pwd,
// amr pwd, the exception's kind and expiry); a client that refuses
// exceptions still stops them; when it expires (or is revoked) prompts
// resume; long-term exceptions need evidence and another admin's approval.
func TestMFAException(t *testing.T) {
	ctx := context.Background()
	e, app, secret := newRequiredAliceEnv(t)
	svc := e.adminService()
	alice, _ := e.store.GetUserByUsername(ctx, "alice")
	helpdesk := admin.Actor{User: e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)}
	approver := admin.Actor{User: e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)}

	wantChallenge(t, e, app, "before any exception")
	nextSignIn := func(want string) {
		t.Helper()
		d, err := e.server.login.NextSignIn(ctx, alice.ID)
		if err != nil || d.Summary()+": "+d.Reason != want {
			t.Errorf("NextSignIn = %q (%v), want %q", d.Summary()+": "+d.Reason, err, want)
		}
	}
	nextSignIn("challenged for a second factor: org unit Organisation requires multi-factor authentication")
	if _, err := svc.RequestException(ctx, admin.Actor{User: alice}, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"}); !errors.Is(err, admin.ErrForbidden) {
		t.Fatalf("alice granting herself an exception: %v, want ErrForbidden", err)
	}
	if _, err := svc.RequestException(ctx, helpdesk, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "other"}); err == nil {
		t.Fatal("an exception for Other without a note was made")
	}
	ex, err := svc.RequestException(ctx, helpdesk, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}

	nextSignIn("let through: skipped: short-term exception until " + ex.ExpiresAt.Format("2 Jan 2006 15:04 MST") +
		" (org unit Organisation requires multi-factor authentication)")
	tok := signInWithoutChallenge(t, e, app)
	wantPasswordOnly(t, tok, e.clock.Now())
	claim := exceptionClaim(tok)
	if claim["kind"] != storage.ExceptionShortTerm || claim["expires_at"] != float64(e.clock.Now().Add(24*time.Hour).Unix()) {
		t.Errorf("%s = %v, want kind short_term expiring in 24 hours", provider.ExceptionClaim, claim)
	}

	strict := e.addRP("strict", false)
	if _, err := e.store.UpdateClient(ctx, "strict", func(c storage.Client) (storage.Client, error) {
		c.MinimumACR, c.ExceptionsAllowed = "mfa", false
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	wantChallenge(t, e, strict, "a client requiring mfa that refuses exceptions")

	// Expired: prompts resume, and the second factor gives a full token
	// with no exception claim.
	e.clock.Advance(24*time.Hour + time.Minute)
	b := e.newBrowser()
	a := app.authorize()
	p := b.submitPassword(b.get(a.url), "alice", alicePassword)
	tok, err = app.exchange(a, b.codeFrom(b.passChallenge(p, e.totpCode(secret)), a))
	if err != nil {
		t.Fatal(err)
	}
	if tok.claims["acr"] != "mfa" || exceptionClaim(tok) != nil {
		t.Errorf("after expiry: acr %v exception %v, want mfa and none", tok.claims["acr"], exceptionClaim(tok))
	}

	// Revoked: prompts resume at once.
	ex, err = svc.RequestException(ctx, helpdesk, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "no_signal"})
	if err != nil {
		t.Fatal(err)
	}
	signInWithoutChallenge(t, e, app)
	if _, err := svc.RevokeException(ctx, helpdesk, ex.ID, "phone found"); err != nil {
		t.Fatal(err)
	}
	wantChallenge(t, e, app, "after the exception was revoked")

	// Long-term: without evidence it is rejected; with it, it waits for
	// another admin; the helpdesk cannot approve, nor can the requester.
	rejected, err := svc.RequestException(ctx, helpdesk, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionLongTerm, Reason: "accessibility"})
	if !errors.Is(err, admin.ErrEvidenceRequired) || rejected.State != storage.ExceptionRejected {
		t.Fatalf("long-term without evidence: %v, state %q; want rejected for want of evidence", err, rejected.State)
	}
	long, err := svc.RequestException(ctx, helpdesk, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionLongTerm,
		Reason: "accessibility", Evidence: "Occupational health assessment OH-2291: cannot use a phone app"})
	if err != nil || long.State != storage.ExceptionRequested {
		t.Fatalf("long-term request: %v, state %q", err, long.State)
	}
	wantChallenge(t, e, app, "a long-term exception not yet approved")
	if _, err := svc.DecideException(ctx, helpdesk, long.ID, true, ""); !errors.Is(err, admin.ErrForbidden) {
		t.Errorf("helpdesk approving: %v, want ErrForbidden", err)
	}
	self, err := svc.RequestException(ctx, approver, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionLongTerm, Reason: "secure_location", Evidence: "Works in the secure unit"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.DecideException(ctx, approver, self.ID, true, ""); err == nil {
		t.Error("an admin approved their own request")
	}
	if _, err := svc.DecideException(ctx, approver, self.ID, false, "duplicate"); err != nil {
		t.Fatal(err)
	}
	if long, err = svc.DecideException(ctx, approver, long.ID, true, "assessment seen"); err != nil {
		t.Fatal(err)
	}
	tok = signInWithoutChallenge(t, e, app)
	wantPasswordOnly(t, tok, e.clock.Now())
	if claim := exceptionClaim(tok); claim["kind"] != storage.ExceptionLongTerm || claim["expires_at"] != float64(long.ExpiresAt.Unix()) {
		t.Errorf("%s = %v, want long_term until %v", provider.ExceptionClaim, claim, long.ExpiresAt)
	}
	if got := long.ExpiresAt.Sub(e.clock.Now()); got != 180*24*time.Hour {
		t.Errorf("long-term exception lasts %v, want 180 days", got)
	}

	// Every change is in the audit log, with its actor.
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		if strings.HasPrefix(ev.Action, "exception.") && ev.Actor != "" {
			count[ev.Action+"/"+ev.Outcome]++
		}
	}
	for action, want := range map[string]int{
		"exception.requested/success": 5, "exception.approved/success": 3, "exception.rejected/success": 2,
		"exception.revoked/success": 1, "exception.requested/denied": 1, "exception.approved/denied": 2,
	} {
		if count[action] != want {
			t.Errorf("audit %s: %d events, want %d (all: %v)", action, count[action], want, count)
		}
	}
}

// TestStepUpAndMaxAge: an RP's acr_values=phr steps a TOTP session up to
// the security key (asking only for the key); max_age=1 asks for the
// password and the second factor again; the ID token's acr, amr and
// auth_time follow what was proved, and when.
func TestStepUpAndMaxAge(t *testing.T) {
	e, app, rp := newWebAuthnEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	secret := b.enrolTOTP("Phone") // the first method: preferred
	e.clock.Advance(30 * time.Second)
	b.passChallenge(b.get(e.issuer+"/security/add/webauthn"), e.totpCode(secret)) // changes need a recent factor
	key := virtualwebauthn.NewAuthenticator()
	cred, _ := b.enrolWebAuthn(rp, &key, "Blue key")
	e.clock.Advance(30 * time.Second)

	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p := b.submitPassword(b.get(a.url), "alice", alicePassword)
	if strings.Contains(p.body, "data-webauthn-get") {
		t.Fatal("the plain sign-in did not challenge the preferred authenticator app")
	}
	signedInAt := e.clock.Now()
	tok, err := app.exchange(a, b.codeFrom(b.passChallenge(p, e.totpCode(secret)), a))
	if err != nil || tok.claims["acr"] != "mfa" || !tok.authTime().Equal(signedInAt) {
		t.Fatalf("TOTP sign-in: %v, acr %v auth_time %v; want mfa at %v", err, tok.claims["acr"], tok.authTime(), signedInAt)
	}

	// Step-up: no password, just the key.
	e.clock.Advance(time.Minute)
	a = app.authorize(oauth2.SetAuthURLParam("acr_values", "phr"))
	p = b.get(a.url)
	if strings.Contains(p.body, `name="password"`) || !strings.Contains(p.body, "data-webauthn-get") {
		t.Fatalf("acr_values=phr over a TOTP session: want only the security key, got status %d:\n%s", p.status(), p.body)
	}
	if strings.Contains(p.body, "Use another method") {
		t.Error("the phr challenge offers other methods, none of which would do")
	}
	cred.Counter = 1
	_, p = b.assert(p, rp, key, cred)
	steppedAt := e.clock.Now()
	tok, err = app.exchange(a, b.codeFrom(p, a))
	if err != nil {
		t.Fatal(err)
	}
	if amr := claimsAMR(t, tok); tok.claims["acr"] != "phr" || !slices.Contains(amr, "hwk") || !tok.authTime().Equal(steppedAt) {
		t.Errorf("after step-up: acr %v amr %v auth_time %v; want phr, hwk, %v", tok.claims["acr"], amr, tok.authTime(), steppedAt)
	}

	// max_age=1, two seconds later: password and a second factor again.
	e.clock.Advance(2 * time.Second)
	a = app.authorize(oauth2.SetAuthURLParam("max_age", "1"))
	p = b.get(a.url)
	if !strings.Contains(p.body, `name="password"`) {
		t.Fatalf("max_age=1 after 2 s: want the password page, got status %d", p.status())
	}
	p = b.submitPassword(p, "alice", alicePassword)
	if !strings.Contains(p.body, "Verify it's you") {
		t.Fatalf("max_age=1: the second factor was not asked again (status %d location %q)", p.status(), p.location())
	}
	e.clock.Advance(30 * time.Second)
	againAt := e.clock.Now()
	tok, err = app.exchange(a, b.codeFrom(b.passChallenge(p, e.totpCode(secret)), a))
	if err != nil {
		t.Fatal(err)
	}
	if amr := claimsAMR(t, tok); tok.claims["acr"] != "mfa" || !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || !tok.authTime().Equal(againAt) {
		t.Errorf("after max_age=1: acr %v amr %v auth_time %v; want mfa, [pwd otp mfa], %v", tok.claims["acr"], amr, tok.authTime(), againAt)
	}
}

// TestRememberDevice: where the org unit has a remember window, a user who
// ticks "Don't ask again on this device" skips the second factor in that
// browser (the token then claims the password only) until the window ends;
// never for prompt=login, an acr request, another user, another browser,
// or after an admin resets their MFA.
func TestRememberDevice(t *testing.T) {
	ctx := context.Background()
	e, app, secret := newRequiredAliceEnv(t)
	root, _ := findOrgUnit(ctx, e.store, "")
	window := 12 * time.Hour
	if _, err := e.store.UpdateOrgUnit(ctx, root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
		ou.RememberMFA = &window
		return ou, nil
	}); err != nil {
		t.Fatal(err)
	}
	b := e.newBrowser()
	// signIn signs alice in in b (after ending her sessions) and returns the
	// page after the password.
	signIn := func(extra ...oauth2.AuthCodeOption) (authorization, page) {
		t.Helper()
		if err := e.store.DeleteUserSessions(ctx, mustUser(t, e, "alice").ID); err != nil {
			t.Fatal(err)
		}
		a := app.authorize(extra...)
		return a, b.submitPassword(b.get(a.url), "alice", alicePassword)
	}
	a, p := signIn()
	if !strings.Contains(p.body, "Don't ask again on this device for 12 hours") {
		t.Fatalf("the challenge does not offer to remember the device:\n%s", p.body)
	}
	f := p.form()
	f.Set("code", e.totpCode(secret))
	f.Set("remember", "on")
	if _, err := app.exchange(a, b.codeFrom(b.post("/login/second-factor", f), a)); err != nil {
		t.Fatal(err)
	}

	e.clock.Advance(time.Hour)
	a, p = signIn()
	tok, err := app.exchange(a, b.codeFrom(p, a))
	if err != nil {
		t.Fatal(err)
	}
	wantPasswordOnly(t, tok, e.clock.Now())
	for _, tc := range []struct {
		name  string
		extra []oauth2.AuthCodeOption
	}{
		{"prompt=login", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("prompt", "login")}},
		{"acr_values=mfa", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("acr_values", "mfa")}},
	} {
		if _, p := signIn(tc.extra...); !strings.Contains(p.body, "Verify it's you") {
			t.Errorf("remembered device with %s: no challenge (status %d)", tc.name, p.status())
		}
	}
	wantChallenge(t, e, app, "another browser")

	e.clock.Advance(window)
	if _, p := signIn(); !strings.Contains(p.body, "Verify it's you") {
		t.Error("the device was still remembered after the window")
	}

	// An admin's MFA reset forgets the device: even once alice has set up
	// a new method, this browser is asked for it.
	e.clock.Advance(-window + time.Minute) // back inside the window
	boss := admin.Actor{User: e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)}
	if err := e.adminService().ResetMFA(ctx, boss, mustUser(t, e, "alice").ID); err != nil {
		t.Fatal(err)
	}
	if methods, _ := e.store.ListUserMethods(ctx, mustUser(t, e, "alice").ID); len(methods) != 0 {
		t.Fatalf("after the reset alice still has %d methods", len(methods))
	}
	e.clock.Advance(time.Second)
	a, p = signIn()
	if !strings.Contains(p.body, "requires a second way") {
		t.Fatalf("after the reset: want the set-up page, got status %d", p.status())
	}
	_, p = b.enrolDuringSignIn(p)
	if _, err := app.exchange(a, b.codeFrom(p, a)); err != nil {
		t.Fatal(err)
	}
	if _, p := signIn(); !strings.Contains(p.body, "Verify it's you") {
		t.Error("a device remembered before the MFA reset still skipped the second factor")
	}
}

func mustUser(t *testing.T, e *env, username string) storage.User {
	t.Helper()
	u, err := e.store.GetUserByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOrgUnitMethodsAndRegions: an org unit's allowed methods and phone
// regions bind enrolment and sign-in; a method the unit no longer allows
// is neither offered nor accepted.
func TestOrgUnitMethodsAndRegions(t *testing.T) {
	ctx := context.Background()
	e, app, b := newOTPEnv(t)
	root, _ := findOrgUnit(ctx, e.store, "")
	ward := storage.OrgUnit{ID: "ward", Name: "Ward 7", ParentID: root.ID, MFA: storage.MFAInherit, PhoneRegions: []string{"IE"}}
	if err := e.store.CreateOrgUnit(ctx, ward); err != nil {
		t.Fatal(err)
	}
	alice := mustUser(t, e, "alice")
	if _, err := e.store.UpdateUser(ctx, alice.ID, func(u storage.User) (storage.User, error) { u.OrgUnitID = ward.ID; return u, nil }); err != nil {
		t.Fatal(err)
	}
	// Ward 7 takes Irish numbers only.
	if p := b.startEnrol("sms", "Mobile", "+44 7700 900123"); strings.Count(htmlUnescape(p.body), "Only IE (+353) numbers are allowed.") != 2 {
		t.Errorf("a UK number in an Irish-only unit: status %d\n%s", p.status(), p.body)
	}
	p := b.startEnrol("sms", "Mobile", "+353 85 123 4567")
	wantAdded(t, b.finishEnrol("sms", p, e.outboxCode()))
	b.passChallenge(b.get(e.issuer+"/security/add/totp"), e.outboxCode()) // changes need a recent factor
	secret := b.enrolTOTP("Phone")

	// The parent now allows authenticator apps only.
	if _, err := e.store.UpdateOrgUnit(ctx, root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
		ou.AllowedMethods, ou.MFA = []string{storage.MethodTOTP, storage.MethodRecovery}, storage.MFARequired
		return ou, nil
	}); err != nil {
		t.Fatal(err)
	}
	p = b.get(e.issuer + "/security")
	if strings.Contains(p.body, `href="/security/add/sms"`) || !strings.Contains(p.body, "no longer allows this method") {
		t.Errorf("Security info still offers texts, or does not mark the one registered:\n%s", p.body)
	}
	if p := b.get(e.issuer + "/security/add/sms"); p.status() != 404 || !strings.Contains(htmlUnescape(p.body), "You can't add this method") {
		t.Errorf("adding a disallowed method: status %d", p.status())
	}
	if !strings.Contains(p.body, "requires multi-factor authentication.") || strings.Contains(p.body, `action="/security/mfa"`) {
		t.Error("Security info does not name the unit's rule, or offers the MFA switch where the unit requires MFA")
	}

	// Signing in: texts are not offered, and choosing one by hand is ignored.
	sms := ""
	methods, _ := e.store.ListUserMethods(ctx, alice.ID)
	for _, m := range methods {
		if m.Type == storage.MethodSMS {
			sms = m.ID
		}
	}
	e.clock.Advance(30 * time.Second)
	a := app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p = b.submitPassword(b.get(a.url), "alice", alicePassword)
	if choices := b.get(e.issuer + "/login/methods?id=" + p.form().Get("id")); strings.Contains(choices.body, "Text message") {
		t.Error("the other-methods page offers a disallowed text message")
	}
	sent := e.outboxCount()
	f := p.form()
	f.Set("method", sms)
	p = b.post("/login/method", f)
	if strings.Contains(p.body, "Text message") || e.outboxCount() != sent {
		t.Fatalf("choosing a disallowed method by hand: it was challenged (status %d)", p.status())
	}
	tok, err := app.exchange(a, b.codeFrom(b.passChallenge(p, e.totpCode(secret)), a))
	if err != nil || tok.claims["acr"] != "mfa" {
		t.Fatalf("TOTP sign-in: %v, acr %v", err, tok.claims["acr"])
	}
}
