package main

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp/totp"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/factors"
	gtotp "github.com/gatehouse-id/gatehouse/factors/totp"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// The crash test runs the real binary and kills it with SIGKILL while
// clients are mid-request, over and over, on one data directory.
const (
	crashRounds      = 12
	crashUserWorkers = 3
	// crashUsers outnumber the sign-ins of a run: each user signs in once,
	// so no authenticator app code is offered twice within its 30 seconds.
	crashUsers = 1500
)

// TestCrashUnderLoad builds gatehouse, runs it on a data directory, and
// crashRounds times lets users sign in, refresh tokens and add and remove
// authenticator apps on Security info while an admin creates users, then
// SIGKILLs it at a random moment and starts it again. After every kill:
//   - the file passes bbolt's own consistency check (Tx.Check), and the
//     server starts on it with no repair;
//   - every write acknowledged to a client is there: the users the admin
//     was told were created, the methods added (and not since removed),
//     sessions, and issued codes and refresh tokens that work;
//   - no rotated refresh token works, and no redeemed code redeems again;
//   - no change is there without its audit event, nor an event without
//     its change;
//   - every Security info change acknowledged has its notice emailed, in
//     the end, and every email sent is of a change that was made.
//
// Midway, `gatehouse backup` copies the database over the control socket
// while the load runs; at the end the copy passes the same check, holds
// what was acknowledged before it began, and serves a sign-in as a data
// directory of its own.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it under load")
	}
	t.Parallel() // much of it waits on another process: overlap it with the other slow tests
	seed := time.Now().UnixNano()
	t.Logf("random seed %d", seed)
	rnd := rand.New(rand.NewPCG(uint64(seed), 0))
	s := newCrashSite(t, buildGatehouse(t), crashUsers)
	s.start()
	admin := s.signIn(s.admin)
	if admin == nil {
		t.Fatal("the admin could not sign in")
	}

	var l ledger
	var backup string
	var backedUp []string // usernames acknowledged before the backup began
	for round := range crashRounds {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range crashUserWorkers {
			wg.Go(func() { s.userWork(ctx, &l) })
		}
		wg.Go(func() { s.adminWork(ctx, admin.browser, &l) })
		s.await(10) // so that every round has work to check, however busy the machine
		time.Sleep(time.Duration(rnd.IntN(1500)) * time.Millisecond)
		if round == crashRounds/2 {
			backedUp = l.createdSoFar()
			backup = s.backup()
			time.Sleep(time.Duration(rnd.IntN(500)) * time.Millisecond)
		}
		s.kill()
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Fatalf("the server's log ends:\n%s", s.logTail())
		}
		s.checkFile(s.cfg.DataDir, &l)
		s.start()
		s.verify(&l, admin)
		t.Logf("round %d: %d sign-ins' codes and tokens, %d users' methods and %d created users checked", round+1, l.stats.chains, l.stats.methods, l.stats.created)
	}
	s.checkNotices(&l)
	s.stop()
	s.checkSentNotices()
	s.checkBackup(backup, backedUp)
	s.checkLog()
}

// buildGatehouse builds this package's binary, with the race detector
// when the test has it.
func buildGatehouse(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok && slices.Contains(bi.Settings, debug.BuildSetting{Key: "-race", Value: "true"}) {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// crashUser is a seeded user with an authenticator app.
type crashUser struct {
	storage.User
	totpKey string // base32
}

// totpUserMaker returns a func that stores a user in unit with
// alicePassword (hashed once) and an authenticator app, sealed with cfg's
// MFA key, for seeding a store before a server starts.
func totpUserMaker(t *testing.T, store storage.Storage, cfg Config, unit string, now time.Time) func(username string, roles ...storage.RoleBinding) crashUser {
	t.Helper()
	ctx := t.Context()
	key, err := factors.LoadOrCreateKey(cfg.mfaKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := factors.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	app := &gtotp.Factor{Sealer: sealer}
	hash, err := newHasher(cfg).Hash(ctx, alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	return func(username string, roles ...storage.RoleBinding) crashUser {
		u := storage.User{ID: storage.NewID(), Username: username, Email: username + "@example.org", DisplayName: "User " + username, PasswordHash: hash,
			OrgUnitID: unit, MFAEnabled: true, Roles: roles, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
		secret := make([]byte, 20)
		crand.Read(secret)
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateMethod(ctx, app.Method(u, secret, now)); err != nil {
			t.Fatal(err)
		}
		return crashUser{User: u, totpKey: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)}
	}
}

// crashSite is a data directory, its configuration, and the server
// process running on it.
type crashSite struct {
	t       *testing.T
	bin     string
	cfgFile string
	cfg     Config
	rootID  string
	users   []crashUser
	admin   crashUser
	next    atomic.Int64 // users handed out
	names   atomic.Int64 // names made up

	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
	mail     *smtpSink // where the server's notices go

	cmd     *exec.Cmd
	running bool
	exited  chan error
	log     *os.File
	killing atomic.Bool  // set before the kill: transport errors from then on are expected
	answers atomic.Int64 // requests answered as expected
}

// await waits for n more requests to be answered as expected, for a
// minute at most, and not once the test has failed.
func (s *crashSite) await(n int64) {
	s.t.Helper()
	want := s.answers.Load() + n
	for deadline := time.Now().Add(time.Minute); s.answers.Load() < want && !s.t.Failed(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Errorf("the load did not get going: %d of %d answers in a minute", s.answers.Load(), want)
		}
	}
}

// newCrashSite writes a configuration for a fixed loopback port, and
// seeds the database as the server would find it: n users each with an
// authenticator app, an admin, and a confidential client.
func newCrashSite(t *testing.T, bin string, n int) *crashSite {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &crashSite{t: t, bin: bin, cfgFile: filepath.Join(dir, "gatehouse.yaml"), mail: newSMTPSink(t)}
	s.cfg.Listen = ln.Addr().String()
	ln.Close() // every start listens here again: the issuer names the port
	s.cfg.DataDir = filepath.Join(dir, "data")
	s.configure(s.mail.addr.Port)
	if s.cfg, err = loadConfig(flagSet("serve", io.Discard), []string{"--config", s.cfgFile}, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s.running {
			s.cmd.Process.Kill()
			<-s.exited
		}
		s.log.Close()
	})

	store, err := bbolt.Open(dbPath(s.cfg), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	if err := bootstrap(ctx, store, s.cfg, newHasher(s.cfg), now, io.Discard); err != nil {
		t.Fatal(err)
	}
	root, err := findOrgUnit(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	s.rootID = root.ID
	add := totpUserMaker(t, store, s.cfg, root.ID, now)
	s.admin = add("crash-admin", storage.RoleBinding{Role: storage.RoleGlobalAdmin, OrgUnitID: root.ID})
	for i := range n {
		s.users = append(s.users, add(fmt.Sprint("worker", i)))
	}
	secret, secretHash := provider.NewSecret()
	c := storage.Client{ID: "crash-app", Name: "Crash app", SecretHash: secretHash, RedirectURIs: []string{"https://rp.example/cb"},
		GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}, MinimumACR: "pwd", CreatedAt: now}
	if err := store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	s.oauth = &oauth2.Config{ClientID: c.ID, ClientSecret: secret, RedirectURL: c.RedirectURIs[0],
		Endpoint: oauth2.Endpoint{AuthURL: s.cfg.Issuer + "/authorize", TokenURL: s.cfg.Issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}}
	return s
}

// configure writes the configuration file, sending mail to the SMTP
// server on smtpPort; the next start reads it.
func (s *crashSite) configure(smtpPort int) {
	s.t.Helper()
	yaml := fmt.Sprintf(`issuer: http://%s
listen: %s
data_dir: %s
demo: {enabled: false}
password: {memory_kib: 8192, iterations: 1}
limits: {auth_requests_per_minute: 1000000}
log: {level: warn, format: text}
smtp: {host: 127.0.0.1, port: %d, tls: none, from: gatehouse@example.org}
`, s.cfg.Listen, s.cfg.Listen, s.cfg.DataDir, smtpPort)
	if err := os.WriteFile(s.cfgFile, []byte(yaml), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// start runs the server and waits until it is ready: it must come up on
// whatever the last kill left, with no repair.
func (s *crashSite) start() {
	s.t.Helper()
	s.killing.Store(false)
	s.cmd = exec.Command(s.bin, "serve", "--config", s.cfgFile)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.running = true
	exited := make(chan error, 1)
	s.exited = exited
	go func() { exited <- s.cmd.Wait() }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(s.cfg.Issuer + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			s.running = false
			s.t.Fatalf("gatehouse exited while starting: %v\n%s", err, s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("gatehouse not ready after a minute\n%s", s.logTail())
		}
	}
	if s.verifier == nil {
		p, err := oidc.NewProvider(context.Background(), s.cfg.Issuer)
		if err != nil {
			s.t.Fatal(err)
		}
		s.oauth.Endpoint = p.Endpoint()
		s.oauth.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		s.verifier = p.Verifier(&oidc.Config{ClientID: s.oauth.ClientID})
	}
}

// kill sends SIGKILL and waits for the process to end.
func (s *crashSite) kill() {
	s.t.Helper()
	s.killing.Store(true)
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	<-s.exited
	s.running = false
}

// stop shuts the server down as an operator would, with SIGTERM: it must
// exit cleanly.
func (s *crashSite) stop() {
	s.t.Helper()
	s.killing.Store(true)
	s.cmd.Process.Signal(syscall.SIGTERM)
	err := <-s.exited
	s.running = false
	if err != nil {
		s.t.Fatalf("gatehouse did not exit cleanly on SIGTERM: %v\n%s", err, s.logTail())
	}
}

func (s *crashSite) logTail() string {
	b, _ := os.ReadFile(s.log.Name())
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// checkLog fails the test on a race or a panic the server reported.
func (s *crashSite) checkLog() {
	b, _ := os.ReadFile(s.log.Name())
	for _, bad := range []string{"WARNING: DATA RACE", "panic:"} {
		if i := strings.Index(string(b), bad); i >= 0 {
			s.t.Errorf("the server's log has %q:\n%s", bad, b[i:min(len(b), i+4000)])
		}
	}
}

// backup runs `gatehouse backup` against the running server.
func (s *crashSite) backup() string {
	s.t.Helper()
	dest := filepath.Join(s.t.TempDir(), "backup.db")
	if out, err := exec.Command(s.bin, "backup", "--config", s.cfgFile, dest).CombinedOutput(); err != nil {
		s.t.Fatalf("backup under load: %v\n%s", err, out)
	}
	return dest
}

// outcome is what a client can know of a request it sent.
type outcome int

const (
	done    outcome = iota // answered as expected
	unsent                 // the connection was refused: it never arrived
	unknown                // lost in the kill: it may or may not have happened
	failed                 // a wrong answer, or a transport error with no kill: the test has failed
)

// outcomeOf classifies a request's error and, if there was none, its
// answer by want.
func (s *crashSite) outcomeOf(what string, err error, p page, want func(page) bool) outcome {
	switch {
	case err != nil && !s.killing.Load():
		s.t.Errorf("%s: %v, with no kill under way", what, err)
		return failed
	case errors.Is(err, syscall.ECONNREFUSED):
		return unsent
	case err != nil:
		return unknown
	case !want(p):
		s.t.Errorf("%s: unexpected answer, status %d:\n%.2000s", what, p.status(), p.body)
		return failed
	}
	s.answers.Add(1)
	return done
}

// crashBrowser is a user agent that reports transport errors instead of
// failing the test: some are expected here.
type crashBrowser struct {
	s      *crashSite
	ctx    context.Context
	client *http.Client
}

func (s *crashSite) newBrowser(ctx context.Context) *crashBrowser {
	jar, _ := cookiejar.New(nil)
	return &crashBrowser{s: s, ctx: ctx, client: &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "rp.example" {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

func (b *crashBrowser) do(method, target string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if strings.HasPrefix(target, "/") {
		target = b.s.cfg.Issuer + target
	}
	req, err := http.NewRequestWithContext(b.ctx, method, target, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != target {
		// The request was answered, with a redirect, and following it
		// failed: what the request asked for may have happened, so the
		// error must not read as one that never arrived.
		return page{}, fmt.Errorf("after a redirect: %v", err)
	}
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return page{resp: resp, body: string(raw)}, err
}

// ledger is what the clients were told, to be checked after the kill.
type ledger struct {
	mu       sync.Mutex
	chains   []*chain
	sessions []*crashBrowser
	methods  map[string]map[string]bool // user ID → method name → there (acknowledged added) or not (removed)
	created  []string                   // usernames the admin was told were created
	owed     []notice                   // notices of every acknowledged change, all rounds
	stats    struct{ chains, methods, created int }
}

// chain is one sign-in's code and refresh tokens, as the app knows them.
type chain struct {
	code, verifier string
	redeemed       bool     // the code was exchanged (else it was issued and never sent)
	current        string   // the refresh token that should work, or "" if a refresh was lost
	rotated        []string // refresh tokens replaced by acknowledged rotations
}

func (l *ledger) add(c *chain, b *crashBrowser) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chains = append(l.chains, c)
	l.sessions = append(l.sessions, b)
}

// method records that u's method name was added or removed, and the
// notice owed for it, or, when the outcome is unknown, forgets it.
func (l *ledger) method(u crashUser, name string, o outcome, change string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.methods == nil {
		l.methods = map[string]map[string]bool{}
	}
	if l.methods[u.ID] == nil {
		l.methods[u.ID] = map[string]bool{}
	}
	switch o {
	case done:
		l.methods[u.ID][name] = change == "added"
		l.owed = append(l.owed, notice{u.Email, "Authenticator app (" + name + "), was " + change})
	case unknown:
		delete(l.methods[u.ID], name)
	}
}

// notice is an email owed for an acknowledged change: to whom, and a
// phrase of its text.
type notice struct{ to, says string }

func (l *ledger) userCreated(username string) {
	l.mu.Lock()
	l.created = append(l.created, username)
	l.mu.Unlock()
}

func (l *ledger) createdSoFar() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.created)
}

// crashSignIn is a browser with a session, and the code the sign-in got.
type crashSignIn struct {
	browser *crashBrowser
	chain   *chain
}

// signIn runs a whole sign-in, password and authenticator app, for the
// app, in a new browser. It returns nil if the sign-in was cut short.
func (s *crashSite) signIn(u crashUser) *crashSignIn {
	return s.signInCtx(context.Background(), u)
}

func (s *crashSite) signInCtx(ctx context.Context, u crashUser) *crashSignIn {
	b := s.newBrowser(ctx)
	c := &chain{verifier: oauth2.GenerateVerifier()}
	state := storage.NewID()
	p, err := b.do(http.MethodGet, s.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(c.verifier)), nil)
	if s.outcomeOf("authorize", err, p, func(p page) bool { return strings.Contains(p.body, `name="password"`) }) != done {
		return nil
	}
	f := p.form()
	f.Set("username", u.Username)
	f.Set("password", alicePassword)
	p, err = b.do(http.MethodPost, "/login/password", f)
	if s.outcomeOf("password", err, p, func(p page) bool { return strings.Contains(p.body, `action="/login/second-factor"`) }) != done {
		return nil
	}
	code, err := totp.GenerateCode(u.totpKey, time.Now())
	if err != nil {
		s.t.Error(err)
		return nil
	}
	f = p.form()
	f.Set("code", code)
	p, err = b.do(http.MethodPost, "/login/second-factor", f)
	if s.outcomeOf("second factor", err, p, func(p page) bool {
		return p.location().Host == "rp.example" && p.location().Query().Get("state") == state && p.location().Query().Get("code") != ""
	}) != done {
		return nil
	}
	c.code = p.location().Query().Get("code")
	return &crashSignIn{browser: b, chain: c}
}

// userWork signs users in, one new user each time, exchanges the code,
// refreshes twice, and adds and removes an authenticator app, until ctx
// ends or a request is lost to the kill.
func (s *crashSite) userWork(ctx context.Context, l *ledger) {
	for ctx.Err() == nil {
		i := int(s.next.Add(1)) - 1
		if i >= len(s.users) {
			s.t.Errorf("all %d users have signed in: raise crashUsers", len(s.users))
			return
		}
		u := s.users[i]
		in := s.signInCtx(ctx, u)
		if in == nil {
			return
		}
		c := in.chain
		l.add(c, in.browser)
		tok, err := s.oauth.Exchange(ctx, c.code, oauth2.VerifierOption(c.verifier))
		switch s.outcomeOf("exchange", err, page{}, func(page) bool { return tok.RefreshToken != "" }) {
		case done:
			c.redeemed, c.current = true, tok.RefreshToken
		case unknown:
			c.code = "" // it may or may not have been redeemed
			return
		default:
			return
		}
		for range 2 {
			next, o := s.refresh(ctx, c.current)
			switch o {
			case done:
				c.rotated, c.current = append(c.rotated, c.current), next
				continue
			case unknown:
				c.current = ""
			}
			return
		}
		if !s.addAndRemoveApp(in.browser, u, l) {
			return
		}
	}
}

// refresh redeems a refresh token with the app's credentials.
func (s *crashSite) refresh(ctx context.Context, token string) (string, outcome) {
	tok, err := s.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: token}).Token()
	o := s.outcomeOf("refresh", err, page{}, func(page) bool { return tok.RefreshToken != "" && tok.RefreshToken != token })
	if o != done {
		return "", o
	}
	return tok.RefreshToken, o
}

var removeForm = `<input type="hidden" name="method" value="([^"]+)"><button type="submit" class="secondary">Remove<span class="visually-hidden"> Authenticator app %s</span>`

// addApp adds an authenticator app named name on Security info and says
// how it went, with the page it ended on: Security info, once added. Only
// the last step adds it, so a step before it that fails adds nothing.
func (s *crashSite) addApp(b *crashBrowser, name string) (page, outcome) {
	p, err := b.do(http.MethodGet, "/security/add/totp", nil)
	if o := s.outcomeOf("add page", err, p, func(p page) bool { return p.form().Get("csrf") != "" }); o != done {
		return p, o
	}
	f := p.form()
	f.Set("name", name)
	p, err = b.do(http.MethodPost, "/security/add/totp", f)
	if o := s.outcomeOf("add", err, p, func(p page) bool { return enrolKey(p.body) != "" }); o != done {
		return p, o
	}
	code, _ := totp.GenerateCode(enrolKey(p.body), time.Now())
	f = p.form()
	f.Set("code", code)
	p, err = b.do(http.MethodPost, "/security/add/totp/finish", f)
	return p, s.outcomeOf("add finish", err, p, func(p page) bool { return strings.Contains(p.body, "Method added.") })
}

// addAndRemoveApp adds an authenticator app on Security info, then
// removes it, recording each acknowledged change.
func (s *crashSite) addAndRemoveApp(b *crashBrowser, u crashUser, l *ledger) bool {
	name := fmt.Sprint("Crash ", s.names.Add(1))
	p, o := s.addApp(b, name)
	l.method(u, name, o, "added")
	if o != done {
		return false
	}
	m := regexp.MustCompile(fmt.Sprintf(removeForm, regexp.QuoteMeta(name))).FindStringSubmatch(p.body)
	if m == nil {
		s.t.Errorf("no Remove button for %q on Security info:\n%s", name, p.body)
		return false
	}
	p, err := b.do(http.MethodPost, "/security/remove", url.Values{"csrf": {p.form().Get("csrf")}, "method": {m[1]}})
	o = s.outcomeOf("remove", err, p, func(p page) bool { return strings.Contains(p.body, "Method removed.") })
	l.method(u, name, o, "removed")
	return o == done
}

// adminWork creates users on the admin pages until ctx ends or a request
// is lost to the kill.
func (s *crashSite) adminWork(ctx context.Context, b *crashBrowser, l *ledger) {
	b = &crashBrowser{s: s, ctx: ctx, client: b.client}
	for ctx.Err() == nil {
		p, err := b.do(http.MethodGet, "/admin/users/new", nil)
		if s.outcomeOf("new user page", err, p, func(p page) bool { return p.form().Get("csrf") != "" }) != done {
			return
		}
		username := fmt.Sprint("created", s.names.Add(1))
		f := url.Values{"csrf": {p.form().Get("csrf")}, "username": {username}, "display_name": {"Created " + username},
			"email": {username + "@example.org"}, "org_unit": {s.rootID}}
		p, err = b.do(http.MethodPost, "/admin/users", f)
		if s.outcomeOf("create user", err, p, func(p page) bool { return strings.Contains(p.body, " was created") }) != done {
			return
		}
		l.userCreated(username)
	}
}

// checkFile runs bbolt's consistency check on the data directory's file
// as the kill left it, then checks the acknowledged writes are in it.
func (s *crashSite) checkFile(dataDir string, l *ledger) {
	s.t.Helper()
	path := filepath.Join(dataDir, "gatehouse.db")
	boltCheck(s.t, path)
	store, err := bbolt.Open(path, bbolt.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	for _, name := range l.created {
		if _, err := store.GetUserByUsername(ctx, name); err != nil {
			s.t.Errorf("user %s, acknowledged as created, after the kill: %v", name, err)
		}
	}
	for userID, want := range l.methods {
		list, err := store.ListUserMethods(ctx, userID)
		if err != nil {
			s.t.Fatal(err)
		}
		for name, present := range want {
			if slices.ContainsFunc(list, func(m storage.Method) bool { return m.Name == name }) != present {
				s.t.Errorf("user %s's method %q: there = %v after the kill, but the user was told %v", userID, name, !present, present)
			}
		}
	}
	l.stats.created, l.stats.methods = len(l.created), len(l.methods)
	clear(l.methods)
	s.checkAudited(store)
}

// checkAudited checks that no change is in the file without its audit
// event, and no event without its change, whatever the kill interrupted:
// the users the admin created, and the methods the users added and
// removed. And no user's preferred method is one that is gone.
func (s *crashSite) checkAudited(store storage.Storage) {
	s.t.Helper()
	ctx := context.Background()
	// events is the methods or users that succeeding events of action name.
	events := func(action string) map[string]bool {
		list, err := store.ListAudit(ctx, storage.AuditQuery{Action: action, Outcome: storage.OutcomeSuccess})
		if err != nil {
			s.t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, e := range list {
			if action != "user.created" || strings.HasPrefix(e.Details["username"], "created") {
				ids[cmp.Or(e.Details["method_id"], e.Subject)] = true
			}
		}
		return ids
	}
	created, added, removed := events("user.created"), events("mfa.method_added"), events("mfa.method_removed")
	users := map[string]bool{}
	for cursor := ""; ; {
		page, err := store.ListUsers(ctx, cursor, 1000)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, u := range page.Users {
			if strings.HasPrefix(u.Username, "created") {
				users[u.ID] = true
			}
		}
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if !maps.Equal(users, created) {
		s.t.Errorf("users created by the admin %v, and their user.created events %v, differ", slices.Sorted(maps.Keys(users)), slices.Sorted(maps.Keys(created)))
	}
	there := map[string]bool{}
	for _, u := range s.users[:min(int(s.next.Load()), len(s.users))] {
		list, err := store.ListUserMethods(ctx, u.ID)
		if err != nil {
			s.t.Fatal(err)
		}
		for _, m := range list {
			there[m.ID] = true
			if strings.HasPrefix(m.Name, "Crash ") && (!added[m.ID] || removed[m.ID]) {
				s.t.Errorf("method %s (%q) is there, with added event %v and removed event %v", m.ID, m.Name, added[m.ID], removed[m.ID])
			}
		}
		if got, err := store.GetUser(ctx, u.ID); err != nil {
			s.t.Fatal(err)
		} else if got.PreferredMethod != "" && !slices.ContainsFunc(list, func(m storage.Method) bool { return m.ID == got.PreferredMethod }) {
			s.t.Errorf("user %s prefers method %s, which is gone", u.Username, got.PreferredMethod)
		}
	}
	for id := range added {
		if !there[id] && !removed[id] {
			s.t.Errorf("method %s has its added event, but is not there and has no removed event", id)
		}
	}
	for id := range removed {
		if there[id] {
			s.t.Errorf("method %s has its removed event, but is there", id)
		}
	}
}

// checkNotices waits for an email of every change acknowledged in any
// round: the notice was stored with the change, so no kill loses it. A
// notice claimed by a sender that was killed waits for its lease (45
// seconds) to run out: the wait is two minutes at most.
func (s *crashSite) checkNotices(l *ledger) {
	s.t.Helper()
	missing := l.owed
	for deadline := time.Now().Add(2 * time.Minute); len(missing) > 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mails := s.mail.mails()
		missing = slices.DeleteFunc(missing, func(n notice) bool {
			return slices.ContainsFunc(mails, func(m string) bool {
				text := readable(s.t, m)
				return strings.HasPrefix(text, "to "+n.to+"\n") && strings.Contains(text, n.says)
			})
		})
	}
	for _, n := range missing {
		s.t.Errorf("no email to %s saying %q, of a change acknowledged before a kill", n.to, n.says)
	}
	s.t.Logf("%d notices owed, %d emails received", len(l.owed), len(s.mail.mails()))
}

// checkSentNotices checks that every email sent tells of a change that
// was made: its Message-ID names a notice stored with its change. (A kill
// between a send and its record sends the notice again, with the same
// Message-ID, so a mail client shows it once.)
func (s *crashSite) checkSentNotices() {
	s.t.Helper()
	store, err := bbolt.Open(dbPath(s.cfg), bbolt.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	defer store.Close()
	for _, m := range s.mail.mails() {
		_, raw, _ := strings.Cut(m, "\n")
		msg, err := mail.ReadMessage(strings.NewReader(raw))
		if err != nil {
			s.t.Fatal(err)
		}
		id, _, _ := strings.Cut(strings.Trim(msg.Header.Get("Message-ID"), "<>"), "@")
		if _, err := store.GetNotification(context.Background(), id); err != nil {
			s.t.Errorf("an email sent, %s, is of no stored notice: %v", msg.Header.Get("Message-ID"), err)
		}
	}
}

// boltCheck runs bbolt's Tx.Check on the file, read-only.
func boltCheck(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check of %s: %v", path, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// verify checks, against the restarted server, what the clients of the
// last round were told: sessions still sign their browsers in, an issued
// code never sent redeems, the current refresh token of each chain works,
// and rotated tokens and redeemed codes are refused.
func (s *crashSite) verify(l *ledger, admin *crashSignIn) {
	s.t.Helper()
	ctx := context.Background()
	for _, b := range append(l.sessions, admin.browser) {
		b.ctx = ctx
		p, err := b.do(http.MethodGet, "/security", nil)
		if err != nil {
			s.t.Fatal(err)
		}
		if !strings.Contains(p.body, "<h1>Security info</h1>") {
			s.t.Errorf("a session acknowledged before the kill, after it: status %d:\n%.2000s", p.status(), p.body)
		}
	}
	for _, c := range l.chains {
		switch {
		case c.code != "" && !c.redeemed:
			if _, err := s.oauth.Exchange(ctx, c.code, oauth2.VerifierOption(c.verifier)); err != nil {
				s.t.Errorf("a code issued before the kill, and never sent, does not redeem after it: %v", err)
			}
			continue
		case c.current != "":
			if _, o := s.refresh(ctx, c.current); o != done {
				s.t.Errorf("the current refresh token of a chain does not work after the kill")
			}
		}
		for _, old := range c.rotated {
			if _, err := s.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: old}).Token(); !isInvalidGrant(err) {
				s.t.Errorf("a rotated refresh token after the kill: %v, want invalid_grant", err)
			}
		}
		if c.redeemed {
			if _, err := s.oauth.Exchange(ctx, c.code, oauth2.VerifierOption(c.verifier)); !isInvalidGrant(err) {
				s.t.Errorf("a redeemed code after the kill: %v, want invalid_grant", err)
			}
		}
	}
	l.stats.chains = len(l.chains)
	l.chains, l.sessions = nil, nil
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

// checkBackup checks the backup taken under load: bbolt's check passes,
// the users acknowledged before it began are in it, and, with the MFA key
// copied beside it (a backup holds the database, not the key file), it
// serves a sign-in as a data directory of its own.
func (s *crashSite) checkBackup(backup string, created []string) {
	s.t.Helper()
	dir := filepath.Join(s.t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	for _, f := range []struct{ from, to string }{{backup, "gatehouse.db"}, {s.cfg.mfaKeyFile(), "mfa.key"}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.to), b, 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	var l ledger
	l.created = created
	s.checkFile(dir, &l)
	if len(created) == 0 {
		s.t.Error("no user was created before the backup: nothing to look for in it")
	}
	s.cfgFile = filepath.Join(filepath.Dir(dir), "gatehouse.yaml")
	yaml := fmt.Sprintf("issuer: %s\nlisten: %s\ndata_dir: %s\ndemo: {enabled: false}\nlog: {level: warn, format: text}\n", s.cfg.Issuer, s.cfg.Listen, dir)
	if err := os.WriteFile(s.cfgFile, []byte(yaml), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.start()
	in := s.signIn(s.users[len(s.users)-1])
	if in == nil {
		s.t.Fatal("no sign-in on the backup")
	}
	tok, err := s.oauth.Exchange(context.Background(), in.chain.code, oauth2.VerifierOption(in.chain.verifier))
	if err != nil {
		s.t.Fatalf("exchange on the backup: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if _, err := s.verifier.Verify(context.Background(), raw); err != nil {
		s.t.Errorf("the backup's ID token: %v", err)
	}
	s.stop()
}
