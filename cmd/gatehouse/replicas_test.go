package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
)

// Headers the test sends to its load balancer: which replica must serve a
// request (else the next in turn), and which sign-in it belongs to.
const (
	replicaHeader = "X-Test-Replica"
	signInHeader  = "X-Test-Sign-In"
)

// TestReplicas: three Gatehouse processes on one PostgreSQL database,
// behind a round-robin load balancer, are one provider.
//   - A sign-in with an authenticator app whose every step lands on the
//     next replica works, and go-oidc verifies its ID token.
//   - What one replica did, every replica sees: the browser's session
//     (SSO), its end (logout), an exception granted on the admin pages,
//     and a user disabled there. The exception's notice is sent once,
//     though every replica runs a sender.
//   - The same code sent to two replicas at once is redeemed once, and the
//     tokens it gave are then revoked.
//   - A replica killed under load fails no sign-in but those with a
//     request in flight on it; the rest go on on the other two.
func TestReplicas(t *testing.T) {
	t.Parallel()
	s := newReplicaSite(t, 3, 200)
	ctx := t.Context()

	// One sign-in, each request on the next replica.
	b := s.newBrowser(ctx, "alice")
	before := s.lb.log()
	a, ok := b.signIn(s.users[0], s.oauth)
	if !ok {
		t.Fatal("alice could not sign in across the replicas")
	}
	steps := s.lb.log()[len(before):]
	for i := 1; i < len(steps); i++ {
		if steps[i] == steps[i-1] {
			t.Errorf("steps %d and %d of the sign-in were both served by replica %d: %v", i-1, i, steps[i], steps)
		}
	}
	tok := s.exchange(ctx, b, a)
	idToken, err := s.verifier.Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	var claims struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	idToken.Claims(&claims)
	if claims.ACR != "mfa" || idToken.Subject != s.users[0].ID {
		t.Errorf("ID token sub %q acr %q amr %q, want alice with acr mfa", idToken.Subject, claims.ACR, claims.AMR)
	}

	t.Run("SSO and logout on every replica", func(t *testing.T) {
		for r := range s.replicas {
			if p := b.pinned(r).authorize(s.oauth, "", a.state); p.location().Query().Get("code") == "" {
				t.Errorf("replica %d does not see alice's session: status %d, location %q", r, p.status(), p.location())
			}
		}
		p := b.get("/end_session?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)},
			"post_logout_redirect_uri": {"https://rp.example/bye"}}.Encode())
		if p.location().String() != "https://rp.example/bye" {
			t.Fatalf("logout: status %d, location %q", p.status(), p.location())
		}
		for r := range s.replicas {
			if q := b.pinned(r).authorize(s.oauth, "none", a.state).location().Query(); q.Get("error") != "login_required" {
				t.Errorf("replica %d after logout, prompt=none: %v, want login_required", r, q)
			}
		}
	})

	t.Run("admin changes on every replica", func(t *testing.T) {
		admin := s.newBrowser(ctx, "admin")
		if _, ok := admin.signIn(s.admin, s.oauth); !ok {
			t.Fatal("the admin could not sign in")
		}
		lostPhone, disabled := s.users[1], s.users[2]
		if p := s.newBrowser(ctx, "before").passwordStep(lostPhone, s.oauth); !strings.Contains(p.body, `action="/login/second-factor"`) {
			t.Fatalf("before any exception, a correct password was not followed by the second factor: status %d", p.status())
		}
		p := admin.get("/admin/users/" + lostPhone.ID + "/exceptions/new")
		p = admin.post("/admin/users/"+lostPhone.ID+"/exceptions", url.Values{"csrf": {p.form().Get("csrf")}, "kind": {"short_term"}, "reason": {"phone_lost"}})
		if p.status() != http.StatusOK || !strings.Contains(p.body, "Short-term exception granted") {
			t.Fatalf("granting an exception: status %d\n%.1500s", p.status(), p.body)
		}
		p = admin.get("/admin/users/" + disabled.ID)
		p = admin.post("/admin/users/"+disabled.ID+"/disable", url.Values{"csrf": {p.form().Get("csrf")}, "confirm": {"yes"}})
		if p.status() != http.StatusOK || !strings.Contains(p.body, "User disabled") {
			t.Fatalf("disabling a user: status %d\n%.1500s", p.status(), p.body)
		}
		for r := range s.replicas {
			u := s.newBrowser(ctx, fmt.Sprint("exception-", r)).pinned(r)
			if p := u.passwordStep(lostPhone, s.oauth); p.location().Query().Get("code") == "" {
				t.Errorf("replica %d: with an exception, a correct password did not finish the sign-in: status %d\n%.800s", r, p.status(), p.body)
			}
			u = s.newBrowser(ctx, fmt.Sprint("disabled-", r)).pinned(r)
			if p := u.passwordStep(disabled, s.oauth); p.status() == http.StatusSeeOther || strings.Contains(p.body, `action="/login/second-factor"`) {
				t.Errorf("replica %d let a disabled user past the password: status %d", r, p.status())
			}
		}
	})

	t.Run("each notice sent once", func(t *testing.T) {
		// Every replica runs a sender; the exception granted above owes
		// its user a notice. Wait for it, then for longer than every
		// sender's poll, in which a second copy would have come.
		for deadline := time.Now().Add(30 * time.Second); len(s.mail.mails()) == 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no notice was sent")
			}
		}
		time.Sleep(3 * notifyInterval)
		sent := map[string]int{}
		for _, m := range s.mail.mails() {
			_, raw, _ := strings.Cut(m, "\n")
			msg, err := mail.ReadMessage(strings.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			sent[msg.Header.Get("Message-ID")]++
		}
		for id, n := range sent {
			if n > 1 {
				t.Errorf("notice %s was sent %d times", id, n)
			}
		}
		t.Logf("%d notices, each sent once", len(sent))
	})

	t.Run("one code on two replicas at once", func(t *testing.T) {
		b := s.newBrowser(ctx, "twice")
		a, ok := b.signIn(s.users[3], s.oauth)
		if !ok {
			t.Fatal("sign-in failed")
		}
		var wg sync.WaitGroup
		toks := make([]*oauth2.Token, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				pinned := context.WithValue(ctx, oauth2.HTTPClient, b.pinned(i).client)
				toks[i], errs[i] = s.oauth.Exchange(pinned, a.code, oauth2.VerifierOption(a.verifier))
			})
		}
		wg.Wait()
		var winner *oauth2.Token
		for i, err := range errs {
			switch {
			case err == nil && winner == nil:
				winner = toks[i]
			case err == nil:
				t.Fatal("both replicas redeemed the code")
			case !isInvalidGrant(err):
				t.Errorf("replica %d: %v, want invalid_grant", i, err)
			}
		}
		if winner == nil {
			t.Fatalf("neither replica redeemed the code: %v", errs)
		}
		if _, err := s.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: winner.RefreshToken}).Token(); !isInvalidGrant(err) {
			t.Errorf("the winner's refresh token after the code was replayed: %v, want invalid_grant (the family revoked)", err)
		}
		for r := range s.replicas {
			if active := s.introspect(ctx, b.pinned(r), winner.AccessToken); active {
				t.Errorf("replica %d: the winner's access token is still active after the replay", r)
			}
		}
	})

	t.Run("a replica killed under load", func(t *testing.T) {
		s.killUnderLoad(ctx, 1)
	})
}

// replicaSite is one PostgreSQL database, the Gatehouse replicas serving
// it, and a load balancer in front of them, whose address is the issuer.
type replicaSite struct {
	t        *testing.T
	bin      string
	issuer   string
	lb       *loadBalancer
	replicas []*replica
	users    []crashUser
	admin    crashUser
	next     atomic.Int64 // users handed out to the load
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	mail     *smtpSink // where the replicas' notices go
}

// replica is one Gatehouse process.
type replica struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has ended
	log    *bytes.Buffer
}

// kill ends the process with SIGKILL and waits until it has.
func (r *replica) kill() {
	r.cmd.Process.Kill()
	<-r.exited
}

func newReplicaSite(t *testing.T, n, users int) *replicaSite {
	t.Helper()
	ctx := t.Context()
	s := &replicaSite{t: t, bin: buildGatehouse(t), lb: &loadBalancer{}, mail: newSMTPSink(t)}
	front := httptest.NewServer(&httputil.ReverseProxy{Transport: s.lb, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "replica" // chosen per request by the balancer
	}, ErrorLog: log.New(io.Discard, "", 0)}) // a request lost with a killed replica is a 502, expected
	t.Cleanup(front.Close)
	s.issuer = strings.Replace(front.URL, "127.0.0.1", "localhost", 1)
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.Issuer = s.issuer
	cfg.Storage.Driver, cfg.Storage.DSN = driverPostgres, pgtest.NewDatabase(t)
	cfg.MFA.KeyFile = filepath.Join(dir, "mfa.key")
	cfg.Password.MemoryKiB, cfg.Password.Iterations = 8*1024, 1
	s.seed(ctx, cfg, users)

	for i := range n {
		r := &replica{addr: "127.0.0.1:" + freePort(t), log: &bytes.Buffer{}}
		yaml := fmt.Sprintf(`issuer: %s
listen: %s
data_dir: %s
storage: {driver: postgres, dsn: "%s"}
mfa: {key_file: %s}
demo: {enabled: false}
password: {memory_kib: 8192, iterations: 1}
limits: {auth_requests_per_minute: 1000000}
log: {level: warn, format: text}
smtp: {host: 127.0.0.1, port: %d, tls: none, from: gatehouse@example.org}
`, s.issuer, r.addr, filepath.Join(dir, fmt.Sprint("replica", i)), cfg.Storage.DSN, cfg.MFA.KeyFile, s.mail.addr.Port)
		file := filepath.Join(dir, fmt.Sprint("replica", i, ".yaml"))
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.Command(s.bin, "serve", "--config", file)
		r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.exited = make(chan struct{})
		go func() { r.cmd.Wait(); close(r.exited) }()
		t.Cleanup(func() {
			r.cmd.Process.Signal(syscall.SIGTERM)
			<-r.exited
			if t.Failed() {
				t.Logf("replica %d's log:\n%s", i, r.log)
			}
		})
		s.replicas = append(s.replicas, r)
		s.lb.backends = append(s.lb.backends, &backend{addr: r.addr})
	}
	for i, r := range s.replicas {
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://" + r.addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(start) > 60*time.Second {
				t.Fatalf("replica %d is not ready: %v\n%s", i, err, r.log)
			}
		}
	}
	p, err := oidc.NewProvider(ctx, s.issuer)
	if err != nil {
		t.Fatal(err)
	}
	s.verifier = p.Verifier(&oidc.Config{ClientID: s.oauth.ClientID})
	return s
}

// seed makes the root unit (requiring MFA), the users, each with an
// authenticator app, a global admin, and a confidential client, before any
// replica starts.
func (s *replicaSite) seed(ctx context.Context, cfg Config, users int) {
	t := s.t
	store, err := openStore(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), now, io.Discard); err != nil {
		t.Fatal(err)
	}
	root, err := findOrgUnit(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpdateOrgUnit(ctx, root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
		ou.MFA = storage.MFARequired
		return ou, nil
	}); err != nil {
		t.Fatal(err)
	}
	add := totpUserMaker(t, store, cfg, root.ID, now)
	s.admin = add("replica-admin", storage.RoleBinding{Role: storage.RoleGlobalAdmin, OrgUnitID: root.ID})
	for i := range users {
		s.users = append(s.users, add(fmt.Sprint("user", i)))
	}
	secret, secretHash := provider.NewSecret()
	c := storage.Client{ID: "replica-app", Name: "Replica app", SecretHash: secretHash, RedirectURIs: []string{"https://rp.example/cb"},
		PostLogoutRedirectURIs: []string{"https://rp.example/bye"}, GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken},
		MinimumACR: "pwd", ExceptionsAllowed: true, CreatedAt: now}
	if err := store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.oauth = &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{AuthURL: s.issuer + "/authorize", TokenURL: s.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}}
}

// exchange redeems a sign-in's code through the load balancer.
func (s *replicaSite) exchange(ctx context.Context, b *replicaBrowser, a replicaSignIn) *oauth2.Token {
	s.t.Helper()
	tok, err := s.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, b.client), a.code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		s.t.Fatalf("code exchange: %v", err)
	}
	return tok
}

// introspect asks, as the app, whether token is active.
func (s *replicaSite) introspect(ctx context.Context, b *replicaBrowser, token string) bool {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.issuer+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.oauth.ClientID, s.oauth.ClientSecret)
	resp, err := b.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var in struct{ Active bool }
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("introspection: status %d, %v", resp.StatusCode, err)
	}
	return in.Active
}

// killUnderLoad keeps workers signing new users in (each sign-in ending in
// a code exchange) through the balancer, kills replica victim with
// SIGKILL midway, and then checks that every failed sign-in had a request
// in flight on the victim when it died, and that sign-ins went on after.
func (s *replicaSite) killUnderLoad(ctx context.Context, victim int) {
	t := s.t
	const workers = 4
	var (
		mu              sync.Mutex
		failed          []string
		before, after   atomic.Int64
		killed          atomic.Bool
		stop, stopped   = make(chan struct{}), make(chan struct{})
		wg              sync.WaitGroup
		failedAfterKill atomic.Int64
	)
	for w := range workers {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := int(s.next.Add(1)) + 10 // the first users are the subtests'
				if i >= len(s.users) {
					t.Errorf("all %d users have signed in: seed more", len(s.users))
					return
				}
				label := fmt.Sprintf("w%d-%d", w, n)
				wasKilled := killed.Load()
				b := s.newBrowser(ctx, label)
				a, ok := b.signIn(s.users[i], s.oauth)
				if ok {
					_, err := s.oauth.Exchange(context.WithValue(ctx, oauth2.HTTPClient, b.client), a.code, oauth2.VerifierOption(a.verifier))
					ok = err == nil
				}
				switch {
				case !ok:
					mu.Lock()
					failed = append(failed, label)
					mu.Unlock()
					if wasKilled {
						failedAfterKill.Add(1)
					}
				case wasKilled:
					after.Add(1)
				default:
					before.Add(1)
				}
			}
		})
	}
	go func() { wg.Wait(); close(stopped) }()
	waitFor := func(what string, n *atomic.Int64, want int64) {
		for deadline := time.Now().Add(60 * time.Second); n.Load() < want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				close(stop)
				<-stopped
				t.Fatalf("%s: only %d sign-ins in a minute", what, n.Load())
			}
		}
	}
	waitFor("before the kill", &before, 2*workers)
	s.replicas[victim].kill()
	killed.Store(true)
	waitFor("after the kill", &after, 3*workers)
	close(stop)
	<-stopped

	lost := s.lb.lostOn(victim)
	for _, label := range failed {
		if !lost[label] {
			t.Errorf("sign-in %s failed with no request in flight on the killed replica", label)
		}
	}
	if failedAfterKill.Load() > 0 {
		t.Errorf("%d sign-ins begun after the kill failed", failedAfterKill.Load())
	}
	t.Logf("%d sign-ins before the kill, %d after; %d failed, with requests in flight on the killed replica: %d",
		before.Load(), after.Load(), len(failed), len(lost))
}

// loadBalancer sends each request to the next live replica in turn, or
// to the one the request names (replicaHeader). A replica that refuses a
// connection is taken out and the request goes to the next: nothing was
// sent. One that fails a request it was sent has lost it, and the
// balancer answers 502, as a real one would.
type loadBalancer struct {
	backends []*backend
	next     atomic.Uint64

	mu     sync.Mutex
	served []int                   // which replica served each request, in order
	lost   map[int]map[string]bool // replica → sign-ins that lost a request on it
}

type backend struct {
	addr string
	down atomic.Bool
}

// lbTransport opens a connection for every request: a connection kept
// alive to a replica since killed would fail a request that was never in
// flight on it.
var lbTransport = &http.Transport{DisableKeepAlives: true}

func (lb *loadBalancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
	}
	pinned, _ := strconv.Atoi(req.Header.Get(replicaHeader))
	_, isPinned := req.Header[replicaHeader]
	for range len(lb.backends) {
		i := pinned
		if !isPinned {
			i = int(lb.next.Add(1)-1) % len(lb.backends)
			if lb.backends[i].down.Load() {
				continue
			}
		}
		out := req.Clone(req.Context())
		out.URL.Host = lb.backends[i].addr
		out.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := lbTransport.RoundTrip(out)
		if errors.Is(err, syscall.ECONNREFUSED) && !isPinned {
			lb.backends[i].down.Store(true)
			continue
		}
		lb.mu.Lock()
		if err == nil {
			lb.served = append(lb.served, i)
		} else {
			if lb.lost == nil {
				lb.lost = map[int]map[string]bool{}
			}
			if lb.lost[i] == nil {
				lb.lost[i] = map[string]bool{}
			}
			lb.lost[i][req.Header.Get(signInHeader)] = true
		}
		lb.mu.Unlock()
		return resp, err
	}
	return nil, errors.New("no replica is up")
}

// log is which replica served each request so far.
func (lb *loadBalancer) log() []int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return append([]int(nil), lb.served...)
}

// lostOn is the sign-ins that lost a request on replica i.
func (lb *loadBalancer) lostOn(i int) map[string]bool {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.lost[i]
}

// replicaBrowser is a user agent labelling its requests for the balancer.
type replicaBrowser struct {
	s      *replicaSite
	ctx    context.Context
	client *http.Client
}

func (s *replicaSite) newBrowser(ctx context.Context, label string) *replicaBrowser {
	jar, _ := cookiejar.New(nil)
	return &replicaBrowser{s: s, ctx: ctx, client: &http.Client{
		Jar:       jar,
		Transport: labelled{http.DefaultTransport, http.Header{signInHeader: {label}}},
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if req.URL.Host == "rp.example" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// pinned is the same browser (same cookies), sending every request to
// replica i.
func (b *replicaBrowser) pinned(i int) *replicaBrowser {
	l := b.client.Transport.(labelled)
	h := l.header.Clone()
	h.Set(replicaHeader, strconv.Itoa(i))
	c := *b.client
	c.Transport = labelled{l.next, h}
	return &replicaBrowser{s: b.s, ctx: b.ctx, client: &c}
}

// labelled adds header to every request.
type labelled struct {
	next   http.RoundTripper
	header http.Header
}

func (l labelled) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range l.header {
		req.Header[k] = v
	}
	return l.next.RoundTrip(req)
}

// do sends a request, failing the test only on a transport error: what a
// lost request means is the caller's to judge.
func (b *replicaBrowser) do(method, target string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if strings.HasPrefix(target, "/") {
		target = b.s.issuer + target
	}
	req, err := http.NewRequestWithContext(b.ctx, method, target, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return page{resp: resp, body: string(raw)}, err
}

func (b *replicaBrowser) get(target string) page {
	b.s.t.Helper()
	p, err := b.do(http.MethodGet, target, nil)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return p
}

func (b *replicaBrowser) post(target string, form url.Values) page {
	b.s.t.Helper()
	p, err := b.do(http.MethodPost, target, form)
	if err != nil {
		b.s.t.Fatal(err)
	}
	return p
}

// replicaSignIn is a finished sign-in: the code and what redeems it.
type replicaSignIn struct {
	code, verifier, state string
}

// authorize starts a sign-in at the app's request, with prompt if set.
func (b *replicaBrowser) authorize(c *oauth2.Config, prompt, state string) page {
	b.s.t.Helper()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}
	if prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
	}
	return b.get(c.AuthCodeURL(state, opts...))
}

// passwordStep starts a sign-in and gives u's password.
func (b *replicaBrowser) passwordStep(u crashUser, c *oauth2.Config) page {
	b.s.t.Helper()
	p := b.authorize(c, "", "s")
	f := p.form()
	f.Set("username", u.Username)
	f.Set("password", alicePassword)
	return b.post("/login/password", f)
}

// signIn signs u in with password and authenticator app; ok is false,
// and the test not failed, when a step is lost on the way or answered
// with anything but the next step.
func (b *replicaBrowser) signIn(u crashUser, c *oauth2.Config) (a replicaSignIn, ok bool) {
	a = replicaSignIn{verifier: oauth2.GenerateVerifier(), state: storage.NewID()}
	p, err := b.do(http.MethodGet, c.AuthCodeURL(a.state, oauth2.S256ChallengeOption(a.verifier)), nil)
	if err != nil || !strings.Contains(p.body, `name="password"`) {
		return a, false
	}
	f := p.form()
	f.Set("username", u.Username)
	f.Set("password", alicePassword)
	if p, err = b.do(http.MethodPost, "/login/password", f); err != nil || !strings.Contains(p.body, `action="/login/second-factor"`) {
		return a, false
	}
	code, _ := totp.GenerateCode(u.totpKey, time.Now())
	f = p.form()
	f.Set("code", code)
	if p, err = b.do(http.MethodPost, "/login/second-factor", f); err != nil || p.location().Query().Get("state") != a.state {
		return a, false
	}
	a.code = p.location().Query().Get("code")
	return a, a.code != ""
}
