package login

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
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
	m := hmac.New(sha256.New, h.csrfKey)
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
