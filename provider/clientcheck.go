package provider

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ClientProblem is one thing wrong with a client's settings. Field names
// the setting (id, name, redirect_uris, post_logout_uris, grants, min_acr,
// access_token_lifetime, id_token_lifetime, refresh_token_lifetime,
// access_token_format); Msg
// says what is wrong in words an admin can act on.
type ClientProblem struct {
	Field string
	Msg   string
}

// ClientProblems is every problem CheckClient found.
type ClientProblems []ClientProblem

func (ps ClientProblems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Field + ": " + p.Msg
	}
	return strings.Join(msgs, "\n")
}

// Limits on what a client may ask for; zero lifetimes mean the server's
// settings.
const (
	MaxClientNameLength     = 100
	MaxAccessTokenLifetime  = 24 * time.Hour
	MaxIDTokenLifetime      = 24 * time.Hour
	MaxRefreshTokenLifetime = 365 * 24 * time.Hour
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,64}$`)

// CheckClient reports every problem with a client's settings at once, as
// ClientProblems, or nil. A client is public when it has no secret hash,
// so a caller creating a confidential client sets the hash first. The CLI
// and the admin pages both use it, so a client is held to one standard
// however it was registered.
func CheckClient(c storage.Client) error {
	var ps ClientProblems
	add := func(field, format string, args ...any) {
		ps = append(ps, ClientProblem{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if !clientIDPattern.MatchString(c.ID) {
		add("id", "Use 3 to 64 letters, digits, dots, dashes or underscores")
	}
	switch name := strings.TrimSpace(c.Name); {
	case name == "":
		add("name", "Enter a name: people see it on the sign-in page")
	case len([]rune(name)) > MaxClientNameLength:
		add("name", "Use at most %d characters", MaxClientNameLength)
	}
	if len(c.GrantTypes) == 0 {
		add("grants", "Choose at least one grant type")
	}
	needsRedirect := false
	for _, g := range c.GrantTypes {
		switch g {
		case GrantAuthorizationCode:
			needsRedirect = true
		case GrantRefreshToken:
		case GrantClientCredentials:
			if c.Public() {
				add("grants", "client_credentials needs a confidential client: a public client has no secret to prove itself with")
			}
		default:
			add("grants", "%q is not authorization_code, refresh_token or client_credentials", g)
		}
	}
	if needsRedirect && len(c.RedirectURIs) == 0 {
		add("redirect_uris", "Add a redirect URI: authorization_code sends the browser back to one")
	}
	for _, l := range []struct {
		field string
		uris  []string
	}{{"redirect_uris", c.RedirectURIs}, {"post_logout_uris", c.PostLogoutRedirectURIs}} {
		for _, raw := range l.uris {
			if err := CheckRedirectURI(raw); err != nil {
				add(l.field, "%q: %v", raw, err)
			}
		}
	}
	if policy.ACR(c.MinimumACR).Rank() < 0 {
		add("min_acr", "%q is not one of %s", c.MinimumACR, strings.Join(acrValuesSupported(), ", "))
	}
	for _, l := range []struct {
		field    string
		d, limit time.Duration
		words    string
	}{
		{"access_token_lifetime", c.AccessTokenLifetime, MaxAccessTokenLifetime, "24 hours"},
		{"id_token_lifetime", c.IDTokenLifetime, MaxIDTokenLifetime, "24 hours"},
		{"refresh_token_lifetime", c.RefreshTokenLifetime, MaxRefreshTokenLifetime, "365 days"},
	} {
		switch {
		case l.d < 0:
			add(l.field, "A lifetime cannot be negative")
		case l.d > l.limit:
			add(l.field, "Use at most %s", l.words)
		}
	}
	switch c.AccessTokenFormat {
	case "", storage.AccessTokenOpaque:
	case storage.AccessTokenJWT:
		// A user's sign-in always gets opaque tokens, which end with it.
		if !slices.Contains(c.GrantTypes, GrantClientCredentials) {
			add("access_token_format", "jwt applies to client_credentials tokens only: add that grant, or choose opaque")
		}
	default:
		add("access_token_format", "%q is not opaque or jwt", c.AccessTokenFormat)
	}
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// CheckRedirectURI enforces what exact matching needs: an absolute URI
// with no fragment or wildcard, https except on a loopback host.
func CheckRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return errors.New("not an absolute URI")
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("must be https (or http on a loopback host)")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return errors.New("must not have a fragment")
	case strings.Contains(raw, "*"):
		return errors.New("wildcards are not allowed")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return errors.New("http is allowed only for localhost and loopback addresses")
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
