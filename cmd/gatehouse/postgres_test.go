package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
)

// TestServePostgres: with storage.driver postgres, two servers (replicas,
// sharing one MFA key) serve from one database: the first makes the admin,
// the second finds it; both answer ready; the command line works beside
// them, with no lock to wait for. A DSN that cannot connect fails start-up
// in one line, and backup points to PostgreSQL's own tools.
func TestServePostgres(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	key := filepath.Join(t.TempDir(), "mfa.key")
	flags := func(extra ...string) []string {
		return append([]string{"--storage.driver", "postgres", "--storage.dsn", dsn, "--mfa.key-file", key, "--data-dir", t.TempDir(),
			"--demo.enabled=false", "--log.level", "error"}, extra...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outs []*bytes.Buffer
	for i := range 2 {
		port := freePort(t)
		var out bytes.Buffer
		outs = append(outs, &out)
		served := make(chan error, 1)
		go func() {
			served <- run(ctx, append([]string{"serve"}, flags("--listen", "127.0.0.1:"+port, "--issuer", "http://localhost:"+port)...),
				strings.NewReader(""), &out, &bytes.Buffer{}, func(string) string { return "" })
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("replica %d: serve: %v", i, err)
			}
		})
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			resp, err := http.Get("http://127.0.0.1:" + port + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("replica %d is not ready: %v", i, err)
			}
		}
	}
	if !strings.Contains(outs[0].String(), "one-time password:") || strings.Contains(outs[1].String(), "one-time password:") {
		t.Errorf("the admin's one-time password: first replica printed %q, second %q; want the first alone", outs[0].String(), outs[1].String())
	}

	if out, err := gatehouse(t, ctx, append([]string{"user", "add", "--username", "alice", "--name", "Alice"}, flags()...)...); err != nil {
		t.Fatalf("user add beside running replicas: %v\n%s", err, out)
	}
	if out, err := gatehouse(t, ctx, append([]string{"user", "list"}, flags()...)...); err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "admin") {
		t.Errorf("user list: %v\n%s", err, out)
	}

	out, err := gatehouse(t, ctx, "serve", "--storage.driver", "postgres", "--storage.dsn", "postgres://gatehouse@127.0.0.1:1/none?connect_timeout=2",
		"--data-dir", t.TempDir(), "--listen", "127.0.0.1:0")
	if err == nil || !strings.Contains(err.Error(), "storage.dsn: cannot use the PostgreSQL database") || strings.Contains(err.Error(), "\n") {
		t.Errorf("serve with a DSN that cannot connect: %v\n%s", err, out)
	}
	if _, err := gatehouse(t, ctx, append([]string{"backup"}, flags(filepath.Join(t.TempDir(), "copy"))...)...); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup with the postgres driver: %v", err)
	}
}

// freePort is a loopback port nothing listens on, just now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// TestBootstrapTogether: replicas making their first start on one
// database at the same moment make one root unit and one admin between
// them, and one of them tells of it.
func TestBootstrapTogether(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	cfg := defaultConfig()
	cfg.Password.MemoryKiB, cfg.Password.Iterations = 8*1024, 1
	const replicas = 4
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		store, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		wg.Go(func() { errs[i] = bootstrap(t.Context(), store, cfg, newHasher(cfg), time.Now(), &outs[i]) })
	}
	wg.Wait()
	told := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
		}
		if strings.Contains(outs[i].String(), "one-time password:") {
			told++
		}
	}
	store, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	units, _ := store.ListOrgUnits(t.Context())
	users, _ := store.ListUsers(t.Context(), "", 0)
	if told != 1 || len(units) != 1 || len(users.Users) != 1 {
		t.Errorf("%d replicas told of an admin; %d org units, %d users; want one each", told, len(units), len(users.Users))
	}
}

// TestDatabaseLost: with the database down, the sign-in pages answer 503
// with a page saying to try again (and /readyz says not ready); nothing
// is half-made, so the browser holds no session; when the database is
// back, the same sign-in goes on from where it stopped. A database that
// stops answering, rather than refusing, gets the same page once the
// request's deadline passes, before the server's write timeout would cut
// the connection.
func TestDatabaseLost(t *testing.T) {
	t.Parallel() // it waits out a request's deadline
	cluster := pgtest.NewCluster(t)
	link := pgtest.NewLink(t, cluster)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	port := freePort(t)
	cfg := defaultConfig()
	cfg.Issuer, cfg.Storage.Driver, cfg.Storage.DSN = "http://localhost:"+port, driverPostgres, link.DSN
	cfg.Password.MemoryKiB, cfg.Password.Iterations = 8*1024, 1
	store, err := openStore(ctx, cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), time.Now(), io.Discard); err != nil {
		t.Fatal(err)
	}
	root, err := findOrgUnit(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := newHasher(cfg).Hash(ctx, alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := store.CreateUser(ctx, storage.User{ID: storage.NewID(), Username: "alice", PasswordHash: hash, OrgUnitID: root.ID,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}); err != nil {
		t.Fatal(err)
	}
	_, secretHash := provider.NewSecret()
	if err := store.CreateClient(ctx, storage.Client{ID: "app", Name: "App", SecretHash: secretHash, RedirectURIs: []string{"https://rp.example/cb"},
		GrantTypes: []string{provider.GrantAuthorizationCode}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	store.Close()

	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--storage.driver", "postgres", "--storage.dsn", link.DSN, "--data-dir", t.TempDir(),
			"--listen", "127.0.0.1:" + port, "--issuer", cfg.Issuer, "--demo.enabled=false", "--log.level", "error",
			"--password.memory-kib", "8192", "--password.iterations", "1"},
			strings.NewReader(""), io.Discard, io.Discard, func(string) string { return "" })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	status := func(path string) int {
		resp, err := http.Get(cfg.Issuer + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for start := time.Now(); status("/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the server is not ready")
		}
	}

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "rp.example" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	get := func(target string) page {
		resp, err := browser.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return page{resp: resp, body: string(body)}
	}
	authorize := func(prompt string) page {
		q := url.Values{"client_id": {"app"}, "redirect_uri": {"https://rp.example/cb"}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		if prompt != "" {
			q.Set("prompt", prompt)
		}
		return get(cfg.Issuer + "/authorize?" + q.Encode())
	}
	login := authorize("")
	form := login.form()
	form.Set("username", "alice")
	form.Set("password", alicePassword)
	submit := func() page {
		resp, err := browser.PostForm(cfg.Issuer+"/login/password", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return page{resp: resp, body: string(body)}
	}

	cluster.Stop()
	p := submit()
	if p.status() != http.StatusServiceUnavailable || p.resp.Header.Get("Retry-After") == "" || !strings.Contains(p.body, "Try again shortly") {
		t.Errorf("password with the database down: status %d, Retry-After %q, want 503 with a page saying to try again:\n%.1500s",
			p.status(), p.resp.Header.Get("Retry-After"), p.body)
	}
	if got := status("/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database down: %d, want 503", got)
	}
	if p := authorize(""); p.status() != http.StatusServiceUnavailable || !strings.Contains(p.body, "Try again shortly") {
		t.Errorf("a new sign-in with the database down: status %d, want 503 with a page saying to try again:\n%.1500s", p.status(), p.body)
	}
	for _, path := range []string{"/security", "/admin"} {
		if got := get(cfg.Issuer + path).status(); got != http.StatusServiceUnavailable && got != http.StatusOK {
			t.Errorf("%s with the database down: %d, want 503 or a sign-in page", path, got)
		}
	}

	cluster.Start(t)
	for start := time.Now(); status("/readyz") != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the server did not become ready again")
		}
	}
	if q := authorize("none").location().Query(); q.Get("error") != "login_required" {
		t.Errorf("after the outage, prompt=none: %v, want login_required (no session was made)", q)
	}

	link.Stall(true)
	start := time.Now()
	p = submit()
	if p.status() != http.StatusServiceUnavailable || !strings.Contains(p.body, "Try again shortly") {
		t.Errorf("password with the database stalled: status %d, want 503 with a page saying to try again:\n%.1500s", p.status(), p.body)
	}
	if took := time.Since(start); took > requestDeadline+5*time.Second {
		t.Errorf("the stalled request was answered after %v, want about %v", took, requestDeadline)
	}
	link.Stall(false)

	if p := submit(); p.location().Query().Get("code") == "" {
		t.Errorf("the same sign-in after the database returned: status %d, want a code for the app:\n%.1500s", p.status(), p.body)
	}
}
