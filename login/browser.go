package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The browser cookie is a random value set by /authorize. Every auth
// request stores its hash, and every step of the journey (and the final
// callback) checks it: a login link opened in another browser, or a
// callback URL replayed elsewhere, goes nowhere.

type browserKey struct{}

// BrowserHash returns the binding that BindBrowser put in ctx, or nil.
func BrowserHash(ctx context.Context) []byte {
	h, _ := ctx.Value(browserKey{}).([]byte)
	return h
}

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
// has a binding cookie and passes its hash to CreateAuthRequest.
func (h *Handler) BindBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/authorize" {
			next.ServeHTTP(w, r)
			return
		}
		id := h.browserID(r)
		if id == "" {
			id = storage.RandomString(32)
			http.SetCookie(w, h.cookie("browser", id, 400*24*60*60))
		}
		cw := &plainErrorCatcher{ResponseWriter: w}
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), browserKey{}, hashBrowser(id))))
		if cw.caught {
			h.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid",
				"The app that sent you here is not registered with Gatehouse, or sent you with an address or request Gatehouse does not accept. Contact the app's support.",
				"invalid_request")
		}
	})
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
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) validCSRF(r *http.Request) bool {
	want := h.csrfToken(r)
	return want != "" && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) == 1
}

// ensureBrowser sets the browser cookie if missing, for pages reached
// without /authorize (logout), and returns the request as later handlers
// should see it.
func (h *Handler) ensureBrowser(w http.ResponseWriter, r *http.Request) *http.Request {
	if h.browserID(r) != "" {
		return r
	}
	id := storage.RandomString(32)
	c := h.cookie("browser", id, 400*24*60*60)
	http.SetCookie(w, c)
	r2 := r.Clone(r.Context())
	r2.AddCookie(c)
	return r2
}
