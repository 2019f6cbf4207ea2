package admin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzClientForm reads a fuzzed client settings form (readClient, then
// checkClient, as saving it does) for a confidential or a public client.
// Properties: a form is either refused with errors or gives a client
// provider.CheckClient accepts, so a token lifetime outside zero to its
// maximum is never accepted; its redirect URIs are the form's lines,
// trimmed, each once; and every lifetime it holds is written by the page
// as text that reads back as the same lifetime. The form the page then
// shows for it, sent back unchanged (with the CRLF line ends a browser
// sends), reads back as the same client.
func FuzzClientForm(f *testing.F) {
	for _, s := range []struct {
		name, redirects, logouts, grants, acr, exceptions, format, access, id, refresh string
		public                                                                         bool
	}{
		{"Payroll", "https://payroll.example.org/cb", "", "authorization_code,refresh_token", "mfa", "yes", "opaque", "15m", "1h", "30d", false},
		{" Payroll ", "https://a.example/cb\r\n\r\nhttps://a.example/cb\n  http://127.0.0.1:8080/cb  ", "https://a.example/bye", "authorization_code", "phr", "no", "", "", "", "", true},
		{"API", "", "", "client_credentials", "pwd", "", "jwt", "24h", "24h", "365d", false},
		{"API", "", "", "client_credentials,client_credentials", "pwd", "", "jwt", "24h0m1s", "1d", "366d", false},
		{"P", "https://a.example/cb", "", "authorization_code", "mfa", "yes", "opaque", "-1s", "0", "-0d", false},
		{"P", "https://a.example/cb", "", "authorization_code", "mfa", "yes", "opaque", "1ns", "1.5h", "+1d", false},
		{"P", "https://a.example/cb", "", "authorization_code", "mfa", "yes", "opaque", "1d", "1e3s", "100000d", false},
		{"P", "https://a.example/cb", "", "authorization_code", "mfa", "yes", "opaque", "1h30m", "90m", "99999999999999999999d", false},
		{"P", "https://a.example/cb", "", "authorization_code", "mfa", "yes", "opaque", "25h", "0.5s", "8760h", false},
		{"P", "https://a.example/cb", "", "authorization_code", "", "yes", "opaque", "d", "1m0s", "1h0m0s", false},
		{"P", "https://a.example/cb#x", "https://a.example/*", "implicit", "MFA", "maybe", "JWT", "", "", "", true},
		{"", "\n", "\r\n", "", "", "", "", " ", "\t", "\u00a0", false},
		{strings.Repeat("é", 101), "javascript:alert(1)", "", "authorization_code", "mfa", "", "", "", "", "", false},
	} {
		f.Add(s.name, s.redirects, s.logouts, s.grants, s.acr, s.exceptions, s.format, s.access, s.id, s.refresh, s.public)
	}
	f.Fuzz(func(t *testing.T, name, redirects, logouts, grants, acr, exceptions, format, access, id, refresh string, public bool) {
		form := url.Values{"name": {name}, "redirect_uris": {redirects}, "post_logout_uris": {logouts}, "grants": strings.Split(grants, ","),
			"min_acr": {acr}, "exceptions": {exceptions}, "access_token_format": {format},
			"access_token_lifetime": {access}, "id_token_lifetime": {id}, "refresh_token_lifetime": {refresh}}
		base := storage.Client{ID: "payroll-0123", CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		if !public {
			base.SecretHash = provider.HashSecret("secret")
		}
		c, errs := read(base, form)
		if len(errs) > 0 {
			return
		}
		if err := provider.CheckClient(c); err != nil {
			t.Fatalf("form %q gave a client CheckClient refuses: %v", form, err)
		}
		for _, l := range []struct {
			d, max time.Duration
		}{{c.AccessTokenLifetime, provider.MaxAccessTokenLifetime}, {c.IDTokenLifetime, provider.MaxIDTokenLifetime}, {c.RefreshTokenLifetime, provider.MaxRefreshTokenLifetime}} {
			if l.d < 0 || l.d > l.max {
				t.Fatalf("form %q: lifetime %v accepted, outside 0 to %v", form, l.d, l.max)
			}
			if back, err := parseLifetime(formatLifetime(l.d)); err != nil || back != l.d {
				t.Fatalf("lifetime %v is shown as %q, which reads back as %v, %v", l.d, formatLifetime(l.d), back, err)
			}
		}
		for _, uris := range []struct {
			field string
			got   []string
		}{{redirects, c.RedirectURIs}, {logouts, c.PostLogoutRedirectURIs}} {
			for i, u := range uris.got {
				if u == "" || u != strings.TrimSpace(u) || strings.Contains(u, "\n") || slices.Contains(uris.got[:i], u) || !strings.Contains(uris.field, u) {
					t.Fatalf("URIs %q gave %q", uris.field, uris.got)
				}
			}
		}

		// The page's form for c, as clientPage fills it in.
		shown := url.Values{"name": {c.Name}, "redirect_uris": {strings.Join(c.RedirectURIs, "\r\n")}, "post_logout_uris": {strings.Join(c.PostLogoutRedirectURIs, "\r\n")},
			"min_acr": {c.MinimumACR}, "exceptions": {"yes"}, "access_token_format": {tokenFormat(c)},
			"access_token_lifetime": {formatLifetime(c.AccessTokenLifetime)}, "id_token_lifetime": {formatLifetime(c.IDTokenLifetime)},
			"refresh_token_lifetime": {formatLifetime(c.RefreshTokenLifetime)}}
		if !c.ExceptionsAllowed {
			shown.Set("exceptions", "no")
		}
		for _, g := range grantChoices {
			if slices.Contains(c.GrantTypes, g.Value) {
				shown.Add("grants", g.Value)
			}
		}
		again, errs := read(base, shown)
		if len(errs) > 0 {
			t.Fatalf("the page for %q sent back is refused: %v", form, errs)
		}
		// Grants come back in the page's order; an unset format as opaque,
		// which is what it means.
		same := func(c storage.Client) storage.Client {
			c.GrantTypes = slices.Sorted(slices.Values(c.GrantTypes))
			c.AccessTokenFormat = tokenFormat(c)
			return c
		}
		if diff := cmp.Diff(same(c), same(again)); diff != "" {
			t.Fatalf("form %q, shown and sent back, changes the client (-first +again):\n%s", form, diff)
		}
	})
}

// read is readClient and checkClient on a posted form, as saving does.
func read(c storage.Client, form url.Values) (storage.Client, []error) {
	r := httptest.NewRequest(http.MethodPost, "/admin/clients/"+c.ID, nil)
	r.PostForm = form
	c, errs := readClient(&request{r: r}, c)
	return c, append(errs, checkClient(c)...)
}
