package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// A device cookie records which users have signed in successfully from this
// browser. Such a browser gets its own failure budget for them, so an
// attacker who keeps guessing a user's password locks out the guesser's
// browsers, not the user's own (OWASP's "device cookies").

const (
	deviceCookie     = "device"
	maxDeviceEntries = 5
	deviceMaxAge     = 400 * 24 * 60 * 60 // the most browsers allow
)

// deviceMAC binds a user to this browser's binding cookie.
func (h *Handler) deviceMAC(userID, browser string) string {
	m := hmac.New(sha256.New, h.browserMACKey)
	m.Write([]byte("device\x00" + userID + "\x00" + browser))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (h *Handler) deviceEntries(r *http.Request) []string {
	c, err := r.Cookie(h.cookieName(deviceCookie))
	if err != nil || c.Value == "" {
		return nil
	}
	return strings.Split(c.Value, ".")
}

// knownDevice reports whether this browser has signed in as userID before.
func (h *Handler) knownDevice(r *http.Request, userID string) bool {
	browser := h.browserID(r)
	if browser == "" || userID == "" {
		return false
	}
	want := h.deviceMAC(userID, browser)
	return slices.ContainsFunc(h.deviceEntries(r), func(e string) bool { return hmac.Equal([]byte(e), []byte(want)) })
}

// rememberDevice adds userID to the browser's device cookie.
func (h *Handler) rememberDevice(w http.ResponseWriter, r *http.Request, userID string) {
	browser := h.browserID(r)
	if browser == "" || h.knownDevice(r, userID) {
		return
	}
	entries := append([]string{h.deviceMAC(userID, browser)}, h.deviceEntries(r)...)
	if len(entries) > maxDeviceEntries {
		entries = entries[:maxDeviceEntries]
	}
	http.SetCookie(w, h.cookie(deviceCookie, strings.Join(entries, "."), deviceMaxAge))
}

// "Remember MFA on this device": after a second factor passes, the user may
// tick a box so this browser skips the second factor for the org unit's
// remember window. The browser is remembered server-side, by the hash of
// its binding cookie, so Security info can list where the user is
// remembered and forget a device for good. A device counts only within
// its unit's window, only after the user's last MFA reset, never for a
// role holder, and the policy never lets it answer an explicit step-up,
// prompt=login or max_age.

// maxUserAgent bounds the User-Agent kept with a remembered device: the
// short name shown needs only its start.
const maxUserAgent = 512

// standsIn reports whether device d stands in for u's second factor at now
// under the remember window of u's org unit.
func standsIn(d storage.RememberedDevice, up userPolicy, u storage.User, now time.Time) bool {
	return d.UserID == u.ID && !up.user.Privileged && now.Before(d.ExpiresAt) &&
		policy.Remembered(d.CreatedAt, u.MFAResetAt, up.org.RememberMFA, now)
}

// rememberedDevice returns this browser's device for u if it stands in
// for u's second factor now.
func (h *Handler) rememberedDevice(ctx context.Context, r *http.Request, up userPolicy, u storage.User) (storage.RememberedDevice, bool, error) {
	browser := h.browserID(r)
	if browser == "" || up.org.RememberMFA <= 0 {
		return storage.RememberedDevice{}, false, nil
	}
	d, err := h.store.FindRememberedDevice(ctx, u.ID, hashBrowser(browser))
	if errors.Is(err, storage.ErrNotFound) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("find remembered device: %w", err)
	}
	return d, standsIn(d, up, u, h.cfg.Now()), nil
}

// rememberMFA remembers this browser for userID for window.
func (h *Handler) rememberMFA(r *http.Request, userID string, window time.Duration) (storage.RememberedDevice, error) {
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	now := h.cfg.Now()
	d, err := h.store.RememberDevice(r.Context(), storage.RememberedDevice{
		ID: storage.NewID(), UserID: userID, BrowserHash: hashBrowser(h.browserID(r)),
		UserAgent: strings.ToValidUTF8(ua, ""), CreatedAt: now, ExpiresAt: now.Add(window),
	})
	if err != nil {
		return d, fmt.Errorf("remember device: %w", err)
	}
	return d, nil
}

// deviceName is a short, readable name for the browser a User-Agent
// describes, such as "Firefox on Windows". Only the common browsers and
// systems are told apart: the name helps a user recognise their own
// device, it proves nothing.
func deviceName(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		// Most browsers also claim to be the ones they grew from: the
		// more specific tokens come first.
		{"Edg", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"CrOS", "ChromeOS"},
		{"Windows", "Windows"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}
