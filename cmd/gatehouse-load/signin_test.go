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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return &gatehouse{t: t, bin: bin, dataDir: filepath.Join(dir, "data"), issuer: "http://" + addr}
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
		"--demo.enabled=false", "--password.memory-kib", "8192", "--password.iterations", "1", "--log.level", "error")
	g.cmd.Stderr = os.Stderr
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(g.stop)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(g.issuer + "/.well-known/openid-configuration"); err == nil {
			resp.Body.Close()
			return
		}
	}
	g.t.Fatal("the server did not answer within 30 s")
}

func (g *gatehouse) stop() {
	if g.cmd != nil && g.cmd.Process != nil {
		g.cmd.Process.Signal(os.Interrupt)
		g.cmd.Wait()
		g.cmd = nil
	}
}

var clientLine = regexp.MustCompile(`client_id: (\S+)\nclient_secret: (\S+)`)

// TestSignInAndRefresh drives a real Gatehouse: seeded users with an
// authenticator app each sign in (password, code, exchange) as a browser
// and an app do, then refresh their tokens; nothing is refused.
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
	for _, tc := range []struct{ scenario, first, users string }{{"signin", "0", "40"}, {"refresh", "40", "10"}} {
		scenario := tc.scenario
		out.Reset()
		err := run(context.Background(), []string{"-issuer", g.issuer, "-client-id", m[1], "-client-secret", m[2], "-scenario", scenario,
			"-redirect-uri", "http://127.0.0.1:1/cb", "-password", pw, "-totp-seed", "s", "-first-user", tc.first, "-users", tc.users,
			"-concurrency", "4", "-requests", "40", "-duration", "1m", "-argon2", "8192,1,1"}, &out, os.Getenv)
		if err != nil || !strings.Contains(out.String(), "requests   40,") || !strings.Contains(out.String(), "errors     none") {
			t.Errorf("%s: %v\n%s", scenario, err, out.String())
		}
		if scenario == "signin" && !strings.Contains(out.String(), "% of the ceiling") {
			t.Errorf("signin: no argon2id ceiling:\n%s", out.String())
		}
	}
}
