package main

// End-to-end negative tests: what an attacker, a broken relying party or a
// confused user can send. The rule under test: bad input gets the error the
// OAuth or OIDC spec names (or a clear page where the spec forbids
// redirecting), never a 500, never Go error text, and nothing in storage is
// lost or half-written.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/storage"
)

const alicePassword = "correct horse battery"

// leakMarkers must never reach a client: panics, Go runtime and error text,
// storage internals.
var leakMarkers = []string{
	"goroutine", "panic", "runtime error", ".go:", "%!", "ErrorType=", "Parent=",
	"bbolt", "bucket", ": not found", "unknown client", "schema: ", "invalid URL escape",
	"invalid semicolon", "illegal base64", "unexpected end of JSON", "invalid character",
	"http: request body too large", "get auth request", "get refresh token", "get access token",
}

// checkSafe fails on a server error or a body that leaks internals.
func checkSafe(t *testing.T, what string, p page) {
	t.Helper()
	if p.status() >= 500 {
		t.Errorf("%s: status %d, want < 500:\n%.500s", what, p.status(), p.body)
	}
	for _, m := range leakMarkers {
		if strings.Contains(p.body, m) {
			t.Errorf("%s: body contains %q:\n%.500s", what, m, p.body)
		}
	}
}

// send makes one request with no cookies, following no redirects.
func (e *env) send(req *http.Request) page {
	e.t.Helper()
	b := &browser{e: e, client: &http.Client{
		Transport:     e.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	return b.do(req)
}

// request builds a request to the issuer; header is name, value pairs.
func (e *env) request(method, target, contentType, body string, header ...string) *http.Request {
	e.t.Helper()
	req, err := http.NewRequest(method, e.issuer+target, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

const formType = "application/x-www-form-urlencoded"

// stepper is the same browser (same cookies) following no redirects, to
// look at one hop of the journey at a time.
func (b *browser) stepper() *browser {
	c := *b.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{e: b.e, client: &c}
}

// json is the body as a JSON object, or nil.
func (p page) json() map[string]any {
	var m map[string]any
	json.Unmarshal([]byte(p.body), &m)
	return m
}

// wantOAuthError checks a JSON error response (RFC 6749 section 5.2).
func wantOAuthError(t *testing.T, what string, p page, status int, code string) {
	t.Helper()
	checkSafe(t, what, p)
	if got := p.json()["error"]; p.status() != status || got != code {
		t.Errorf("%s: status %d error %v, want %d %s:\n%.500s", what, p.status(), got, status, code, p.body)
	}
}

// wantRetrieveError checks an error the RP library got from the token endpoint.
func wantRetrieveError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Errorf("%s: err = %v, want %s", what, err, code)
		return
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Errorf("%s: status %d error %q, want %d %s: %s", what, re.Response.StatusCode, re.ErrorCode, status, code, re.Body)
	}
}

// wantNoRedirect checks a request the spec forbids answering at the
// redirect URI was answered here, with status.
func wantNoRedirect(t *testing.T, what string, p page, status int) {
	t.Helper()
	checkSafe(t, what, p)
	if p.status() != status || p.resp.Header.Get("Location") != "" {
		t.Errorf("%s: status %d location %q, want %d and no redirect:\n%.500s", what, p.status(), p.resp.Header.Get("Location"), status, p.body)
	}
	if ct := p.resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("%s: Content-Type %q, want a readable HTML page", what, ct)
	}
}

// authError is the error an authorization response carries, in the query
// or, for response types answered in the fragment, the fragment.
func authError(loc *url.URL) url.Values {
	if q := loc.Query(); q.Get("error") != "" {
		return q
	}
	f, _ := url.ParseQuery(loc.EscapedFragment())
	return f
}

// authorizeURL is a's URL with its parameters edited.
func (e *env) authorizeURL(a authorization, edit func(q url.Values)) string {
	u, _ := url.Parse(a.url)
	q := u.Query()
	edit(q)
	return e.issuer + "/authorize?" + q.Encode()
}

func TestAuthorizeRejects(t *testing.T) {
	e := newEnv(t)
	app, spa := e.addRP("app", false), e.addRP("spa", true)
	b := e.newBrowser()
	registered := app.client.RedirectURIs[0]

	// Without a trusted client and redirect URI there is nowhere safe to
	// send an error: Gatehouse answers itself.
	pages := []struct {
		name string
		edit func(q url.Values)
	}{
		{"missing client_id", func(q url.Values) { q.Del("client_id") }},
		{"unknown client_id", func(q url.Values) { q.Set("client_id", "nobody") }},
		{"empty client_id", func(q url.Values) { q.Set("client_id", "") }},
		{"missing redirect_uri", func(q url.Values) { q.Del("redirect_uri") }},
		{"redirect_uri with a trailing slash", func(q url.Values) { q.Set("redirect_uri", registered+"/") }},
		{"redirect_uri in another case", func(q url.Values) { q.Set("redirect_uri", "https://rp.example/App/callback") }},
		{"redirect_uri with an extra query", func(q url.Values) { q.Set("redirect_uri", registered+"?next=/admin") }},
		{"redirect_uri with a fragment", func(q url.Values) { q.Set("redirect_uri", registered+"#x") }},
		{"redirect_uri a prefix of the registered one", func(q url.Values) { q.Set("redirect_uri", "https://rp.example/app/call") }},
		{"redirect_uri extending the registered one", func(q url.Values) { q.Set("redirect_uri", registered+"/evil") }},
		{"redirect_uri over http", func(q url.Values) { q.Set("redirect_uri", "http://rp.example/app/callback") }},
		{"redirect_uri on another host", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/app/callback") }},
		{"redirect_uri with userinfo", func(q url.Values) { q.Set("redirect_uri", "https://rp.example@evil.example/app/callback") }},
		{"redirect_uri of another client", func(q url.Values) { q.Set("redirect_uri", spa.client.RedirectURIs[0]) }},
		{"unregistered redirect_uri with a bad response_type", func(q url.Values) {
			q.Set("redirect_uri", "https://evil.example/cb")
			q.Set("response_type", "token")
		}},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			wantNoRedirect(t, tc.name, b.get(e.authorizeURL(app.authorize(), tc.edit)), http.StatusBadRequest)
		})
	}

	// With a trusted client and redirect URI, errors go back to the RP,
	// with its state.
	redirects := []struct {
		name string
		rp   *relyingParty
		edit func(q url.Values)
		want string
	}{
		{"missing response_type", app, func(q url.Values) { q.Del("response_type") }, "invalid_request"},
		{"response_type=token", app, func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"response_type=id_token", app, func(q url.Values) { q.Set("response_type", "id_token") }, "unsupported_response_type"},
		{"response_type=id_token token", app, func(q url.Values) { q.Set("response_type", "id_token token") }, "unsupported_response_type"},
		{"response_type=code id_token", app, func(q url.Values) { q.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"response_type=junk", app, func(q url.Values) { q.Set("response_type", "junk") }, "unsupported_response_type"},
		{"missing scope", app, func(q url.Values) { q.Del("scope") }, "invalid_request"},
		{"public client without code_challenge", spa, func(q url.Values) {
			q.Del("code_challenge")
			q.Del("code_challenge_method")
		}, "invalid_request"},
		{"code_challenge_method=plain", app, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"public client with plain", spa, func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"code_challenge without a method", app, func(q url.Values) { q.Del("code_challenge_method") }, "invalid_request"},
		{"unknown code_challenge_method", app, func(q url.Values) { q.Set("code_challenge_method", "S512") }, "invalid_request"},
		{"prompt=none with login", app, func(q url.Values) { q.Set("prompt", "none login") }, "invalid_request"},
		{"response_mode=fragment", app, func(q url.Values) { q.Set("response_mode", "fragment") }, "invalid_request"},
		{"request object", app, func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }, "request_not_supported"},
	}
	for _, tc := range redirects {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.rp.authorize()
			p := b.get(e.authorizeURL(a, tc.edit))
			checkSafe(t, tc.name, p)
			loc := p.location()
			q := authError(loc)
			if loc.Host != e.rpHost || q.Get("error") != tc.want || q.Get("state") != a.state {
				t.Errorf("status %d redirect %q: error %q state %q, want a redirect to the RP with %s and state %q:\n%.500s",
					p.status(), loc, q.Get("error"), q.Get("state"), tc.want, a.state, p.body)
			}
			if loc.Query().Get("code") != "" {
				t.Errorf("a code was issued: %s", loc)
			}
		})
	}

	// Queries Go cannot parse, or op cannot decode.
	garbage := []string{
		"%zz",
		"client_id=app&redirect_uri=%zz",
		"client_id=app;redirect_uri=" + url.QueryEscape(registered),
		"client_id=%ff%fe&redirect_uri=" + url.QueryEscape(registered),
		"client_id=app&redirect_uri=" + url.QueryEscape(registered) + "&response_type=code&scope=openid&max_age=soon",
		"client_id=app&redirect_uri=" + url.QueryEscape(registered) + "&response_type=code&scope=openid&max_age=-1",
		"client_id=app&redirect_uri=" + url.QueryEscape(registered) + "&response_type=code&scope=openid&ui_locales=%ff",
		"client_id=app&redirect_uri=" + url.QueryEscape(registered) + "&response_type=code&scope=openid&id_token_hint=garbage",
		"client_id=app&redirect_uri=" + url.QueryEscape(registered) + "&response_type=code&scope=openid&display=%00",
		strings.Repeat("x", 64<<10),
	}
	for _, raw := range garbage {
		p := b.get(e.issuer + "/authorize?" + raw)
		checkSafe(t, "/authorize?"+raw, p)
		if loc := p.location(); loc.Host != "" && loc.Host != e.rpHost {
			t.Errorf("/authorize?%.80s: redirect to %s", raw, loc)
		}
		if p.location().Query().Get("code") != "" {
			t.Errorf("/authorize?%.80s: a code was issued", raw)
		}
	}
}

// newAliceEnv is an env with the user alice and the confidential client app.
func newAliceEnv(t *testing.T) (*env, *relyingParty) {
	t.Helper()
	e := newEnv(t)
	e.addUser("alice", alicePassword)
	return e, e.addRP("app", false)
}

// signedIn is an env with alice signed in at app in b, and the tokens of
// that first sign-in.
type signedIn struct {
	*env
	app, other *relyingParty
	b          *browser
	tok        *tokens
}

func newSignedIn(t *testing.T) signedIn {
	t.Helper()
	e, app := newAliceEnv(t)
	s := signedIn{env: e, app: app, other: e.addRP("other", false), b: e.newBrowser()}
	a := s.app.authorize()
	tok, err := s.app.exchange(a, s.b.signIn(s.app, a, "alice", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	s.tok = tok
	return s
}

// accountEnd is a way a user's account ends after sign-in.
type accountEnd struct {
	name   string
	change func(userID string) error
}

func (e *env) accountEnds() []accountEnd {
	ctx := context.Background()
	return []accountEnd{
		{"disabled", func(id string) error {
			_, err := e.store.UpdateUser(ctx, id, func(u storage.User) (storage.User, error) {
				u.Disabled = true
				return u, nil
			})
			return err
		}},
		{"deleted", func(id string) error { return e.store.DeleteUser(ctx, id) }},
	}
}

// refreshStillWorks checks the first sign-in's refresh token survived the
// attempts against it, and keeps the rotated one.
func (s signedIn) refreshStillWorks(t *testing.T) {
	t.Helper()
	next, err := s.app.refresh(s.tok.RefreshToken)
	if err != nil {
		t.Fatalf("the owner's refresh after the attempts: %v", err)
	}
	s.tok.RefreshToken = next.RefreshToken
}

// code gets a new code for r by single sign-on.
func (s signedIn) code(r *relyingParty) (authorization, string) {
	s.t.Helper()
	a := r.authorize()
	return a, s.b.codeFrom(s.b.get(a.url), a)
}

// token posts form to the token endpoint with basic auth when id is set.
func (e *env) token(form url.Values, id, secret string) page {
	e.t.Helper()
	req := e.request(http.MethodPost, "/oauth/token", formType, form.Encode())
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	return e.send(req)
}

func TestTokenEndpointRejects(t *testing.T) {
	s := newSignedIn(t)
	e, app, other := s.env, s.app, s.other

	t.Run("client authentication", func(t *testing.T) {
		a, code := s.code(app)
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.oauth.RedirectURL}, "code_verifier": {a.verifier}}
		wantOAuthError(t, "unknown client", e.token(form, "nobody", "secret"), http.StatusUnauthorized, "invalid_client")

		a, code = s.code(app)
		form.Set("code", code)
		form.Set("code_verifier", a.verifier)
		wantOAuthError(t, "wrong secret", e.token(form, "app", "wrong"), http.StatusUnauthorized, "invalid_client")

		a, code = s.code(app)
		post := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.oauth.RedirectURL}, "code_verifier": {a.verifier},
			"client_id": {"app"}, "client_secret": {"wrong"}}
		wantOAuthError(t, "wrong client_secret in the form", e.token(post, "", ""), http.StatusUnauthorized, "invalid_client")

		a, code = s.code(app)
		form.Set("code", code)
		form.Set("code_verifier", a.verifier)
		wantOAuthError(t, "no client authentication", e.token(form, "", ""), http.StatusUnauthorized, "invalid_client")

		refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {s.tok.RefreshToken}}
		wantOAuthError(t, "refresh by an unknown client", e.token(refresh, "nobody", "secret"), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "refresh with a wrong secret", e.token(refresh, "app", "wrong"), http.StatusUnauthorized, "invalid_client")
		wantOAuthError(t, "refresh without client authentication", e.token(refresh, "", ""), http.StatusUnauthorized, "invalid_client")
		refresh.Set("client_id", "app")
		wantOAuthError(t, "refresh with only a client_id", e.token(refresh, "", ""), http.StatusUnauthorized, "invalid_client")
		refresh.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		refresh.Set("client_assertion", "a.b.c")
		wantOAuthError(t, "refresh with a client assertion", e.token(refresh, "", ""), http.StatusUnauthorized, "invalid_client")

		cc := clientcredentials.Config{ClientID: "nobody", ClientSecret: "x", TokenURL: e.issuer + "/oauth/token"}
		_, err := cc.Token(app.ctx())
		wantRetrieveError(t, "client_credentials by an unknown client", err, http.StatusUnauthorized, "invalid_client")

		s.refreshStillWorks(t)
	})

	t.Run("grant types", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			grant string
			want  string
		}{
			{"missing grant_type", "", "invalid_request"},
			{"password grant", "password", "unsupported_grant_type"},
			{"implicit", "implicit", "unsupported_grant_type"},
			{"device code", "urn:ietf:params:oauth:grant-type:device_code", "unsupported_grant_type"},
			{"token exchange", "urn:ietf:params:oauth:grant-type:token-exchange", "unsupported_grant_type"},
			{"JWT bearer", "urn:ietf:params:oauth:grant-type:jwt-bearer", "unsupported_grant_type"},
			{"junk", "\x00<script>", "unsupported_grant_type"},
		} {
			form := url.Values{"assertion": {"eyJ.eyJ.x"}, "scope": {"openid"}}
			if tc.grant != "" {
				form.Set("grant_type", tc.grant)
			}
			wantOAuthError(t, tc.name, e.token(form, "app", app.secret), http.StatusBadRequest, tc.want)
		}
		// What is refused is not advertised.
		var doc struct {
			GrantTypes []string `json:"grant_types_supported"`
		}
		if err := app.provider.Claims(&doc); err != nil {
			t.Fatal(err)
		}
		if want := []string{"authorization_code", "refresh_token", "client_credentials"}; !slices.Equal(doc.GrantTypes, want) {
			t.Errorf("grant_types_supported = %v, want %v", doc.GrantTypes, want)
		}
		// A client may only use the grants registered for it.
		cc := clientcredentials.Config{ClientID: "app", ClientSecret: app.secret, TokenURL: e.issuer + "/oauth/token"}
		_, err := cc.Token(app.ctx())
		wantRetrieveError(t, "client_credentials without the grant", err, http.StatusBadRequest, "unauthorized_client")
	})

	t.Run("only POST", func(t *testing.T) {
		// RFC 6749 section 3.2, RFC 7662 section 2.1, RFC 7009 section 2.1:
		// never from a query, where secrets and tokens reach logs.
		svc := e.addRP("svc", false, "client_credentials")
		for _, path := range []string{"/oauth/token", "/oauth/introspect", "/revoke"} {
			for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
				q := url.Values{"grant_type": {"client_credentials"}, "token": {s.tok.AccessToken}}
				req := e.request(m, path+"?"+q.Encode(), formType, q.Encode())
				req.SetBasicAuth("svc", svc.secret)
				p := e.send(req)
				wantOAuthError(t, m+" "+path, p, http.StatusMethodNotAllowed, "invalid_request")
				if p.resp.Header.Get("Allow") != http.MethodPost {
					t.Errorf("%s %s: Allow = %q, want POST", m, path, p.resp.Header.Get("Allow"))
				}
			}
		}
		// A browser-based client's CORS preflight, from the origin of a
		// registered redirect URI, still passes (see TestCORS).
		p := e.send(e.request(http.MethodOptions, "/oauth/token", "", "",
			"Origin", "https://"+e.rpHost, "Access-Control-Request-Method", http.MethodPost))
		if p.status() >= 300 || p.resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("CORS preflight: status %d, Access-Control-Allow-Origin %q", p.status(), p.resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if in := app.introspect(s.tok.AccessToken); in["active"] != true {
			t.Errorf("a non-POST revocation took effect: %v", in)
		}
	})

	t.Run("code reuse revokes the first tokens", func(t *testing.T) {
		a, code := s.code(app)
		first, err := app.exchange(a, code)
		if err != nil {
			t.Fatal(err)
		}
		_, err = app.exchange(a, code)
		wantRetrieveError(t, "second exchange", err, http.StatusBadRequest, "invalid_grant")
		if in := app.introspect(first.AccessToken); in["active"] != false {
			t.Errorf("access token of the first exchange: introspection %v, want inactive", in)
		}
		_, err = app.refresh(first.RefreshToken)
		wantRetrieveError(t, "refresh token of the first exchange", err, http.StatusBadRequest, "invalid_grant")
		// Other sign-ins are untouched.
		if in := app.introspect(s.tok.AccessToken); in["active"] != true {
			t.Errorf("an unrelated access token was revoked: %v", in)
		}
	})

	t.Run("bad code exchanges", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func(a authorization, code string) error
			want string
		}{
			{"wrong code_verifier", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
				return err
			}, "invalid_grant"},
			{"missing code_verifier", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), code)
				return err
			}, "invalid_request"},
			{"another redirect_uri", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), code, oauth2.VerifierOption(a.verifier), oauth2.SetAuthURLParam("redirect_uri", app.oauth.RedirectURL+"/"))
				return err
			}, "invalid_grant"},
			{"missing redirect_uri", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), code, oauth2.VerifierOption(a.verifier), oauth2.SetAuthURLParam("redirect_uri", ""))
				return err
			}, "invalid_grant"},
			{"redeemed by another client", func(a authorization, code string) error {
				_, err := other.oauth.Exchange(other.ctx(), code, oauth2.VerifierOption(a.verifier), oauth2.SetAuthURLParam("redirect_uri", app.oauth.RedirectURL))
				return err
			}, "invalid_grant"},
			{"expired", func(a authorization, code string) error {
				e.clock.Advance(e.server.cfg.Tokens.CodeLifetime + time.Second)
				_, err := app.oauth.Exchange(app.ctx(), code, oauth2.VerifierOption(a.verifier))
				return err
			}, "invalid_grant"},
			{"garbage", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), "garbage\x00\xff", oauth2.VerifierOption(a.verifier))
				return err
			}, "invalid_grant"},
			{"a refresh token as code", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), s.tok.RefreshToken, oauth2.VerifierOption(a.verifier))
				return err
			}, "invalid_grant"},
			{"an access token as code", func(a authorization, code string) error {
				_, err := app.oauth.Exchange(app.ctx(), s.tok.AccessToken, oauth2.VerifierOption(a.verifier))
				return err
			}, "invalid_grant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a, code := s.code(app)
				wantRetrieveError(t, tc.name, tc.do(a, code), http.StatusBadRequest, tc.want)
			})
		}
		wantOAuthError(t, "missing code", e.token(url.Values{"grant_type": {"authorization_code"}}, "app", app.secret), http.StatusBadRequest, "invalid_request")
	})

	t.Run("user disabled or deleted before the exchange", func(t *testing.T) {
		for _, tc := range e.accountEnds() {
			t.Run(tc.name, func(t *testing.T) {
				u := e.addUser("carol-"+tc.name, "carols password 1")
				b := e.newBrowser()
				a := app.authorize()
				code := b.signIn(app, a, u.Username, "carols password 1")
				if err := tc.change(u.ID); err != nil {
					t.Fatal(err)
				}
				_, err := app.oauth.Exchange(app.ctx(), code, oauth2.VerifierOption(a.verifier))
				wantRetrieveError(t, tc.name+" user's code", err, http.StatusBadRequest, "invalid_grant")
			})
		}
	})

	t.Run("refresh token of another client", func(t *testing.T) {
		_, err := other.refresh(s.tok.RefreshToken)
		wantRetrieveError(t, "refresh by other", err, http.StatusBadRequest, "invalid_grant")
		for _, rt := range []string{"", "garbage", s.tok.AccessToken, strings.Repeat("r", 4096)} {
			p := e.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, "app", app.secret)
			want := "invalid_grant"
			if rt == "" {
				want = "invalid_request"
			}
			wantOAuthError(t, "refresh_token="+rt[:min(len(rt), 10)], p, http.StatusBadRequest, want)
		}
		s.refreshStillWorks(t)
	})

	t.Run("oversized body", func(t *testing.T) {
		big := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {strings.Repeat("a", 70<<10)}}.Encode()
		p := e.send(e.request(http.MethodPost, "/oauth/token", formType, big))
		checkSafe(t, "oversized body", p)
		if p.status() < 400 {
			t.Errorf("oversized body: status %d, want 4xx", p.status())
		}
		// Without a Content-Length (sent chunked) the limit applies while reading.
		req := e.request(http.MethodPost, "/oauth/token", formType, "")
		req.Body, req.ContentLength = io.NopCloser(io.MultiReader(strings.NewReader(big))), -1
		p = e.send(req)
		checkSafe(t, "oversized chunked body", p)
		if p.status() < 400 {
			t.Errorf("oversized chunked body: status %d, want 4xx", p.status())
		}
	})
}

var errorSummary = regexp.MustCompile(`(?s)<div class="error-summary"[^>]*>\s*<p>(.*?)</p>`)

// loginError is the message the sign-in page shows, or "".
func (p page) loginError() string {
	m := errorSummary.FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return htmlUnescape(m[1])
}

// startSignIn starts a sign-in at r in b and returns the password page.
func (e *env) startSignIn(b *browser, r *relyingParty, extra ...oauth2.AuthCodeOption) (authorization, page) {
	e.t.Helper()
	a := r.authorize(extra...)
	p := b.get(a.url)
	if !strings.Contains(p.body, `name="password"`) {
		e.t.Fatalf("expected the password page, got status %d:\n%s", p.status(), p.body)
	}
	return a, p
}

// step is the stored journey step of auth request id.
func (e *env) step(id string) string {
	e.t.Helper()
	a, err := e.store.GetAuthRequest(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(cmp.Or(login.Step(a.Step), login.StepPassword)) // a new request is at the password
}

// wantNoCode checks p sent nothing to the RP.
func (e *env) wantNoCode(t *testing.T, what string, p page) {
	t.Helper()
	checkSafe(t, what, p)
	if loc := p.location(); loc.Host == e.rpHost || loc.Query().Get("code") != "" {
		t.Errorf("%s: redirected to %s, want no code", what, loc)
	}
}

func TestLoginRejects(t *testing.T) {
	e, app := newAliceEnv(t)

	t.Run("wrong password and unknown user look the same", func(t *testing.T) {
		b := e.newBrowser()
		_, p := e.startSignIn(b, app)
		wrong := b.submitPassword(p, "alice", "wrong password")
		_, p = e.startSignIn(b, app)
		unknown := b.submitPassword(p, "mallory", "wrong password")
		if wrong.status() != unknown.status() || wrong.loginError() != unknown.loginError() {
			t.Errorf("wrong password: %d %q; unknown user: %d %q; want the same", wrong.status(), wrong.loginError(), unknown.status(), unknown.loginError())
		}
		if wrong.status() != http.StatusUnauthorized || wrong.loginError() == "" {
			t.Errorf("wrong password: status %d message %q, want 401 and a message", wrong.status(), wrong.loginError())
		}
	})

	t.Run("reflected input is escaped", func(t *testing.T) {
		const xss = `"><script>alert(1)</script>`
		b := e.newBrowser()
		a := app.authorize(oauth2.SetAuthURLParam("login_hint", xss))
		p := b.get(a.url)
		p = b.submitPassword(p, xss, "wrong password")
		for _, page := range []page{b.get(a.url), p} {
			if strings.Contains(page.body, "<script>") {
				t.Errorf("input reflected unescaped:\n%s", page.body)
			}
		}
	})

	t.Run("another browser", func(t *testing.T) {
		b, thief := e.newBrowser(), e.newBrowser()
		_, p := e.startSignIn(b, app)
		loginURL := p.resp.Request.URL.String()
		got := thief.get(loginURL)
		wantNoRedirect(t, "login page in another browser", got, http.StatusForbidden)
		if !strings.Contains(got.body, "another browser") {
			t.Errorf("login page in another browser: body lacks %q:\n%s", "another browser", got.body)
		}
		f := p.form()
		f.Set("username", "alice")
		f.Set("password", alicePassword)
		wantNoRedirect(t, "password posted from another browser", thief.post("/login/password", f), http.StatusForbidden)
	})

	t.Run("callback", func(t *testing.T) {
		b, thief := e.newBrowser(), e.newBrowser()
		a, p := e.startSignIn(b, app)
		id := p.form().Get("id")
		callback := e.issuer + "/authorize/callback?id=" + url.QueryEscape(id)

		// Before the password: back to the sign-in page.
		early := b.stepper().get(callback)
		e.wantNoCode(t, "callback before the password", early)
		if loc := early.resp.Header.Get("Location"); !strings.HasPrefix(loc, "/login?id=") {
			t.Errorf("callback before the password: location %q, want the sign-in page", loc)
		}
		e.wantNoCode(t, "POST callback before the password", b.stepper().do(e.request(http.MethodPost, "/authorize/callback?id="+url.QueryEscape(id), formType, "")))

		// Password accepted; stop before the callback.
		f := p.form()
		f.Set("username", "alice")
		f.Set("password", alicePassword)
		step := b.stepper()
		step.post("/login/password", f)
		step.get(e.issuer + "/login?id=" + url.QueryEscape(id))
		if got := e.step(id); got != string(login.StepDone) {
			t.Fatalf("step = %q, want %q", got, string(login.StepDone))
		}

		got := thief.get(callback)
		wantNoRedirect(t, "callback in another browser", got, http.StatusForbidden)
		e.wantNoCode(t, "POST callback in another browser", thief.stepper().do(e.request(http.MethodPost, "/authorize/callback?id="+url.QueryEscape(id), formType, "id="+url.QueryEscape(id))))

		code := b.codeFrom(b.get(callback), a)
		if code == "" {
			t.Fatal("no code in the starting browser")
		}
		e.wantNoCode(t, "callback reloaded", b.get(callback))
		e.wantNoCode(t, "callback reloaded by POST", b.stepper().do(e.request(http.MethodPost, "/authorize/callback?id="+url.QueryEscape(id), formType, "")))
		if _, err := app.exchange(a, code); err != nil {
			t.Errorf("the one code: %v", err)
		}
	})

	t.Run("forged form posts", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			path   string
			edit   func(f url.Values)
			header []string
			want   int
		}{
			{"no csrf token", "/login/password", func(f url.Values) { f.Del("csrf") }, nil, http.StatusForbidden},
			{"wrong csrf token", "/login/password", func(f url.Values) { f.Set("csrf", "AAAA") }, nil, http.StatusForbidden},
			{"cross-site", "/login/password", nil, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
			{"foreign origin", "/login/password", nil, []string{"Origin", "https://evil.example"}, http.StatusForbidden},
			{"no auth request", "/login/password", func(f url.Values) { f.Del("id") }, nil, http.StatusBadRequest},
			{"unknown auth request", "/login/password", func(f url.Values) { f.Set("id", "nope") }, nil, http.StatusBadRequest},
			{"change-password on the password step", "/login/change-password", func(f url.Values) {
				f.Set("new_password", "an attacker's password")
				f.Set("confirm_password", "an attacker's password")
			}, nil, http.StatusSeeOther},
			{"change-password without csrf", "/login/change-password", func(f url.Values) {
				f.Del("csrf")
				f.Set("new_password", "an attacker's password")
				f.Set("confirm_password", "an attacker's password")
			}, nil, http.StatusForbidden},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := e.newBrowser()
				_, p := e.startSignIn(b, app)
				f := p.form()
				id := f.Get("id")
				f.Set("username", "alice")
				f.Set("password", alicePassword)
				if tc.edit != nil {
					tc.edit(f)
				}
				req := e.request(http.MethodPost, tc.path, formType, f.Encode(), tc.header...)
				got := b.stepper().do(req)
				checkSafe(t, tc.name, got)
				if got.status() != tc.want {
					t.Errorf("status %d, want %d:\n%.500s", got.status(), tc.want, got.body)
				}
				if tc.want == http.StatusForbidden && !strings.Contains(got.body, "This form has expired") {
					t.Errorf("refusal is not the form-expired page:\n%.500s", got.body)
				}
				if step := e.step(id); step != string(login.StepPassword) {
					t.Errorf("step = %q, want it unchanged (%q)", step, string(login.StepPassword))
				}
				for _, c := range got.resp.Cookies() {
					if strings.Contains(c.Name, "session") && c.Value != "" {
						t.Errorf("a session cookie was set: %s", c.Name)
					}
				}
			})
		}
		// Alice's password is what it was.
		b := e.newBrowser()
		a := app.authorize()
		if _, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword)); err != nil {
			t.Errorf("sign-in with the original password: %v", err)
		}
	})

	t.Run("oversized form", func(t *testing.T) {
		b := e.newBrowser()
		_, p := e.startSignIn(b, app)
		f := p.form()
		f.Set("username", "alice")
		f.Set("password", strings.Repeat("p", 20<<10))
		got := b.post("/login/password", f)
		wantNoRedirect(t, "20 KiB form", got, http.StatusBadRequest)
		f.Set("password", strings.Repeat("p", 70<<10))
		got = b.post("/login/password", f)
		checkSafe(t, "70 KiB form", got)
		if got.status() < 400 {
			t.Errorf("70 KiB form: status %d, want 4xx", got.status())
		}
		f.Set("password", strings.Repeat("p", 8<<10))
		got = b.post("/login/password", f)
		checkSafe(t, "8 KiB password", got)
		if got.status() != http.StatusUnprocessableEntity && got.status() != http.StatusUnauthorized {
			t.Errorf("8 KiB password: status %d, want 401 or 422", got.status())
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		u := e.addUser("dave", "daves password 1")
		if _, err := e.store.UpdateUser(context.Background(), u.ID, func(u storage.User) (storage.User, error) {
			u.Disabled = true
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
		b := e.newBrowser()
		_, p := e.startSignIn(b, app)
		id := p.form().Get("id")
		got := b.submitPassword(p, "dave", "daves password 1")
		e.wantNoCode(t, "disabled user", got)
		if got.status() != http.StatusForbidden || !strings.Contains(got.loginError(), "disabled") {
			t.Errorf("disabled user: status %d message %q, want 403 and disabled", got.status(), got.loginError())
		}
		if step := e.step(id); step != string(login.StepPassword) {
			t.Errorf("step = %q, want %q", step, string(login.StepPassword))
		}
		e.wantNoCode(t, "callback for a disabled user", b.get(e.issuer+"/authorize/callback?id="+url.QueryEscape(id)))
	})
}

func TestLoginThrottle(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	a, p := e.startSignIn(b, app)
	for i := 1; i <= 6; i++ {
		p = b.submitPassword(p, "alice", "wrong password")
		checkSafe(t, "wrong password", p)
		if p.status() != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: status %d, want 401", i, p.status())
		}
	}
	for _, pw := range []string{"wrong password", alicePassword} {
		p = b.submitPassword(p, "alice", pw)
		if p.status() != http.StatusTooManyRequests || !strings.Contains(p.loginError(), "Too many failed attempts") {
			t.Fatalf("locked account, password %q: status %d message %q, want 429 Too many failed attempts", pw, p.status(), p.loginError())
		}
	}
	// The lock is the account's, whatever name it is tried with.
	for _, name := range []string{"ALICE", " alice ", "alice@example.org", "Alice@Example.org"} {
		p = b.submitPassword(p, name, alicePassword)
		if p.status() != http.StatusTooManyRequests {
			t.Fatalf("locked account as %q: status %d message %q, want 429", name, p.status(), p.loginError())
		}
	}
	// Another account from the same address is not locked.
	e.addUser("bob", "bobs password 1")
	b2 := e.newBrowser()
	a2, p2 := e.startSignIn(b2, app)
	if _, err := app.exchange(a2, b2.codeFrom(b2.submitPassword(p2, "bob", "bobs password 1"), a2)); err != nil {
		t.Errorf("bob while alice is locked: %v", err)
	}

	e.clock.Advance(login.DefaultAccountRule.MaxDelay + time.Second)
	if _, err := app.exchange(a, b.codeFrom(b.submitPassword(p, "alice", alicePassword), a)); err != nil {
		t.Errorf("after the lock: %v", err)
	}
}

// TestLoginThrottleAliases: an account has one failure budget, whether it
// is tried by username or email; and an unknown name is throttled like a
// real one, so the lock tells nothing.
func TestLoginThrottleAliases(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	_, p := e.startSignIn(b, app)
	names := []string{"alice", "alice@example.org"}
	for i := range 6 {
		p = b.submitPassword(p, names[i%2], "wrong password")
	}
	if p = b.submitPassword(p, "alice", alicePassword); p.status() != http.StatusTooManyRequests {
		t.Fatalf("after 6 failures split between username and email: status %d, want 429", p.status())
	}
	for range 6 {
		p = b.submitPassword(p, "mallory", "wrong password")
	}
	if p = b.submitPassword(p, "mallory", "wrong password"); p.status() != http.StatusTooManyRequests {
		t.Errorf("unknown user after 6 failures: status %d, want 429 like a real one", p.status())
	}
}

func TestLoginExpired(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	_, p := e.startSignIn(b, app)
	id := p.form().Get("id")
	e.clock.Advance(e.server.cfg.Tokens.AuthRequestLifetime + time.Minute)

	got := b.get(p.resp.Request.URL.String())
	wantNoRedirect(t, "expired sign-in page", got, http.StatusBadRequest)
	if !strings.Contains(got.body, "expired") {
		t.Errorf("expired sign-in page lacks %q:\n%s", "expired", got.body)
	}
	got = b.submitPassword(p, "alice", alicePassword)
	wantNoRedirect(t, "password for an expired request", got, http.StatusBadRequest)
	e.wantNoCode(t, "callback for an expired request", b.get(e.issuer+"/authorize/callback?id="+url.QueryEscape(id)))
}

func TestResourceEndpointsReject(t *testing.T) {
	s := newSignedIn(t)
	e, app, other := s.env, s.app, s.other
	e.addRP("spa", true)

	t.Run("userinfo", func(t *testing.T) {
		for _, tc := range []struct {
			name, method, auth, body string
		}{
			{"no token", http.MethodGet, "", ""},
			{"garbage bearer", http.MethodGet, "Bearer garbage", ""},
			{"empty bearer", http.MethodGet, "Bearer ", ""},
			{"JWT-shaped bearer", http.MethodGet, "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", ""},
			{"basic auth", http.MethodGet, "Basic YXBwOnNlY3JldA==", ""},
			{"invalid UTF-8", http.MethodGet, "Bearer \xff\xfe", ""},
			{"refresh token as bearer", http.MethodGet, "Bearer " + s.tok.RefreshToken, ""},
			{"ID token as bearer", http.MethodGet, "Bearer " + s.tok.raw, ""},
			{"garbage form token", http.MethodPost, "", "access_token=garbage"},
			{"broken form", http.MethodPost, "", "access_token=%zz"},
		} {
			p := e.send(e.request(tc.method, "/userinfo", formType, tc.body, "Authorization", tc.auth))
			checkSafe(t, tc.name, p)
			if p.status() != http.StatusUnauthorized && p.status() != http.StatusForbidden {
				t.Errorf("%s: status %d, want 401:\n%s", tc.name, p.status(), p.body)
			}
		}
	})

	t.Run("tokens of a disabled or deleted user", func(t *testing.T) {
		for _, tc := range e.accountEnds() {
			t.Run(tc.name, func(t *testing.T) {
				u := e.addUser("erin-"+tc.name, "erins password 1")
				a := app.authorize()
				tok, err := app.exchange(a, e.newBrowser().signIn(app, a, u.Username, "erins password 1"))
				if err != nil {
					t.Fatal(err)
				}
				if err := tc.change(u.ID); err != nil {
					t.Fatal(err)
				}
				if in := app.introspect(tok.AccessToken); in["active"] != false {
					t.Errorf("introspection: %v, want inactive", in)
				}
				p := e.send(e.request(http.MethodGet, "/userinfo", "", "", "Authorization", "Bearer "+tok.AccessToken))
				checkSafe(t, "userinfo", p)
				if p.status() != http.StatusUnauthorized && p.status() != http.StatusForbidden {
					t.Errorf("userinfo: status %d, want 401 or 403:\n%s", p.status(), p.body)
				}
				_, err = app.refresh(tok.RefreshToken)
				wantRetrieveError(t, "refresh", err, http.StatusBadRequest, "invalid_grant")
			})
		}
	})

	t.Run("introspection", func(t *testing.T) {
		for _, tc := range []struct {
			name, id, secret, body string
			want                   int
		}{
			{"no client authentication", "", "", "token=" + s.tok.AccessToken, http.StatusUnauthorized},
			{"client_id only", "", "", "client_id=app&token=" + s.tok.AccessToken, http.StatusUnauthorized},
			{"wrong secret", "app", "wrong", "token=" + s.tok.AccessToken, http.StatusUnauthorized},
			{"unknown client", "nobody", "x", "token=" + s.tok.AccessToken, http.StatusUnauthorized},
			{"public client", "spa", "", "client_id=spa&token=" + s.tok.AccessToken, http.StatusUnauthorized},
			{"client assertion", "", "", "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c&token=x", http.StatusUnauthorized},
			{"broken form", "app", app.secret, "token=%zz", http.StatusBadRequest},
		} {
			req := e.request(http.MethodPost, "/oauth/introspect", formType, tc.body)
			if tc.id != "" {
				req.SetBasicAuth(tc.id, tc.secret)
			}
			p := e.send(req)
			wantOAuthError(t, tc.name, p, tc.want, map[int]string{401: "invalid_client", 400: "invalid_request"}[tc.want])
		}
		for _, tok := range []string{"", "garbage", s.tok.RefreshToken, s.tok.raw, "\xff\xfe", strings.Repeat("t", 8<<10)} {
			if in := app.introspect(tok); in["active"] != false {
				t.Errorf("introspect %.10q: %v, want inactive", tok, in)
			}
		}
		if in := other.introspect(s.tok.AccessToken); in["active"] != false {
			t.Errorf("another client introspected app's token: %v", in)
		}
	})

	t.Run("revocation", func(t *testing.T) {
		for _, tc := range []struct {
			name, id, secret, body string
			want                   int
			code                   string
		}{
			{"no client authentication", "", "", "token=" + s.tok.AccessToken, http.StatusUnauthorized, "invalid_client"},
			{"wrong secret", "app", "wrong", "token=" + s.tok.AccessToken, http.StatusUnauthorized, "invalid_client"},
			{"unknown client", "nobody", "x", "token=" + s.tok.AccessToken, http.StatusUnauthorized, "invalid_client"},
			{"unknown client_id in the form", "", "", "client_id=nobody&token=" + s.tok.AccessToken, http.StatusUnauthorized, "invalid_client"},
			{"confidential client_id without secret", "", "", "client_id=app&token=" + s.tok.AccessToken, http.StatusUnauthorized, "invalid_client"},
			// RFC 7009 2.1: refused; RFC 6749 5.2 names it invalid_grant ("issued to another client").
			{"another client's access token", "other", other.secret, "token=" + s.tok.AccessToken, http.StatusBadRequest, "invalid_grant"},
			{"another client's refresh token", "other", other.secret, "token=" + url.QueryEscape(s.tok.RefreshToken), http.StatusBadRequest, "invalid_grant"},
			{"broken form", "app", app.secret, "token=%zz", http.StatusBadRequest, "invalid_request"},
		} {
			req := e.request(http.MethodPost, "/revoke", formType, tc.body)
			if tc.id != "" {
				req.SetBasicAuth(tc.id, tc.secret)
			}
			wantOAuthError(t, tc.name, e.send(req), tc.want, tc.code)
		}
		for _, tok := range []string{"", "garbage", "\xff\xfe", s.tok.raw, strings.Repeat("t", 8<<10)} {
			req := e.request(http.MethodPost, "/revoke", formType, url.Values{"token": {tok}}.Encode())
			req.SetBasicAuth("app", app.secret)
			p := e.send(req)
			checkSafe(t, "revoke garbage", p)
			if p.status() != http.StatusOK && p.status() != http.StatusBadRequest {
				t.Errorf("revoke %.10q: status %d, want 200 (RFC 7009) or 400", tok, p.status())
			}
		}
		req := e.request(http.MethodPost, "/revoke", formType, url.Values{"token": {"x"}, "client_id": {"spa"}}.Encode())
		checkSafe(t, "public client revokes", e.send(req))
		// None of that touched app's tokens.
		if in := app.introspect(s.tok.AccessToken); in["active"] != true {
			t.Errorf("app's access token after the attempts: %v, want active", in)
		}
		if _, err := app.refresh(s.tok.RefreshToken); err != nil {
			t.Errorf("app's refresh token after the attempts: %v", err)
		}
	})
}

func TestEndSessionRejects(t *testing.T) {
	s := newSignedIn(t)
	e := s.env
	gone := e.addRP("gone", false)
	a := gone.authorize()
	goneTok, err := gone.exchange(a, s.b.codeFrom(s.b.get(a.url), a))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteClient(context.Background(), "gone"); err != nil {
		t.Fatal(err)
	}
	bye := s.app.client.PostLogoutRedirectURIs[0]
	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"garbage id_token_hint", url.Values{"id_token_hint": {"garbage"}, "post_logout_redirect_uri": {bye}}},
		{"JWT-shaped id_token_hint", url.Values{"id_token_hint": {"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, "post_logout_redirect_uri": {bye}}},
		{"access token as id_token_hint", url.Values{"id_token_hint": {s.tok.AccessToken}, "post_logout_redirect_uri": {bye}}},
		{"unknown client_id", url.Values{"client_id": {"nobody"}, "post_logout_redirect_uri": {bye}}},
		{"client_id not matching the hint", url.Values{"id_token_hint": {s.tok.raw}, "client_id": {"other"}, "post_logout_redirect_uri": {bye}}},
		{"hint of a deleted client", url.Values{"id_token_hint": {goneTok.raw}, "post_logout_redirect_uri": {bye}}},
		{"unregistered post_logout_redirect_uri", url.Values{"client_id": {"app"}, "post_logout_redirect_uri": {"https://evil.example/"}}},
		{"post_logout_redirect_uri of another client", url.Values{"id_token_hint": {s.tok.raw}, "post_logout_redirect_uri": {s.other.client.PostLogoutRedirectURIs[0]}}},
		{"post_logout_redirect_uri with a trailing slash", url.Values{"id_token_hint": {s.tok.raw}, "post_logout_redirect_uri": {bye + "/"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantNoRedirect(t, "GET", s.b.get(e.issuer+"/end_session?"+tc.q.Encode()), http.StatusBadRequest)
			wantNoRedirect(t, "POST", s.b.post("/end_session", tc.q), http.StatusBadRequest)
		})
	}
	for _, raw := range []string{"%zz", "id_token_hint=a;b", "state=%ff%fe", "id_token_hint=" + strings.Repeat("a", 32<<10)} {
		p := s.b.get(e.issuer + "/end_session?" + raw)
		checkSafe(t, "/end_session?"+raw[:min(len(raw), 20)], p)
		if loc := p.location(); loc.Host == e.rpHost {
			t.Errorf("/end_session?%.20s redirected to the RP: %s", raw, loc)
		}
	}
	// A post_logout_redirect_uri without a client to vouch for it is
	// ignored, not followed.
	for _, b := range []*browser{s.b, e.newBrowser()} {
		p := b.stepper().get(e.issuer + "/end_session?" + url.Values{"post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
		checkSafe(t, "post_logout_redirect_uri alone", p)
		if loc := p.location(); loc.Host == "evil.example" {
			t.Errorf("post_logout_redirect_uri alone: redirected to %s", loc)
		}
	}
	// A forged confirmation (another site posting confirm=yes without the
	// form token) only gets the question asked.
	for _, f := range []url.Values{
		{"confirm": {"yes"}, "client_id": {"app"}},
		{"confirm": {"yes"}, "client_id": {"app"}, "csrf": {"forged"}},
	} {
		req := e.request(http.MethodPost, "/end_session", formType, f.Encode(), "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
		p := s.b.stepper().do(req)
		checkSafe(t, "forged logout confirmation", p)
		if !strings.Contains(p.body, "Sign out?") {
			t.Errorf("forged logout confirmation: status %d, want the confirmation page:\n%.500s", p.status(), p.body)
		}
	}
	// Still signed in: none of that ended the session.
	a = s.app.authorize(oauth2.SetAuthURLParam("prompt", "none"))
	if code := s.b.codeFrom(s.b.get(a.url), a); code == "" {
		t.Error("session ended by a rejected logout")
	}
}

// TestGarbageSweep sends junk to every endpoint, then checks Gatehouse
// still works and lost nothing.
func TestGarbageSweep(t *testing.T) {
	s := newSignedIn(t)
	e := s.env
	users, err := e.store.ListUsers(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := e.store.ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	usersBefore, clientsBefore := len(users.Users), len(clients)
	paths := []string{
		"/authorize", "/authorize/callback", "/login", "/login/password", "/login/change-password",
		"/oauth/token", "/oauth/introspect", "/userinfo", "/revoke", "/end_session", "/keys",
		"/.well-known/openid-configuration", "/healthz", "/readyz", "/logged-out", "/device_authorization",
		"/nope", "/static/../../go.mod", "/%00", "/login%2Fpassword", "/authorize/callback/x", "/.well-known/",
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "TRACE", "BREW"}
	bodies := []struct{ contentType, body string }{
		{"", ""},
		{formType, "\x00\xff\xfe{{{&&&==="},
		{formType, "id=%zz&token=%zz&grant_type=%zz"},
		{formType, "id=a;b=c"},
		{formType, "id=%ff%fe&client_id=%ff&token=%c3%28&grant_type=authorization_code&code=%ff&username=%ff&password=%fe&csrf=%ff"},
		{"application/json", `{"grant_type":"authorization_code","code":"x"}`},
		{"multipart/form-data; boundary=", "--\r\njunk"},
		{"text/plain", strings.Repeat("\xff", 1<<10)},
	}
	queries := []string{"", "?id=%zz", "?id=../../etc/passwd", "?id=%ff%fe&client_id=%c3%28", "?id=" + strings.Repeat("a", 8<<10)}
	for _, path := range paths {
		for _, m := range methods {
			for i, body := range bodies {
				q := queries[i%len(queries)]
				p := e.send(e.request(m, path+q, body.contentType, body.body))
				checkSafe(t, m+" "+path+q[:min(len(q), 20)], p)
			}
		}
		// Headers: huge but within limits, and junk credentials and cookies.
		for _, h := range [][]string{
			{"X-Junk", strings.Repeat("j", 256<<10)},
			{"Authorization", "Bearer \xff\xfe"},
			{"Authorization", "Basic !!!"},
			{"Authorization", "Basic " + "Og=="},
			{"Authorization", "Basic " + "JXp6OiV6eg=="}, // %zz:%zz
			{"Cookie", "gatehouse-session=garbage; gatehouse-browser=" + strings.Repeat("\xff", 40)},
			{"Cookie", "gatehouse-session=" + strings.Repeat("A", 4000) + "; gatehouse-browser=" + strings.Repeat("b", 40)},
			{"Origin", "null"},
			{"Sec-Fetch-Site", "cross-site"},
		} {
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				p := e.send(e.request(m, path+"?id=x", formType, "id=x&token=x", h...))
				checkSafe(t, m+" "+path+" with "+h[0], p)
			}
		}
	}

	// Nothing was lost: the session and the first sign-in's tokens work,
	// the directory is as it was, and a new sign-in from scratch completes.
	a := s.app.authorize(oauth2.SetAuthURLParam("prompt", "none"))
	if code := s.b.codeFrom(s.b.get(a.url), a); code == "" {
		t.Error("session lost in the sweep")
	}
	ctx := context.Background()
	if users, err := e.store.ListUsers(ctx, "", 100); err != nil || len(users.Users) != usersBefore {
		t.Errorf("users after the sweep: %d (%v), want %d", len(users.Users), err, usersBefore)
	}
	if clients, err := e.store.ListClients(ctx); err != nil || len(clients) != clientsBefore {
		t.Errorf("clients after the sweep: %d (%v), want %d", len(clients), err, clientsBefore)
	}
	if in := s.app.introspect(s.tok.AccessToken); in["active"] != true {
		t.Errorf("access token after the sweep: %v, want active", in)
	}
	if _, err := s.app.refresh(s.tok.RefreshToken); err != nil {
		t.Errorf("refresh after the sweep: %v", err)
	}
	b := e.newBrowser()
	a = s.app.authorize()
	if _, err := s.app.exchange(a, b.signIn(s.app, a, "alice", alicePassword)); err != nil {
		t.Errorf("sign-in after the sweep: %v", err)
	}
	if err := e.store.Health(context.Background()); err != nil {
		t.Errorf("store health after the sweep: %v", err)
	}
}

// TestIDTokenHintLocksTheUser: an authorization request with alice's
// id_token_hint shows her name, locked, and if another account signs in
// instead the client gets login_required at its redirect URI (OIDC Core
// 3.1.2.1), never a code for someone else. Alice herself gets through.
func TestIDTokenHintLocksTheUser(t *testing.T) {
	s := newSignedIn(t)
	s.addUser("bob", alicePassword)
	hint := oauth2.SetAuthURLParam("id_token_hint", s.tok.raw)

	b := s.newBrowser()
	a := s.app.authorize(hint)
	p := b.get(a.url)
	if !strings.Contains(p.body, `value="alice" readonly`) {
		t.Errorf("the sign-in page for alice's hint does not show her name, locked:\n%s", p.body)
	}
	p = b.submitPassword(p, "bob", alicePassword)
	loc := p.location()
	if loc.Host != s.rpHost || loc.Query().Get("error") != "login_required" || loc.Query().Get("code") != "" || loc.Query().Get("state") != a.state {
		t.Errorf("bob completing alice's hinted sign-in: status %d, location %v; want login_required at the redirect URI", p.status(), loc)
	}
	bob := mustUser(t, s.env, "bob")
	events, _ := s.store.ListAudit(context.Background(), storage.AuditQuery{Subject: bob.ID, Action: "login.password", Outcome: storage.OutcomeDenied})
	if len(events) != 1 || events[0].Details["reason"] != "id_token_hint names another user" {
		t.Errorf("audit of the refusal: %+v", events)
	}

	b = s.newBrowser()
	a = s.app.authorize(hint)
	if _, err := s.app.exchange(a, b.signIn(s.app, a, "alice", alicePassword)); err != nil {
		t.Errorf("alice signing in with her own hint: %v", err)
	}
}
