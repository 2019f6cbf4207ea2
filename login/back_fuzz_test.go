package login

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// FuzzBackLink asks for Security info's link back to an app with a
// fuzzed query (client_id, return_to) and a fuzzed back cookie, for a
// client with web redirect URIs, one with only a native app's, and ids
// that name none. Property: the link goes only to the origin (scheme,
// host and port) of one of the named client's web redirect URIs: it
// starts with that origin, as it is or with capitals in it, then ends or
// goes on with a path, query or fragment, so no user information,
// backslash or white space can make a browser read another host (what
// follows is the app's: a space in the query goes to the same place).
// With no such client there is no link; a store error never comes of
// any id.
func FuzzBackLink(f *testing.F) {
	ctx := f.Context()
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "s.db"), bbolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	for _, c := range []storage.Client{
		{ID: "payroll", Name: "Payroll", RedirectURIs: []string{"https://payroll.example.org/cb", "http://127.0.0.1:8080/cb", "com.example.payroll:/cb"}},
		{ID: "native", Name: "Native", RedirectURIs: []string{"com.example.app:/cb"}},
	} {
		if err := db.CreateClient(ctx, c); err != nil {
			f.Fatal(err)
		}
	}
	// Where each client's link may go, written out.
	origins := map[string][]string{"payroll": {"https://payroll.example.org", "http://127.0.0.1:8080"}}
	h := &Handler{store: db}
	name := h.cookieName(backCookie)

	for _, returnTo := range []string{
		"", "https://payroll.example.org/home?tab=2#top", "https://PAYROLL.example.org/x", "http://127.0.0.1:8080/x",
		"https://evil.example/", "https://payroll.example.org@evil.example/", "https://payroll.example.org.evil.example/",
		"//evil.example/", "/relative", "javascript:alert(1)", "https://payroll.example.org:443/", "http://payroll.example.org/",
		"https://payroll.example.org\\@evil.example/", "https://payroll.example.org%2f@evil.example/", "https://payroll.example.org%40evil.example/",
		"https://payroll.example.org#@evil.example", "https://payroll.example.org/%2e%2e/", "https://payroll.example.org\t.evil.example/",
		"https:payroll.example.org/x", "https:///payroll.example.org", "HTTPS://payroll.example.org/", "https://payroll.example.org/\\\\evil.example",
	} {
		q := url.Values{"client_id": {"payroll"}, "return_to": {returnTo}}.Encode()
		f.Add(q, "")
		f.Add("", q)
	}
	for _, s := range []string{"client_id=native", "client_id=nobody", "client_id=", "client_id=payroll&client_id=native", "client_id=%00", "%zz"} {
		f.Add(s, "")
		f.Add("", s)
	}
	f.Add("client_id=native", "client_id=payroll")
	f.Fuzz(func(t *testing.T, query, cookie string) {
		r := httptest.NewRequest(http.MethodGet, "/security", nil)
		r.URL.RawQuery = query
		r.Header.Set("Cookie", name+"="+cookie)
		link, err := h.backLink(httptest.NewRecorder(), r)
		if err != nil {
			t.Fatalf("query %q, cookie %q: %v", query, cookie, err)
		}
		// The client named: by the query, else by the cookie as net/http
		// reads it.
		v := r.URL.Query()
		if v.Get("client_id") == "" {
			v = nil
			if c, err := r.Cookie(name); err == nil {
				v, _ = url.ParseQuery(c.Value)
			}
		}
		allowed := origins[v.Get("client_id")]
		if link == nil {
			if allowed != nil {
				t.Fatalf("query %q, cookie %q: no link back to %s", query, cookie, v.Get("client_id"))
			}
			return
		}
		on := func(o string) bool {
			head, rest := link.URL[:min(len(o), len(link.URL))], link.URL[min(len(o), len(link.URL)):]
			lower := strings.Map(func(r rune) rune {
				if 'A' <= r && r <= 'Z' {
					return r + 'a' - 'A'
				}
				return r
			}, head)
			return lower == o && (rest == "" || strings.ContainsRune("/?#", rune(rest[0])))
		}
		if !slices.ContainsFunc(allowed, on) {
			t.Fatalf("query %q, cookie %q: link %q, outside %q", query, cookie, link.URL, allowed)
		}
	})
}
