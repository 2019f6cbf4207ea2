package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// clock is the injected time source: tests move it instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a fully wired Gatehouse on httptest, with its store and clock.
type env struct {
	t      testing.TB
	issuer string
	srv    *httptest.Server
	server *server
	store  storage.Storage
	clock  *clock
	rpHost string // where test relying parties "live": never contacted
	// metricsURL is where the metrics listener serves, when metrics.listen
	// is set.
	metricsURL string
	// hashes are the password hashes addUser made, by password: users
	// with one password share one hash (argon2id under the race detector
	// costs a tenth of a second).
	hashes sync.Map
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newSeededEnv(t, nil)
}

// newSeededEnv is newEnv with seed run on the bootstrapped store before the
// server starts. Seeding runs with fsync off, for bulk loads; the store is
// then closed and reopened as a server opens it, so what is measured
// afterwards is not flattered. Each configure func may change the
// configuration (even the issuer's host) before it is validated.
func newSeededEnv(t testing.TB, seed func(ctx context.Context, store storage.Storage, root storage.OrgUnit), configure ...func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	cfg := defaultConfig()
	cfg.Issuer = issuer
	cfg.DataDir = t.TempDir()
	cfg.Demo.Enabled = false
	// Every test browser is 127.0.0.1, and the clock stands still: the
	// default budget of sign-ins started per address would stop the tests
	// and benchmarks that start many. TestStartBudget sets it low again.
	cfg.Limits.AuthRequestsPerMinute = 1 << 30
	if _, test := t.(*testing.T); test {
		// The cheapest argon2id allowed: a 19 MiB hash costs a tenth of a
		// second under the race detector, and the tests are not of its
		// cost. Benchmarks keep the defaults.
		cfg.Password.MemoryKiB, cfg.Password.Iterations = 8*1024, 1
	}
	for _, f := range configure {
		f(&cfg)
	}
	issuer = cfg.Issuer
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, "gatehouse.db")
	c := &clock{now: time.Now().UTC().Truncate(time.Second)}
	if seed != nil {
		store, err := bbolt.Open(path, bbolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := bootstrap(ctx, store, cfg, newHasher(cfg), c.Now(), io.Discard); err != nil {
			t.Fatal(err)
		}
		root, err := findOrgUnit(ctx, store, "")
		if err != nil {
			t.Fatal(err)
		}
		seed(ctx, store, root)
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m := newMetrics(prometheus.NewRegistry())
	store, err := bbolt.Open(path, bbolt.Options{Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), c.Now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	s, err := newServer(ctx, cfg, store, m, logger, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: s.handler}}
	if cfg.TLS.CertFile != "" {
		// httptest's own certificate stands in for the files, which only
		// serve reads.
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	e := &env{t: t, issuer: issuer, srv: srv, server: s, store: store, clock: c, rpHost: "rp.example"}
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			t.Fatal(err)
		}
		msrv := &httptest.Server{Listener: mln, Config: &http.Server{Handler: s.metrics.handler(logger)}}
		msrv.Start()
		t.Cleanup(msrv.Close)
		e.metricsURL = msrv.URL + "/metrics"
	}
	return e
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// addUser creates an active user with a known password.
func (e *env) addUser(username, pw string) storage.User {
	e.t.Helper()
	ctx := context.Background()
	hash, ok := e.hashes.Load(pw)
	if !ok {
		h, err := e.server.hasher.Hash(ctx, pw)
		if err != nil {
			e.t.Fatal(err)
		}
		hash, _ = e.hashes.LoadOrStore(pw, h)
	}
	root, err := findOrgUnit(ctx, e.store, "")
	if err != nil {
		e.t.Fatal(err)
	}
	u := storage.User{
		ID: storage.NewID(), Username: username, Email: username + "@example.org", DisplayName: "User " + username,
		PasswordHash: hash.(string), OrgUnitID: root.ID, CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
	}
	if err := e.store.CreateUser(ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// rp is a relying party as a real RP library sees it: an oauth2.Config and
// a go-oidc verifier, registered in Gatehouse.
type relyingParty struct {
	e        *env
	client   storage.Client
	secret   string
	oauth    *oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// addRP registers a client (confidential unless public) and builds its RP.
func (e *env) addRP(id string, public bool, grants ...string) *relyingParty {
	e.t.Helper()
	if len(grants) == 0 {
		grants = []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}
	}
	c := storage.Client{
		ID: id, Name: "App " + id,
		RedirectURIs:           []string{"https://" + e.rpHost + "/" + id + "/callback"},
		PostLogoutRedirectURIs: []string{"https://" + e.rpHost + "/" + id + "/bye"},
		GrantTypes:             grants, Scopes: []string{"reports"}, MinimumACR: "pwd", ExceptionsAllowed: true,
		CreatedAt: e.clock.Now(),
	}
	var secret string
	if !public {
		secret, c.SecretHash = provider.NewSecret()
	}
	if err := e.store.CreateClient(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return e.relyingParty(c, secret)
}

// relyingParty builds the RP of client c, stored already, with its secret
// ("" for a public client).
func (e *env) relyingParty(c storage.Client, secret string) *relyingParty {
	e.t.Helper()
	id := c.ID
	ctx := oidc.ClientContext(context.Background(), e.srv.Client())
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		e.t.Fatal(err)
	}
	return &relyingParty{
		e: e, client: c, secret: secret, provider: p,
		oauth: &oauth2.Config{
			ClientID: id, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: c.RedirectURIs[0],
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
		},
		// zitadel's op stamps iat and exp from the real clock, not the
		// injected one, so the RP checks them against the real clock too.
		verifier: p.VerifierContext(ctx, &oidc.Config{ClientID: id}),
	}
}

func (r *relyingParty) ctx() context.Context {
	return oidc.ClientContext(context.Background(), r.e.srv.Client())
}

// authorization is one started sign-in: what the RP must remember.
type authorization struct {
	url, state, nonce, verifier string
}

// authorize builds an authorization URL with PKCE S256, a state and a
// nonce, plus any extra parameters.
func (r *relyingParty) authorize(extra ...oauth2.AuthCodeOption) authorization {
	a := authorization{state: storage.NewID(), nonce: storage.NewID(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oidc.Nonce(a.nonce)}, extra...)
	a.url = r.oauth.AuthCodeURL(a.state, opts...)
	return a
}

// tokens are an exchanged code's tokens with the verified ID token.
type tokens struct {
	*oauth2.Token
	raw     string
	idToken *oidc.IDToken
	claims  map[string]any
}

// exchange redeems a code and verifies the ID token's signature, issuer,
// audience, expiry and nonce.
func (r *relyingParty) exchange(a authorization, code string) (*tokens, error) {
	tok, err := r.oauth.Exchange(r.ctx(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		return nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(r.ctx(), raw)
	if err != nil {
		return nil, err
	}
	if idt.Nonce != a.nonce {
		return nil, errors.New("nonce mismatch")
	}
	t := &tokens{Token: tok, raw: raw, idToken: idt}
	if err := idt.Claims(&t.claims); err != nil {
		return nil, err
	}
	return t, nil
}

// browser is a user agent: a cookie jar that follows redirects until one
// leaves for a relying party.
type browser struct {
	e      *env
	client *http.Client
	// userAgent, when set, is sent as the User-Agent header.
	userAgent string
}

func (e *env) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{e: e}
	b.client = &http.Client{
		Jar:       jar,
		Transport: e.srv.Client().Transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == e.rpHost {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return b
}

// page is a response the browser got, with its body read.
type page struct {
	resp *http.Response
	body string
}

func (p page) status() int { return p.resp.StatusCode }

// location is where a redirect to the relying party points.
func (p page) location() *url.URL {
	u, _ := url.Parse(p.resp.Header.Get("Location"))
	if u == nil {
		u = &url.URL{}
	}
	return u
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// form returns the page's hidden inputs.
func (p page) form() url.Values {
	v := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], htmlUnescape(m[2]))
	}
	return v
}

// recoveryDone is the Done link of the recovery codes page that follows a
// user's first method.
var recoveryDone = regexp.MustCompile(`<h1>Save your recovery codes</h1>(?s:.*)<a class="button" href="([^"]+)">Done</a>`)

// pastCodes goes on from the recovery codes shown after a first method, as
// a user who has saved them would; any other page is returned as it is.
func (b *browser) pastCodes(p page) page {
	b.e.t.Helper()
	if m := recoveryDone.FindStringSubmatch(p.body); m != nil {
		return b.get(b.e.issuer + htmlUnescape(m[1]))
	}
	return p
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	if b.userAgent != "" {
		req.Header.Set("User-Agent", b.userAgent)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp: resp, body: string(body)}
}

func (b *browser) get(rawURL string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// submitPassword fills in the sign-in form on p.
func (b *browser) submitPassword(p page, username, pw string) page {
	b.e.t.Helper()
	f := p.form()
	if f.Get("id") == "" {
		b.e.t.Fatalf("no sign-in form on page (status %d):\n%s", p.status(), p.body)
	}
	f.Set("username", username)
	f.Set("password", pw)
	return b.post("/login/password", f)
}

// signIn runs a whole sign-in for the RP and returns the code.
func (b *browser) signIn(r *relyingParty, a authorization, username, pw string) string {
	b.e.t.Helper()
	p := b.get(a.url)
	if !strings.Contains(p.body, `name="password"`) {
		b.e.t.Fatalf("expected the password page, got status %d:\n%s", p.status(), p.body)
	}
	return b.codeFrom(b.submitPassword(p, username, pw), a)
}

// codeFrom checks p is the redirect back to the RP with the right state and
// returns the code.
func (b *browser) codeFrom(p page, a authorization) string {
	b.e.t.Helper()
	loc := p.location()
	if loc.Host != b.e.rpHost {
		b.e.t.Fatalf("expected a redirect to the relying party, got status %d location %q:\n%s", p.status(), loc, p.body)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		b.e.t.Fatalf("relying party got error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != a.state {
		b.e.t.Fatalf("state = %q, want %q", q.Get("state"), a.state)
	}
	return q.Get("code")
}
