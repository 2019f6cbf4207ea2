package main

// End-to-end tests of the headers that keep browsers and caches safe
// (CORS, Strict-Transport-Security, Cache-Control) and of the README's
// notes on them.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// corsPaths are the endpoints browsers call from a relying party's pages.
var corsPaths = []string{"/oauth/token", "/userinfo", "/revoke", "/.well-known/openid-configuration", "/keys"}

// everyPath is every kind of page and endpoint Gatehouse serves.
func (s signedIn) everyPath() []string {
	return append(slices.Clone(corsPaths),
		s.app.authorize().url[len(s.issuer):], "/authorize", "/authorize/callback?id=x",
		"/login?id=x", "/login/password", "/login/methods?id=x", "/security", "/security/add/totp",
		"/end_session", "/logged-out", "/admin", "/admin/users", "/admin/clients", "/admin/apps",
		"/oauth/introspect", "/device_authorization", "/dev/outbox", "/static/style.css",
		"/healthz", "/readyz", "/nope",
	)
}

// withOrigin sends method to path from a page at origin, in s's signed-in
// browser, following no redirects. An OPTIONS is a preflight for a POST
// with an Authorization header, as a single-page app sends one.
func (s signedIn) withOrigin(method, path, origin string) page {
	s.t.Helper()
	req := s.request(method, path, formType, "token=x", "Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization")
	}
	return s.b.stepper().do(req)
}

// corsHeaders are the Access-Control-* headers of p.
func corsHeaders(p page) http.Header {
	h := http.Header{}
	for name, v := range p.resp.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			h[name] = v
		}
	}
	return h
}

// TestCORS: cross-origin reads are allowed only from the origins of
// registered redirect URIs, only at the endpoints a relying party's pages
// call, and never with credentials. Gatehouse's own pages never answer
// cross-origin, nor does anything for any other origin.
func TestCORS(t *testing.T) {
	s := newSignedIn(t)
	registered := "https://" + s.rpHost // app's redirect URI is https://rp.example/app/callback
	methods := []string{http.MethodGet, http.MethodPost, http.MethodOptions}

	for _, origin := range []string{"https://evil.example", "null", registered + ".evil.example", "http://" + s.rpHost, registered + ":8443"} {
		for _, path := range s.everyPath() {
			for _, m := range methods {
				if h := corsHeaders(s.withOrigin(m, path, origin)); len(h) > 0 {
					t.Errorf("%s %s from %s: CORS headers %v, want none", m, path, origin, h)
				}
			}
		}
	}

	for _, path := range s.everyPath() {
		for _, m := range methods {
			p := s.withOrigin(m, path, registered)
			h := corsHeaders(p)
			if !slices.Contains(corsPaths, strings.SplitN(path, "?", 2)[0]) {
				if len(h) > 0 {
					t.Errorf("%s %s, a page of Gatehouse's own: CORS headers %v, want none", m, path, h)
				}
				continue
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != registered {
				t.Errorf("%s %s from %s: Access-Control-Allow-Origin %q, want the origin", m, path, registered, got)
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("%s %s: Access-Control-Allow-Credentials %q, want none", m, path, got)
			}
			if m == http.MethodOptions && (p.status() != http.StatusNoContent || h.Get("Access-Control-Allow-Methods") != http.MethodPost ||
				!strings.EqualFold(h.Get("Access-Control-Allow-Headers"), "authorization")) {
				t.Errorf("preflight of %s: status %d, headers %v; want 204 allowing POST with Authorization", path, p.status(), h)
			}
		}
	}

	// A single-page app exchanges its code from the browser and reads
	// the answer.
	spa := s.addRP("spa", true)
	a, code := s.code(spa)
	req := s.request(http.MethodPost, "/oauth/token", formType, "grant_type=authorization_code&client_id=spa&code="+code+
		"&code_verifier="+a.verifier+"&redirect_uri="+spa.oauth.RedirectURL, "Origin", registered)
	if p := s.send(req); p.status() != http.StatusOK || p.resp.Header.Get("Access-Control-Allow-Origin") != registered || p.json()["access_token"] == nil {
		t.Errorf("SPA code exchange: status %d, Access-Control-Allow-Origin %q; want 200 with tokens, readable from %s:\n%s",
			p.status(), p.resp.Header.Get("Access-Control-Allow-Origin"), registered, p.body)
	}

	// Whatever registered the origin goes, the origin goes with it, at once.
	for _, id := range []string{"app", "other", "spa"} {
		if _, err := s.store.UpdateClient(context.Background(), id, func(c storage.Client) (storage.Client, error) {
			c.RedirectURIs = []string{"https://elsewhere.example/" + id + "/callback"}
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if h := corsHeaders(s.withOrigin(http.MethodPost, "/oauth/token", registered)); len(h) > 0 {
		t.Errorf("after every client moved away from %s: CORS headers %v, want none", registered, h)
	}
	if got := corsHeaders(s.withOrigin(http.MethodPost, "/oauth/token", "https://elsewhere.example")).Get("Access-Control-Allow-Origin"); got != "https://elsewhere.example" {
		t.Errorf("the clients' new origin: Access-Control-Allow-Origin %q, want it", got)
	}
}

// TestHSTS: Gatehouse serving TLS itself for an https issuer tells
// browsers to come back only over https, on every answer, errors
// included; never on an answer over plain http. Behind a TLS proxy it
// does so only when told to.
func TestHSTS(t *testing.T) {
	servedTLS := func(c *Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1)
		c.TLS.CertFile, c.TLS.KeyFile = "cert.pem", "key.pem"
	}
	behindProxy := func(c *Config) { c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1) }
	hsts := func(v string) func(*Config) { return func(c *Config) { c.HSTS = v } }
	paths := []string{"/healthz", "/.well-known/openid-configuration", "/login?id=x", "/oauth/token", "/nope", "/static/style.css"}
	for _, tc := range []struct {
		name      string
		configure []func(*Config)
		want      string
	}{
		{"http issuer", nil, ""},
		{"served with TLS", []func(*Config){servedTLS}, "max-age=31536000"},
		{"served with TLS, a shorter max-age", []func(*Config){servedTLS, hsts("24h")}, "max-age=86400"},
		{"served with TLS, off", []func(*Config){servedTLS, hsts("off")}, ""},
		{"behind a proxy", []func(*Config){behindProxy}, ""},
		{"behind a proxy, on", []func(*Config){behindProxy, hsts("on")}, "max-age=31536000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSeededEnv(t, nil, tc.configure...)
			for _, path := range paths {
				// Behind a proxy, the proxy holds the https connection and
				// Gatehouse is sent plain http, as here.
				req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
				p := e.send(req)
				checkSafe(t, path, p)
				if got := p.resp.Header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, got, tc.want)
				}
			}
			if e.server.cfg.TLS.CertFile != "" {
				// The connection decides too: a request that came without
				// TLS is never told, whatever the configuration.
				w := httptest.NewRecorder()
				e.server.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://"+e.srv.Listener.Addr().String()+"/healthz", nil))
				if got := w.Header().Get("Strict-Transport-Security"); got != "" {
					t.Errorf("plain http to a TLS-serving Gatehouse: Strict-Transport-Security %q, want none", got)
				}
			}
		})
	}
}

// noStorePaths are the endpoints that hand out or read tokens.
var noStorePaths = []string{"/oauth/token", "/userinfo", "/oauth/introspect", "/revoke"}

// TestREADMESecurityNotes keeps the README's security notes true: the
// endpoints they name as never cached and as open to other origins are the
// ones that behave so (every answer here is an error, which must not be
// cached either; TestCORS checks the CORS side), and HSTS has the max-age
// they state.
func TestREADMESecurityNotes(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, notes, ok := strings.Cut(string(readme), "\n### Security notes\n")
	if !ok {
		t.Fatal("README has no ### Security notes section")
	}
	notes = regexp.MustCompile(`(?m)^#`).Split(notes, 2)[0]
	bullet := func(topic string) string {
		_, b, ok := strings.Cut(notes, "\n- **"+topic+"**")
		if !ok {
			t.Errorf("the security notes have no bullet for %s", topic)
		}
		b, _, _ = strings.Cut(b, "\n- ")
		return strings.Join(strings.Fields(b), " ")
	}

	s := newSignedIn(t)
	caching := bullet("Caching")
	for _, path := range noStorePaths {
		if !strings.Contains(caching, "`"+path+"`") {
			t.Errorf("the caching note does not name %s", path)
		}
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			p := s.send(s.request(m, path, formType, "token=x"))
			if got := p.resp.Header.Values("Cache-Control"); !slices.Equal(got, []string{"no-store"}) || p.resp.Header.Get("Pragma") != "no-cache" {
				t.Errorf("%s %s: status %d, Cache-Control %q, Pragma %q; want no-store and no-cache", m, path, p.status(), got, p.resp.Header.Get("Pragma"))
			}
		}
	}
	cors := bullet("CORS")
	for _, path := range corsPaths {
		if !strings.Contains(cors, "`"+path+"`") {
			t.Errorf("the CORS note does not name %s", path)
		}
	}
	if want := fmt.Sprintf("max-age=%d", hstsYear/time.Second); !strings.Contains(bullet("HSTS"), want) {
		t.Errorf("the HSTS note does not give the default, %s", want)
	}
}
