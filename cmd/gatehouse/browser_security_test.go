package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// forgetButton selects the Forget button of the remembered device named name.
func forgetButton(name string) string {
	return `js:[...document.querySelectorAll("main tr")].find(r => r.textContent.includes("` + name + `")).querySelector("button")`
}

// TestBrowserSecurityInfoDevicesAndPassword: on a 375 px phone screen, a
// user whose device is remembered comes to Security info from the demo
// app, sees their remembered devices (this one marked), forgets another,
// changes their password (a wrong current password and a weak new one
// first), goes back to the app by the header's link and signs out by the
// header's button. Every page fits the screen and passes axe.
func TestBrowserSecurityInfoDevicesAndPassword(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	alice := e.addUser("alice", alicePassword)
	key := e.addAuthenticatorApp(alice)
	e.setRootRememberMFA(30 * 24 * time.Hour)
	// Two devices remembered before, in other browsers.
	for i, ua := range []string{
		chromeOnAndroid,
		"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	} {
		at := e.clock.Now().Add(-time.Duration(i+1) * 24 * time.Hour)
		if _, err := e.store.RememberDevice(t.Context(), storage.RememberedDevice{ID: storage.NewID(), UserID: alice.ID,
			BrowserHash: []byte{byte(i)}, UserAgent: ua, CreatedAt: at, ExpiresAt: at.Add(30 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	b := newTab(t)
	const width = 375
	b.viewport(width, 740, chromedp.EmulateMobile)

	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Verify it's you")
	if !b.has(`header form.signout button`) {
		t.Error("the challenge has no Sign out")
	}
	b.fill("#code", e.totpCode(key))
	b.click("#remember")
	b.submit(`#challenge button[type=submit]`)
	b.wantPage("Demo app")

	b.submit(`a[href*="/security?client_id="]`) // the demo's link to Security info
	b.wantPage("Security info")
	b.wantText("header", "Back to Gatehouse demo app")
	b.wantText("main", "Remembered devices")
	if n := b.count("main tr .badge"); n != 1 {
		t.Errorf("%d devices marked This device, want 1", n)
	}
	for _, want := range []string{"Chrome on Android", "Safari on iPad"} {
		b.wantText("main", want)
	}
	b.wantNoSideScroll(width)
	checkA11y(t, b, "security info, remembered devices, phone")

	b.submit(forgetButton("Safari on iPad"))
	b.wantNotice("Device forgotten")
	if strings.Contains(b.text("main"), "Safari on iPad") {
		t.Error("the forgotten iPad is still listed")
	}
	b.wantNoSideScroll(width)
	checkA11y(t, b, "security info, device forgotten, phone")

	b.submit(`a[href="/security/password"]`)
	b.wantPage("Change your password")
	b.wantNoSideScroll(width)
	checkA11y(t, b, "change password, phone")
	const chosen = "a kettle, two lemons and a violin"
	change := func(current, next string) int64 {
		t.Helper()
		b.fill("#current_password", current)
		b.fill("#new_password", next)
		b.fill("#confirm_password", next)
		return b.submit(`main form[action="/security/password"] button`)
	}
	if got := change("not my password", chosen); got != http.StatusUnauthorized {
		t.Errorf("wrong current password: status %d, want 401", got)
	}
	b.wantText(".error-summary", "Your current password is incorrect.")
	b.wantNoSideScroll(width)
	checkA11y(t, b, "change password, wrong current password, phone")
	if got := change(alicePassword, "password123"); got != http.StatusUnprocessableEntity {
		t.Errorf("a common new password: status %d, want 422", got)
	}
	b.wantText(".error-summary", "one of the most common passwords")
	checkA11y(t, b, "change password, weak new password, phone")
	change(alicePassword, chosen)
	b.wantNotice("Password changed.")
	b.wantNoSideScroll(width)

	b.submit(`header a[href^="` + demo + `"]`)
	b.wantPage("Demo app")

	b.open(e.issuer + "/security")
	b.submit(`header form.signout button`)
	b.wantPage("You are signed out")
	b.open(e.issuer + "/security")
	b.wantPage("Sign in")
}

// TestBrowserAppPasswords: where her unit allows them, alice creates an
// app password on Security info (after a name too short), sees it once,
// finds it listed without it on Security info, and revokes it.
func TestBrowserAppPasswords(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	root, _ := findOrgUnit(t.Context(), e.store, "")
	on := true
	if _, err := e.store.UpdateOrgUnit(t.Context(), root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) { ou.AppPasswords = &on; return ou, nil }); err != nil {
		t.Fatal(err)
	}
	alice := e.addUser("alice", alicePassword)
	key := e.addAuthenticatorApp(alice)
	b := newTab(t)
	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Verify it's you")
	b.fill("#code", e.totpCode(key))
	b.submit(`#challenge button[type=submit]`)
	b.wantPage("Demo app")

	b.open(e.issuer + "/security")
	b.wantText("main", "App passwords")
	checkA11y(t, b, "security info, app passwords offered")
	b.submit(`a[href="/security/app-passwords/new"]`)
	b.wantPage("Create an app password")
	checkA11y(t, b, "create an app password")
	b.fill("#name", "Mail")
	if got := b.submit(`form[action="/security/app-passwords"] button`); got != http.StatusUnprocessableEntity {
		t.Errorf("a four-character name: status %d, want 422", got)
	}
	b.wantText(`.error-summary a[href="#name"]`, "8 to 64 characters")
	checkA11y(t, b, "create an app password, error")
	b.fill("#name", "Mail on my work laptop")
	b.submit(`form[action="/security/app-passwords"] button`)
	b.wantPage("Your app password")
	pw := b.text("#app_password")
	if !regexp.MustCompile(`^([a-z2-7]{4}-){7}[a-z2-7]{4}$`).MatchString(pw) {
		t.Errorf("the password shown, %q: want eight groups of four", pw)
	}
	checkA11y(t, b, "app password shown once")
	list, err := e.store.ListUserAppPasswords(t.Context(), alice.ID)
	if err != nil || len(list) != 1 || list[0].Name != "Mail on my work laptop" {
		t.Fatalf("stored app passwords: %+v, %v", list, err)
	}

	b.submit(`a.button[href="/security"]`)
	b.wantPage("Security info")
	b.wantText("main", "Mail on my work laptop")
	if strings.Contains(b.text("body"), pw) {
		t.Error("Security info shows the app password again")
	}
	b.submit(`form[action="/security/app-passwords/revoke"] button`)
	b.wantNotice("App password revoked")
	checkA11y(t, b, "security info, app password revoked")
	if list, _ := e.store.ListUserAppPasswords(t.Context(), alice.ID); len(list) != 0 {
		t.Errorf("%d app passwords left after revoking", len(list))
	}
}
