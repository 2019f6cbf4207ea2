package provider

import (
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzRedirectURIMatch checks how op, given our client adapter, compares a
// request's redirect_uri (authorize) and post_logout_redirect_uri (end
// session) with the client's registered ones. Property: a URI that is not
// byte-equal to a registered one is never accepted, by either endpoint,
// for a public or a confidential client; a byte-equal one that
// CheckRedirectURI lets an admin register is always accepted.
func FuzzRedirectURIMatch(f *testing.F) {
	for _, s := range []struct {
		registered, requested string
	}{
		{"https://rp.example/cb", "https://rp.example/cb"},
		{"https://rp.example/cb", "https://rp.example/cb/"},
		{"https://rp.example/cb", "https://RP.example/cb"},
		{"https://rp.example/cb", "HTTPS://rp.example/cb"},
		{"https://rp.example/cb", "https://rp.example/cb?x=1"},
		{"https://rp.example/cb", "https://rp.example/cb#frag"},
		{"https://rp.example/cb", "https://rp.example:443/cb"},
		{"https://rp.example/cb", "https://rp.example/%63b"},
		{"https://rp.example/cb", "https://rp.example/./cb"},
		{"https://rp.example/cb", "https://rp.example.evil/cb"},
		{"https://rp.example/cb", "https://rp.example@evil.example/cb"},
		{"https://rp.example/cb", "https://rp.example/cb\x00"},
		{"https://rp.example/cb", " https://rp.example/cb"},
		{"https://rp.example/cb", ""},
		{"https://rp.example/ü", "https://rp.example/%C3%BC"},
		{"https://rp.example/cb?a=1&b=2", "https://rp.example/cb?b=2&a=1"},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:9090/cb"},
		{"http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb"},
		{"http://localhost:3000/cb", "http://localhost:3000/cb"},
		{"http://localhost/cb", "http://localhost:1234/cb"},
		{"http://[::1]:8080/cb", "http://[::1]:8080/cb"},
		{"http://[::1]/cb", "http://[::1]:80/cb"},
		{"com.example.app:/cb", "com.example.app:/cb"},
		{"https://rp.example/*", "https://rp.example/anything"},
		{"", ""},
	} {
		f.Add(s.registered, s.requested, false)
		f.Add(s.registered, s.requested, true)
	}
	f.Fuzz(func(t *testing.T, registered, requested string, public bool) {
		sc := storage.Client{
			ID:                     "rp",
			GrantTypes:             []string{GrantAuthorizationCode},
			RedirectURIs:           []string{registered},
			PostLogoutRedirectURIs: []string{registered},
		}
		if !public {
			sc.SecretHash = HashSecret("secret")
		}
		c := &client{Client: sc}
		authErr := op.ValidateAuthReqRedirectURI(c, requested, oidc.ResponseTypeCode)
		logoutErr := op.ValidateEndSessionPostLogoutRedirectURI(requested, c)
		if requested != registered {
			if authErr == nil {
				t.Errorf("public=%v: redirect_uri %q accepted for registered %q", public, requested, registered)
			}
			if logoutErr == nil {
				t.Errorf("public=%v: post_logout_redirect_uri %q accepted for registered %q", public, requested, registered)
			}
			return
		}
		if CheckRedirectURI(registered) != nil {
			return // never registered, so nothing is promised
		}
		if authErr != nil {
			t.Errorf("public=%v: registered redirect_uri %q refused: %v", public, requested, authErr)
		}
		if logoutErr != nil {
			t.Errorf("public=%v: registered post_logout_redirect_uri %q refused: %v", public, requested, logoutErr)
		}
	})
}
