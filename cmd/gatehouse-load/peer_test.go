package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// peerModule is the peer compare.sh measures Gatehouse against.
const peerModule = "github.com/zitadel/oidc/v3/example/server@v3.51.17"

// startPeer installs zitadel/oidc's example OP (go install, so the first
// run needs the module proxy) and runs it on a free port with users
// user0 … user<users-1>, all with password pw, until it answers discovery.
// It returns the issuer.
func startPeer(t *testing.T, users int, pw string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("installs and runs zitadel/oidc's example OP")
	}
	dir := t.TempDir()
	install := exec.Command("go", "install", peerModule)
	install.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", peerModule, err, out)
	}
	byID := map[string]map[string]any{}
	for i := range users {
		id := fmt.Sprint("u", i)
		byID[id] = map[string]any{"ID": id, "Username": fmt.Sprint("user", i), "Password": pw, "Email": id + "@example.org"}
	}
	usersFile := filepath.Join(dir, "users.json")
	raw, _ := json.Marshal(byID)
	if err := os.WriteFile(usersFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command(filepath.Join(dir, "server"))
	cmd.Env = append(os.Environ(), "PORT="+port, "REDIRECT_URI=http://127.0.0.1:1/cb", "USERS_FILE="+usersFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill() // it handles no signals
		cmd.Wait()
	})
	issuer := "http://localhost:" + port
	waitForDiscovery(t, issuer)
	return issuer
}

// TestZitadelExampleOP drives the peer through every workload compare.sh
// runs at it, signing in on its own login form: nothing may fail.
func TestZitadelExampleOP(t *testing.T) {
	const pw = "a load test password"
	issuer := startPeer(t, 10, pw)
	web := []string{"-issuer", issuer, "-client-id", "web", "-client-secret", "secret", "-login", "zitadel-example",
		"-redirect-uri", "http://127.0.0.1:1/cb", "-password", pw, "-users", "10"}
	for _, tc := range []struct {
		scenario string
		args     []string
	}{
		{"client_credentials", []string{"-issuer", issuer, "-client-id", "sid1", "-client-secret", "verysecret"}},
		{"introspect", append(web, "-introspect-token", "signin")},
		{"refresh", web},
		{"signin", append(web, "-argon2", "8192,1,1")},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var out bytes.Buffer
			err := run(t.Context(), append([]string{"-scenario", tc.scenario, "-concurrency", "4", "-requests", "40", "-duration", "1m", "-summary"},
				tc.args...), &out, func(string) string { return "" })
			if err != nil || !strings.Contains(out.String(), "errors     none") || !strings.Contains(out.String(), "summary scenario="+tc.scenario+" ") {
				t.Errorf("%v\n%s", err, out.String())
			}
		})
	}
}
