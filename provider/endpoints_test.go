package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// serve sends one request to p's path; header is name, value pairs.
func serve(p *Provider, method, path, contentType, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://localhost:8080"+path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	p.Handler().ServeHTTP(w, req)
	return w
}

const formType = "application/x-www-form-urlencoded"

// basicAuth is an Authorization header for client_secret_basic.
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// issue refreshes a seeded refresh token for app and returns the new
// tokens: a user's, with the openid scope.
func issue(t testing.TB, p *Provider, db *bbolt.DB, secret string) (accessToken, refreshToken string) {
	t.Helper()
	w := post(p, "/oauth/token", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {seedRefreshToken(t, db)}})
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("refresh: status %d, body %s", w.Code, w.Body)
	}
	return tok.AccessToken, tok.RefreshToken
}

// TestTokenResponsesAreNotCached: every answer of the endpoints that hand
// out or read tokens, errors included, tells caches not to keep it (RFC
// 6749 section 5.1; Pragma for HTTP/1.0 caches).
func TestTokenResponsesAreNotCached(t *testing.T) {
	p, db, secret := newTestProvider(t)
	at, rt := issue(t, p, db, secret)
	basic := basicAuth("app", secret)
	for _, tc := range []struct {
		name                     string
		method, path, body, auth string
		wantStatus               int
	}{
		{"token", http.MethodPost, "/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode(), basic, http.StatusOK},
		{"token error", http.MethodPost, "/oauth/token", "grant_type=nonsense", basic, http.StatusBadRequest},
		{"token by GET", http.MethodGet, "/oauth/token", "", basic, http.StatusMethodNotAllowed},
		{"introspection", http.MethodPost, "/oauth/introspect", "token=" + at, basic, http.StatusOK},
		{"introspection error", http.MethodPost, "/oauth/introspect", "token=" + at, basicAuth("app", "wrong"), http.StatusUnauthorized},
		{"revocation", http.MethodPost, "/revoke", "token=unknown", basic, http.StatusOK},
		{"revocation error", http.MethodPost, "/revoke", "token=unknown", "", http.StatusUnauthorized},
		{"userinfo", http.MethodGet, "/userinfo", "", "Bearer " + at, http.StatusOK},
		{"userinfo error", http.MethodGet, "/userinfo", "", "Bearer garbage", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(p, tc.method, tc.path, formType, tc.body, "Authorization", tc.auth)
			if w.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d: %s", w.Code, tc.wantStatus, w.Body)
			}
			for name, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"} {
				if got := w.Header().Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestUserinfoTakesTokensOnlyWhereRFC6750Allows: the Authorization header
// and the form body of a POST (sections 2.1 and 2.2). A token in the URL
// (section 2.3 says not to: URLs end up in logs and history), in the body
// of a GET, or sent two ways at once is invalid_request, which section 3.1
// answers with 400 and the error in WWW-Authenticate.
func TestUserinfoTakesTokensOnlyWhereRFC6750Allows(t *testing.T) {
	p, db, secret := newTestProvider(t)
	at, _ := issue(t, p, db, secret)
	bearer := "Bearer " + at
	form := url.Values{"access_token": {at}}.Encode()
	for _, tc := range []struct {
		name, method, query, body, auth string
		wantStatus                      int
	}{
		{"header", http.MethodGet, "", "", bearer, http.StatusOK},
		{"POST form body", http.MethodPost, "", form, "", http.StatusOK},
		{"header on a POST", http.MethodPost, "", "", bearer, http.StatusOK},
		{"query", http.MethodGet, form, "", "", http.StatusBadRequest},
		{"query of a POST", http.MethodPost, form, "", "", http.StatusBadRequest},
		{"query and header", http.MethodGet, form, "", bearer, http.StatusBadRequest},
		{"GET form body", http.MethodGet, "", form, "", http.StatusBadRequest},
		{"POST form body and header", http.MethodPost, "", form, bearer, http.StatusBadRequest},
		{"PUT form body", http.MethodPut, "", form, "", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/userinfo"
			if tc.query != "" {
				path += "?" + tc.query
			}
			w := serve(p, tc.method, path, formType, tc.body, "Authorization", tc.auth)
			if w.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d: %s", w.Code, tc.wantStatus, w.Body)
			}
			if w.Code == http.StatusOK {
				return
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != "invalid_request" {
				t.Errorf("body = %s, want error invalid_request", w.Body)
			}
			if got, want := w.Header().Get("WWW-Authenticate"), `Bearer error="invalid_request"`; w.Code == http.StatusBadRequest && !strings.HasPrefix(got, want) {
				t.Errorf("WWW-Authenticate = %q, want it to start %q", got, want)
			}
			if strings.Contains(w.Body.String(), at) {
				t.Errorf("the refusal echoes the token: %s", w.Body)
			}
		})
	}
}

// TestUserinfoChallenges: a request with no access token, or a bad one,
// is answered 401 with the challenge RFC 6750 section 3 asks for: bare
// without a token, invalid_token with one, so that an app can tell
// "sign in" from "your token is no good".
func TestUserinfoChallenges(t *testing.T) {
	p, db, secret := newTestProvider(t)
	at, _ := issue(t, p, db, secret)
	for _, tc := range []struct {
		name, method, body, auth, want string
	}{
		{"no token", http.MethodGet, "", "", "Bearer"},
		{"a bad token in the header", http.MethodGet, "", "Bearer " + at + "x", `Bearer error="invalid_token"`},
		{"a bad token in the body", http.MethodPost, url.Values{"access_token": {"nonsense"}}.Encode(), "", `Bearer error="invalid_token"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(p, tc.method, "/userinfo", formType, tc.body, "Authorization", tc.auth)
			got := w.Header().Get("WWW-Authenticate")
			if w.Code != http.StatusUnauthorized || !strings.HasPrefix(got, tc.want) || tc.want == "Bearer" && got != "Bearer" {
				t.Errorf("status %d, WWW-Authenticate %q; want 401 with %q", w.Code, got, tc.want)
			}
		})
	}
	if w := serve(p, http.MethodGet, "/userinfo", formType, "", "Authorization", "Bearer "+at); w.Code != http.StatusOK || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("a good token: status %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// TestDiscoveryClientAuthentication: discovery advertises for each
// endpoint the client authentication methods that endpoint accepts, each
// of which is tried here, and no signing algorithms for client assertions,
// which Gatehouse refuses.
func TestDiscoveryClientAuthentication(t *testing.T) {
	p, db, secret := newTestProvider(t)
	if err := db.CreateClient(context.Background(), storage.Client{
		ID: "spa", Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"},
		GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, MinimumACR: "pwd",
	}); err != nil {
		t.Fatal(err)
	}
	w := serve(p, http.MethodGet, "/.well-known/openid-configuration", "", "")
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("discovery: status %d, body %s", w.Code, w.Body)
	}
	for key := range doc {
		if strings.HasSuffix(key, "_auth_signing_alg_values_supported") {
			t.Errorf("discovery advertises %s = %v, but client assertions are refused", key, doc[key])
		}
	}

	// Each request authenticates and then fails or succeeds on its token:
	// invalid_client would mean the method was refused.
	endpoints := []struct {
		key, path, body string
		wantStatus      int
		want            []string
	}{
		{"token_endpoint_auth_methods_supported", "/oauth/token", "grant_type=refresh_token&refresh_token=unknown", http.StatusBadRequest,
			[]string{"none", "client_secret_basic", "client_secret_post"}},
		{"introspection_endpoint_auth_methods_supported", "/oauth/introspect", "token=unknown", http.StatusOK,
			[]string{"client_secret_basic", "client_secret_post"}},
		{"revocation_endpoint_auth_methods_supported", "/revoke", "token=unknown", http.StatusOK,
			[]string{"none", "client_secret_basic", "client_secret_post"}},
	}
	for _, ep := range endpoints {
		var got []string
		for _, m := range doc[ep.key].([]any) {
			got = append(got, m.(string))
		}
		if diff := cmp.Diff(ep.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ep.key, diff)
		}
		for _, method := range got {
			body, auth := ep.body, ""
			switch method {
			case "none":
				body += "&client_id=spa"
			case "client_secret_basic":
				auth = basicAuth("app", secret)
			case "client_secret_post":
				body += "&" + url.Values{"client_id": {"app"}, "client_secret": {secret}}.Encode()
			default:
				t.Errorf("%s: %s is advertised, and not tried here", ep.key, method)
				continue
			}
			w := serve(p, http.MethodPost, ep.path, formType, body, "Authorization", auth)
			var e struct {
				Error string `json:"error"`
			}
			json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != ep.wantStatus || strings.HasSuffix(e.Error, "_client") {
				t.Errorf("%s with %s: status %d, body %s; want %d, the client authenticated", ep.path, method, w.Code, w.Body, ep.wantStatus)
			}
		}
	}
}

// TestIntrospectionWithClientSecretPost: a client may send its secret in
// the form (openid-client's default), as at the token endpoint; a wrong
// one is invalid_client.
func TestIntrospectionWithClientSecretPost(t *testing.T) {
	p, db, secret := newTestProvider(t)
	at, _ := issue(t, p, db, secret)
	for _, tc := range []struct {
		name, secret string
		wantStatus   int
		wantActive   bool
	}{
		{"right secret", secret, http.StatusOK, true},
		{"wrong secret", "wrong", http.StatusUnauthorized, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"client_id": {"app"}, "client_secret": {tc.secret}, "token": {at}}
			w := serve(p, http.MethodPost, "/oauth/introspect", formType, form.Encode())
			var in struct {
				Active bool   `json:"active"`
				Error  string `json:"error"`
			}
			json.Unmarshal(w.Body.Bytes(), &in)
			if w.Code != tc.wantStatus || in.Active != tc.wantActive {
				t.Errorf("status %d, body %s; want %d with active %v", w.Code, w.Body, tc.wantStatus, tc.wantActive)
			}
			if w.Code == http.StatusUnauthorized && in.Error != "invalid_client" {
				t.Errorf("error = %q, want invalid_client", in.Error)
			}
		})
	}
}

func TestOriginOf(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://app.example/cb", "https://app.example"},
		{"https://App.Example:443/cb?x=1", "https://app.example"},
		{"https://app.example:8443/cb", "https://app.example:8443"},
		{"https://app.example:80/cb", "https://app.example:80"},
		{"http://localhost:3000/callback", "http://localhost:3000"},
		{"http://127.0.0.1:80/", "http://127.0.0.1"},
		{"https://[::1]:443/cb", "https://[::1]"},
		{"com.example.app:/callback", ""},
		{"com.example.app://callback", ""},
		{"/relative", ""},
		{"", ""},
	} {
		if got := originOf(tc.url); got != tc.want {
			t.Errorf("originOf(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

// tokenRequests records what the token endpoint tells its observer.
type tokenRequests []string

func (o *tokenRequests) TokenRequest(grantType string, granted bool) {
	*o = append(*o, fmt.Sprintf("%s %t", grantType, granted))
}

// TestTokenRequestsObserved: every answer of the token endpoint is
// observed with its grant type, only the ones Gatehouse grants named.
func TestTokenRequestsObserved(t *testing.T) {
	p, db, secret := newTestProvider(t)
	obs := &tokenRequests{}
	p.store.cfg.Observer = obs
	rt := seedRefreshToken(t, db)
	for _, form := range []url.Values{
		{"grant_type": {"refresh_token"}, "refresh_token": {rt}},
		{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, // spent
		{"grant_type": {"client_credentials"}},                   // not app's grant
		{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x"}},
		{"grant_type": {"made-up"}},
		{},
	} {
		post(p, "/oauth/token", secret, form)
	}
	want := tokenRequests{"refresh_token true", "refresh_token false", "client_credentials false", "other false", "other false", "other false"}
	if diff := cmp.Diff(want, *obs); diff != "" {
		t.Errorf("observed token requests (-want +got):\n%s", diff)
	}
}

// TestRoute: each request's route is the pattern that serves it, never its
// path.
func TestRoute(t *testing.T) {
	p, _, _ := newTestProvider(t)
	for path, want := range map[string]string{
		"/oauth/token":                      "/oauth/token",
		"/authorize?client_id=app":          "/authorize",
		"/.well-known/openid-configuration": "/.well-known/openid-configuration",
		"/keys":                             "/keys",
		"/userinfo":                         "/userinfo",
		"/no/such/page/" + storage.NewID():  "/",
	} {
		if got := p.Route(httptest.NewRequest(http.MethodGet, "http://localhost:8080"+path, nil)); got != want {
			t.Errorf("Route(%s) = %q, want %q", path, got, want)
		}
	}
}
