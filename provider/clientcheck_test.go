package provider

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/storage"
)

func TestCheckClient(t *testing.T) {
	good := func() storage.Client {
		return storage.Client{
			ID: "payroll", Name: "Payroll", SecretHash: HashSecret("s"),
			RedirectURIs:           []string{"https://payroll.example/cb", "http://localhost:3000/cb", "http://[::1]:8080/cb"},
			PostLogoutRedirectURIs: []string{"https://payroll.example/bye"},
			GrantTypes:             []string{GrantAuthorizationCode, GrantRefreshToken}, MinimumACR: "mfa",
		}
	}
	tests := []struct {
		name   string
		change func(c *storage.Client)
		want   []string // fields with a problem
	}{
		{"good", func(*storage.Client) {}, nil},
		{"client credentials only, no redirect", func(c *storage.Client) {
			c.GrantTypes, c.RedirectURIs = []string{GrantClientCredentials}, nil
		}, nil},
		{"bad id", func(c *storage.Client) { c.ID = "a b" }, []string{"id"}},
		{"no name", func(c *storage.Client) { c.Name = "  " }, []string{"name"}},
		{"long name", func(c *storage.Client) { c.Name = string(make([]rune, 101)) }, []string{"name"}},
		{"no grants", func(c *storage.Client) { c.GrantTypes = nil }, []string{"grants"}},
		{"implicit", func(c *storage.Client) { c.GrantTypes = []string{"implicit"} }, []string{"grants"}},
		{"public client credentials", func(c *storage.Client) {
			c.SecretHash, c.GrantTypes = nil, []string{GrantClientCredentials}
		}, []string{"grants"}},
		{"code without redirect", func(c *storage.Client) { c.RedirectURIs = nil }, []string{"redirect_uris"}},
		{"bad redirects", func(c *storage.Client) {
			c.RedirectURIs = []string{"http://evil.example/cb", "https://evil.example/*", "https://x.example/cb#f", "/relative", "ftp://x.example/"}
		}, []string{"redirect_uris", "redirect_uris", "redirect_uris", "redirect_uris", "redirect_uris"}},
		{"bad logout", func(c *storage.Client) { c.PostLogoutRedirectURIs = []string{"http://evil.example/"} }, []string{"post_logout_uris"}},
		{"acr", func(c *storage.Client) { c.MinimumACR = "high" }, []string{"min_acr"}},
		{"lifetimes", func(c *storage.Client) {
			c.AccessTokenLifetime, c.IDTokenLifetime, c.RefreshTokenLifetime = -time.Second, 25*time.Hour, 366*24*time.Hour
		}, []string{"access_token_lifetime", "id_token_lifetime", "refresh_token_lifetime"}},
		{"opaque access tokens", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenOpaque }, nil},
		{"JWT access tokens for client_credentials", func(c *storage.Client) {
			c.GrantTypes, c.AccessTokenFormat = append(c.GrantTypes, GrantClientCredentials), storage.AccessTokenJWT
		}, nil},
		{"JWT access tokens without client_credentials", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenJWT }, []string{"access_token_format"}},
		{"unknown access token format", func(c *storage.Client) { c.AccessTokenFormat = "JWT" }, []string{"access_token_format"}},
		{"lifetimes at the limits", func(c *storage.Client) {
			c.AccessTokenLifetime, c.IDTokenLifetime, c.RefreshTokenLifetime = MaxAccessTokenLifetime, MaxIDTokenLifetime, MaxRefreshTokenLifetime
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			err := CheckClient(c)
			var got []string
			var ps ClientProblems
			if errors.As(err, &ps) {
				for _, p := range ps {
					got = append(got, p.Field)
					if p.Msg == "" {
						t.Errorf("problem with %s has no message", p.Field)
					}
				}
			} else if err != nil {
				t.Fatalf("CheckClient returned %T, want ClientProblems", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fields with problems (-want +got):\n%s", diff)
			}
		})
	}
}
