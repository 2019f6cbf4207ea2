package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// gatehouse is a real Gatehouse server, built from this checkout and run
// on a loopback port with its data in a temporary directory.
type gatehouse struct {
	t       *testing.T
	bin     string
	dataDir string
	issuer  string
	metrics string // its metrics listener's URL
	cmd     *exec.Cmd
}

func newGatehouse(t *testing.T) *gatehouse {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("build the server: %v\n%s", err, out)
	}
	return &gatehouse{t: t, bin: bin, dataDir: filepath.Join(dir, "data"), issuer: "http://" + freeAddr(t), metrics: "http://" + freeAddr(t) + "/metrics"}
}

// freeAddr is a loopback address no one listens on, just now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// command runs a gatehouse subcommand against the data directory.
func (g *gatehouse) command(args ...string) string {
	g.t.Helper()
	out, err := exec.Command(g.bin, append(args, "--data-dir", g.dataDir)...).CombinedOutput()
	if err != nil {
		g.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs the server (cheap password hashes, no demo app) until it
// answers discovery.
func (g *gatehouse) start() {
	g.t.Helper()
	g.cmd = exec.Command(g.bin, "--data-dir", g.dataDir, "--listen", strings.TrimPrefix(g.issuer, "http://"), "--issuer", g.issuer,
		"--demo.enabled=false", "--password.memory-kib", "8192", "--password.iterations", "1", "--log.level", "error",
		"--metrics.listen", strings.TrimSuffix(strings.TrimPrefix(g.metrics, "http://"), "/metrics"))
	g.cmd.Stderr = os.Stderr
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(g.stop)
	waitForDiscovery(g.t, g.issuer)
}

// waitForDiscovery waits for a server just started to answer discovery.
func waitForDiscovery(t *testing.T, issuer string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(issuer + "/.well-known/openid-configuration"); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("%s did not answer within 30 s", issuer)
}

func (g *gatehouse) stop() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(os.Interrupt)
		g.cmd.Wait()
		g.cmd = nil
	}
}

// storagePerOp is the report's line of the server's storage work: some
// writes, commits and fsyncs for every sign-in or refresh; none for an
// introspection.
var storagePerOp = map[string]*regexp.Regexp{
	"signin":     regexp.MustCompile(`storage per operation  [1-9][0-9.]* writes, [1-9][0-9.]* commits, [1-9][0-9.]* fsyncs`),
	"refresh":    regexp.MustCompile(`storage per operation  [1-9][0-9.]* writes, [1-9][0-9.]* commits, [1-9][0-9.]* fsyncs`),
	"introspect": regexp.MustCompile(`storage per operation  0.0 writes, 0.0 commits, 0.0 fsyncs`),
}

var clientLine = regexp.MustCompile(`client_id: (\S+)\nclient_secret: (\S+)`)

// TestSignInAndRefresh drives a real Gatehouse: seeded users with an
// authenticator app each sign in (password, code, exchange) as a browser
// and an app do, then refresh their tokens, and a signed-in user's token is
// introspected by its app; nothing is refused.
func TestSignInAndRefresh(t *testing.T) {
	g := newGatehouse(t)
	g.start() // the first start makes the database and its root org unit
	g.stop()
	m := clientLine.FindStringSubmatch(g.command("client", "add", "--name", "load", "--redirect-uri", "http://127.0.0.1:1/cb",
		"--grant", "authorization_code", "--grant", "refresh_token"))
	if m == nil {
		t.Fatal("no client id and secret")
	}
	const pw = "a load test password"
	var out bytes.Buffer
	if err := run(t.Context(), []string{"seed", "-data-dir", g.dataDir, "-users", "50", "-password", pw, "-totp-seed", "s"}, &out, os.Getenv); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if !strings.Contains(out.String(), "50 users added") {
		t.Errorf("seed says:\n%s", out.String())
	}
	g.start()

	// Each run its own users: a code is spent for its 30 seconds.
	// The summary counts what the scenario measures: refresh's 4 sign-ins
	// (one a client) are only its set-up.
	for _, tc := range []struct{ scenario, first, users, ok string }{
		{"signin", "0", "40", "40"}, {"refresh", "40", "9", "36"}, {"introspect", "49", "1", "40"},
	} {
		scenario := tc.scenario
		out.Reset()
		err := run(context.Background(), []string{"-issuer", g.issuer, "-client-id", m[1], "-client-secret", m[2], "-scenario", scenario,
			"-redirect-uri", "http://127.0.0.1:1/cb", "-password", pw, "-totp-seed", "s", "-first-user", tc.first, "-users", tc.users,
			"-introspect-token", "signin", // for introspect: a signed-in user's token, as compare.sh asks both servers
			"-concurrency", "4", "-requests", "40", "-duration", "1m", "-argon2", "8192,1,1", "-summary", "-metrics", g.metrics}, &out, os.Getenv)
		if err != nil || !strings.Contains(out.String(), "requests   40,") || !strings.Contains(out.String(), "errors     none") ||
			!strings.Contains(out.String(), "summary scenario="+scenario+" ok="+tc.ok+" ") || !storagePerOp[scenario].MatchString(out.String()) {
			t.Errorf("%s: %v\n%s", scenario, err, out.String())
		}
		if scenario == "signin" && !strings.Contains(out.String(), "% of the ceiling") {
			t.Errorf("signin: no argon2id ceiling:\n%s", out.String())
		}
	}
}
