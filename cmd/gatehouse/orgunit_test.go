package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// setRootMFA sets the root org unit's MFA setting.
func (e *env) setRootMFA(setting storage.MFASetting) {
	e.t.Helper()
	root, err := findOrgUnit(context.Background(), e.store, "")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.UpdateOrgUnit(context.Background(), root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
		ou.MFA = setting
		return ou, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

var (
	setupLink = regexp.MustCompile(`href="(/security/add/totp\?return=[^"]+)"`)
	setupID   = regexp.MustCompile(`return=%2Flogin%3Fid%3D([A-Za-z0-9_-]+)`)
)

// setupRequest is the auth request id a setup page belongs to.
func setupRequest(t *testing.T, p page) string {
	t.Helper()
	m := setupID.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no sign-in id on the setup page:\n%s", p.body)
	}
	return m[1]
}

// enrolDuringSignIn follows the setup page's authenticator-app link,
// enrols, and returns the page the sign-in goes on to.
func (b *browser) enrolDuringSignIn(setup page) (secret string, next page) {
	b.e.t.Helper()
	m := setupLink.FindStringSubmatch(setup.body)
	if m == nil {
		b.e.t.Fatalf("setup page has no authenticator app link: status %d\n%s", setup.status(), setup.body)
	}
	p := b.get(b.e.issuer + htmlUnescape(m[1]))
	f := p.form()
	f.Set("name", "Phone")
	p = b.post("/security/add/totp", f)
	k := enrolKey(p.body)
	if k == "" {
		b.e.t.Fatalf("no TOTP key on the enrol page:\n%s", p.body)
	}
	f = p.form()
	f.Set("code", b.e.totpCode(k))
	return k, b.pastCodes(b.post("/security/add/totp/finish", f))
}

// TestOrgUnitPolicy: prompted lets a user skip setting up MFA; required
// does not; an admin is forced whatever the org unit says; and the ID
// token claims only what was proved.
func TestOrgUnitPolicy(t *testing.T) {
	t.Run("prompted: Not now", func(t *testing.T) {
		e, app := newAliceEnv(t)
		e.setRootMFA(storage.MFAPrompted)
		b := e.newBrowser()
		a := app.authorize()
		p := b.submitPassword(b.get(a.url), "alice", alicePassword)
		if !strings.Contains(p.body, "Set up multi-factor authentication") || !strings.Contains(p.body, "Not now") {
			t.Fatalf("prompted OU: expected the offer with Not now, got status %d:\n%s", p.status(), p.body)
		}
		tok, err := app.exchange(a, b.codeFrom(b.post("/login/not-now", p.form()), a))
		if err != nil {
			t.Fatal(err)
		}
		wantPasswordOnly(t, tok, e.clock.Now())
	})
	t.Run("required: no way round", func(t *testing.T) {
		e, app := newAliceEnv(t)
		e.setRootMFA(storage.MFARequired)
		b := e.newBrowser()
		a := app.authorize()
		p := b.submitPassword(b.get(a.url), "alice", alicePassword)
		if !strings.Contains(p.body, "requires a second way") || strings.Contains(p.body, "Not now") {
			t.Fatalf("required OU: expected the setup page without Not now, got status %d:\n%s", p.status(), p.body)
		}
		id := setupRequest(t, p)
		csrf := b.get(e.issuer + "/security").form().Get("csrf")
		if got := b.post("/login/not-now", url.Values{"id": {id}, "csrf": {csrf}}); got.location().Host == e.rpHost || !strings.Contains(got.body, "requires a second way") {
			t.Fatalf("Not now posted by hand: status %d location %q, want the setup page again", got.status(), got.location())
		}
		if got := b.get(e.issuer + "/authorize/callback?id=" + id); got.location().Host == e.rpHost {
			t.Fatal("the callback issued a code before MFA was set up")
		}
		// The app's first code is the sign-in's second factor: no second
		// challenge follows.
		_, p = b.enrolDuringSignIn(b.get(e.issuer + "/login?id=" + id))
		tok, err := app.exchange(a, b.codeFrom(p, a))
		if err != nil {
			t.Fatal(err)
		}
		if amr := claimsAMR(t, tok); tok.claims["acr"] != "mfa" || !slices.Equal(amr, []string{"pwd", "otp", "mfa"}) || !tok.authTime().Equal(e.clock.Now()) {
			t.Errorf("after setting up TOTP: acr %v amr %v auth_time %v; want mfa, [pwd otp mfa], %v", tok.claims["acr"], amr, tok.authTime(), e.clock.Now())
		}
	})
	t.Run("admin in an optional org unit is forced", func(t *testing.T) {
		e, app := newAliceEnv(t)
		u, _ := e.store.GetUserByUsername(context.Background(), "alice")
		e.store.UpdateUser(context.Background(), u.ID, func(u storage.User) (storage.User, error) {
			u.Roles = []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: u.OrgUnitID}}
			return u, nil
		})
		b := e.newBrowser()
		a := app.authorize()
		p := b.submitPassword(b.get(a.url), "alice", alicePassword)
		if !strings.Contains(p.body, "requires a second way") || strings.Contains(p.body, "Not now") {
			t.Fatalf("admin: expected the setup page without Not now, got status %d", p.status())
		}
		// prompt=none from another app cannot ride on the password session.
		other := e.addRP("other", false)
		a2 := other.authorize()
		a2.url += "&prompt=none"
		if q := b.get(a2.url).location().Query(); q.Get("error") != "interaction_required" {
			t.Errorf("prompt=none for an admin without MFA: %v, want interaction_required", q)
		}
		if got := b.get(e.issuer + "/login?id=" + setupRequest(t, p)); got.status() != http.StatusOK || !strings.Contains(got.body, "Set up multi-factor") {
			t.Errorf("back to the sign-in: status %d, want the setup page again", got.status())
		}
	})
}
