package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The browser cookie is a random value set by /authorize. Every auth
// request stores its hash, and every step of the journey (and the final
// callback) checks it: a login link opened in another browser, or a
// callback URL replayed elsewhere, goes nowhere.

func hashBrowser(v string) []byte {
	h := sha256.Sum256([]byte(v))
	return h[:]
}

// browserID returns the browser cookie's value, or "".
func (h *Handler) browserID(r *http.Request) string {
	c, err := r.Cookie(h.cookieName("browser"))
	if err != nil || len(c.Value) < 32 {
		return ""
	}
	return c.Value
}

// BindBrowser wraps the authorization endpoint: it makes sure the browser
// has a binding cookie, and keeps the request in its context, for
// AdmitAuthRequest to bind the new auth request to it and charge it to
// its address.
func (h *Handler) BindBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/authorize" {
			next.ServeHTTP(w, r)
			return
		}
		r = h.ensureBrowser(w, r)
		ctx := context.WithValue(r.Context(), authorizeKey{}, r)
		cw := &plainErrorCatcher{ResponseWriter: w}
		next.ServeHTTP(cw, r.WithContext(ctx))
		if cw.caught {
			// op refuses a request whose client it could not read as one
			// naming no client: with the database out of reach, say that.
			if _, err := h.store.GetClient(r.Context(), r.FormValue("client_id")); errors.Is(err, storage.ErrUnavailable) {
				h.serverError(w, r, err)
				return
			}
			h.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid",
				"The app that sent you here is not registered with Gatehouse, or sent you with an address or request Gatehouse does not accept. Contact the app's support.",
				"invalid_request")
		}
	})
}

// authorizeKey holds the /authorize request (as BindBrowser saw it, with
// its browser cookie) in its context.
type authorizeKey struct{}

// AdmitAuthRequest implements provider.Journey: it binds a new auth request
// to the browser that started it, and charges it to its client address's
// budget (a stored auth request costs the database for its whole lifetime,
// and /authorize asks nobody to sign in first), refusing it as
// temporarily_unavailable when the address is over. The provider asks it
// after op has checked the client and redirect URI, so the refusal goes to
// the client's redirect URI with its state, and a request op refuses
// anyway costs nothing. A request that did not come through BindBrowser is
// refused: it has no browser binding, so it could never finish.
func (h *Handler) AdmitAuthRequest(ctx context.Context, clientID string) ([]byte, error) {
	r, ok := ctx.Value(authorizeKey{}).(*http.Request)
	if !ok {
		return nil, oidc.ErrServerError().WithDescription("The authorization request did not come through the sign-in page.")
	}
	if until, ok := h.admitStart(r, clientID); !ok {
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable",
			Description: "Too many sign-ins were started from your network. Try again in " + humanDuration(until.Sub(h.cfg.Now())) + "."}
	}
	return hashBrowser(h.browserID(r)), nil
}

// admitStart charges a new auth request, for clientID or (with none) for
// one of Gatehouse's own pages, to r's client address, and reports whether
// it is within the budget, else until when it is not. The first refusal of
// each lock is audited and logged; the rest of it, never.
func (h *Handler) admitStart(r *http.Request, clientID string) (time.Time, bool) {
	ip := h.clientIP(r)
	key := ipKey(ip)
	ok, until, first := h.starts.take(key)
	if !ok && first {
		details := map[string]string{"reason": "too many sign-ins started", "key": key,
			"limit": fmt.Sprintf("%d per %s", h.cfg.StartRule.Limit, h.cfg.StartRule.Window), "until": until.UTC().Format(time.RFC3339)}
		if clientID != "" {
			details["client_id"] = clientID
		}
		h.audit(r, storage.AuditEvent{Action: "login.start_throttled", Outcome: storage.OutcomeDenied, Details: details})
		h.cfg.Logger.WarnContext(r.Context(), "sign-ins refused: an address started too many", "ip", ip, "key", key, "until", until)
	}
	return until, ok
}

// plainErrorCatcher swallows the plain-text 400 op sends where it must not
// redirect (unknown client, unregistered redirect URI), so the user gets a
// page instead of a line of text.
type plainErrorCatcher struct {
	http.ResponseWriter
	caught bool
}

func (c *plainErrorCatcher) WriteHeader(code int) {
	if code == http.StatusBadRequest && strings.HasPrefix(c.Header().Get("Content-Type"), "text/plain") {
		c.caught = true
		return
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *plainErrorCatcher) Write(b []byte) (int, error) {
	if c.caught {
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

// sameBrowser reports whether r comes from the browser that started a.
func (h *Handler) sameBrowser(r *http.Request, a storage.AuthRequest) bool {
	id := h.browserID(r)
	return id != "" && len(a.BrowserHash) > 0 && subtle.ConstantTimeCompare(hashBrowser(id), a.BrowserHash) == 1
}

// csrfToken is an HMAC of the browser cookie: forms carry it, and a POST
// without the matching token is refused. It backs up
// http.CrossOriginProtection for browsers that send neither Origin nor
// Sec-Fetch-Site.
func (h *Handler) csrfToken(r *http.Request) string {
	id := h.browserID(r)
	if id == "" {
		return ""
	}
	m := hmac.New(sha256.New, h.browserMACKey)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) validCSRF(r *http.Request) bool {
	want := h.csrfToken(r)
	return want != "" && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) == 1
}

// ensureBrowser sets the browser cookie if missing, and returns the request
// as later handlers should see it.
func (h *Handler) ensureBrowser(w http.ResponseWriter, r *http.Request) *http.Request {
	if h.browserID(r) != "" {
		return r
	}
	id := storage.RandomString(32)
	c := h.cookie("browser", id, deviceMaxAge) // as long as browsers allow
	http.SetCookie(w, c)
	r2 := r.Clone(r.Context())
	r2.AddCookie(c)
	return r2
}
