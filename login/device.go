package login

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
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
// remember window. Each entry in the cookie is the time it was made and a
// MAC binding it to the user and this browser's binding cookie; it counts
// only within the window, only after the user's last MFA reset, and the
// policy never lets it answer an explicit step-up, prompt=login or max_age.

const rememberCookie = "mfa_remember"

func (h *Handler) rememberMAC(userID, browser, issued string) string {
	m := hmac.New(sha256.New, h.browserMACKey)
	m.Write([]byte("remember\x00" + userID + "\x00" + browser + "\x00" + issued))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

// rememberedAt returns when this browser was remembered for userID, if it
// was; other users' entries are returned as rest.
func (h *Handler) rememberedAt(r *http.Request, userID string) (at time.Time, rest []string) {
	browser := h.browserID(r)
	c, err := r.Cookie(h.cookieName(rememberCookie))
	if err != nil || browser == "" || userID == "" {
		return at, nil
	}
	for e := range strings.SplitSeq(c.Value, ".") {
		issued, mac, ok := strings.Cut(e, ":")
		secs, err := strconv.ParseInt(issued, 10, 64)
		if !ok || err != nil {
			continue
		}
		if hmac.Equal([]byte(mac), []byte(h.rememberMAC(userID, browser, issued))) {
			at = time.Unix(secs, 0)
		} else if len(rest) < maxDeviceEntries-1 {
			rest = append(rest, e)
		}
	}
	return at, rest
}

// mfaRemembered reports whether this browser may skip u's second factor
// under a remember window of window.
func (h *Handler) mfaRemembered(r *http.Request, u storage.User, window time.Duration) bool {
	at, _ := h.rememberedAt(r, u.ID)
	return policy.Remembered(at, u.MFAResetAt, window, h.cfg.Now())
}

// rememberMFA remembers this browser for userID for window.
func (h *Handler) rememberMFA(w http.ResponseWriter, r *http.Request, userID string, window time.Duration) {
	browser := h.browserID(r)
	if browser == "" || window <= 0 {
		return
	}
	_, rest := h.rememberedAt(r, userID)
	issued := strconv.FormatInt(h.cfg.Now().Unix(), 10)
	entries := append([]string{issued + ":" + h.rememberMAC(userID, browser, issued)}, rest...)
	http.SetCookie(w, h.cookie(rememberCookie, strings.Join(entries, "."), int(window.Seconds())))
}
