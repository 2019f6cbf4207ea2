package main

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestBrowserFirstEnrolmentPhone: on a 375 px phone, a user who must set
// up MFA sees the methods to add (on the set-up page and on Security
// info), the recommended one first, each described; adding an
// authenticator app, the enrol page offers to open the app on this phone,
// and a wrong first code keeps the key (copied as typed into the app) and
// the link, with the error on the focused code field. No page scrolls
// sideways or has a serious accessibility fault. On a wide screen the
// link, which a computer has no app to open, is hidden.
func TestBrowserFirstEnrolmentPhone(t *testing.T) {
	e, demo := newBrowserEnv(t, nil)
	e.addUser("alice", alicePassword)
	e.setRootMFA(storage.MFARequired)
	b := newTab(t)
	const width = 375
	b.viewport(width, 740, chromedp.EmulateMobile)

	b.signInAtDemo(demo, "alice", alicePassword)
	b.wantPage("Set up multi-factor authentication")
	b.wantText(".methods li:first-child", "Authenticator app")
	b.wantText(".methods li:first-child", "Recommended")
	b.wantText(".methods li:first-child .hint", "Works without signal.")
	b.wantFits(width)
	checkA11y(t, b, "set up MFA, phone")

	b.open(e.issuer + "/security")
	b.wantPage("Security info")
	b.wantText(".methods li:first-child", "Recommended")
	b.wantFits(width)
	checkA11y(t, b, "security info, methods to add, phone")

	b.submit(`a.button[href="/security/add/totp"]`)
	b.wantPage("Add Authenticator app")
	b.wantText("#name_hint", "Work phone")
	b.wantFits(width)
	b.submit(`form[action="/security/add/totp"] button`)
	key := b.text("code.secret")
	if len(key) != 32 {
		t.Fatalf("key %q, want 32 characters with no spaces", key)
	}
	b.wantAppLink(true)

	b.fill("#code", "000000")
	if got := b.submit(`#enrol button[type=submit]`); got != http.StatusUnauthorized {
		t.Errorf("wrong code: status %d, want 401", got)
	}
	b.wantText(".error-summary", "That didn't work")
	if got := b.text("code.secret"); got != key {
		t.Errorf("after a wrong code the key is %q, want the same %q", got, key)
	}
	if !b.has(`img.qr[src^="data:image/png;base64,"]`) {
		t.Error("after a wrong code the QR code is gone")
	}
	b.wantAppLink(true)
	if got := inTab(b, "read the focus", chromedp.Evaluate[string](`document.activeElement.id + " " + document.activeElement.getAttribute("aria-invalid")`)); got != "code true" {
		t.Errorf("focus on %q, want the code field, marked invalid", got)
	}
	// What a user copies is the key, not its groups' spacing.
	copied := inTab(b, "select the key", chromedp.Evaluate[string](`(() => {
		const r = document.createRange();
		r.selectNodeContents(document.querySelector("code.secret"));
		getSelection().removeAllRanges();
		getSelection().addRange(r);
		const copied = getSelection().toString();
		getSelection().removeAllRanges();
		return copied;
	})()`))
	if copied != key {
		t.Errorf("copying the key gives %q, want %q", copied, key)
	}
	b.wantFits(width)
	checkA11y(t, b, "enrol authenticator app, wrong code, phone")

	// The same page on a computer, in another tab.
	wide := b.otherTab()
	wide.open(e.issuer + "/security/add/totp")
	wide.submit(`form[action="/security/add/totp"] button`)
	if !wide.has("code.secret") {
		t.Fatal("the wide tab shows no key")
	}
	wide.wantAppLink(false)

	b.fill("#code", e.totpCode(key))
	b.submit(`#enrol button[type=submit]`)
	b.saveCodes()
	b.wantNotice("Method added.")
}

// wantAppLink fails the test unless the enrol page's Open in authenticator
// app link, an otpauth:// URL, is visible (or, with visible false, hidden).
func (b *tab) wantAppLink(visible bool) {
	b.t.Helper()
	got := inTab(b, "look at the app link", chromedp.Evaluate[string](`(() => {
		const a = [...document.querySelectorAll('a[href^="otpauth://totp/"]')].find(a => a.textContent === "Open in authenticator app");
		if (!a) return "missing";
		return a.getClientRects().length > 0 ? "visible" : "hidden";
	})()`))
	if want := map[bool]string{true: "visible", false: "hidden"}[visible]; got != want {
		b.t.Errorf("the Open in authenticator app link is %s, want %s", got, want)
	}
}
