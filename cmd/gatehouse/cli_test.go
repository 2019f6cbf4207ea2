package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// gatehouse runs the command line as a user would, with no environment.
func gatehouse(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(ctx, args, strings.NewReader(""), &out, &errOut, func(string) string { return "" })
	return out.String() + errOut.String(), err
}

// TestCLIUserAddBeforeFirstStart: user add on a new data directory makes
// the root org unit for the user (it used to refuse), and says that no
// global admin exists yet unless it made one.
func TestCLIUserAddBeforeFirstStart(t *testing.T) {
	ctx := context.Background()
	data := "--data-dir=" + t.TempDir()
	out, err := gatehouse(t, ctx, "user", "add", data, "--username", "dora", "--name", "Dora")
	if err != nil || !strings.Contains(out, "created user dora") || !strings.Contains(out, "in Organisation") || !strings.Contains(out, "no global admin yet") {
		t.Fatalf("user add on a new data directory: %v\n%s", err, out)
	}
	out, err = gatehouse(t, ctx, "user", "add", data, "--username", "erin", "--name", "Erin", "--role", "global_admin")
	if err != nil || strings.Contains(out, "no global admin yet") {
		t.Errorf("user add of a global admin: %v\n%s", err, out)
	}
}

// TestCLIPasswordFile: scripted provisioning gives the first password on
// stdin or in a file. It passes the password policy like any other, is
// still changed at first sign-in, and the audit log says it was given.
func TestCLIPasswordFile(t *testing.T) {
	ctx := context.Background()
	cfg := defaultConfig()
	cfg.DataDir = t.TempDir()
	run := func(stdin string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append(append([]string{"user", "add", "--data-dir=" + cfg.DataDir}, args...), "--name", "Fay Field"), strings.NewReader(stdin), &out, &errOut, func(string) string { return "" })
		return out.String() + errOut.String(), err
	}
	for _, weak := range []string{"password\n", "fayfield1\n", "\n"} {
		if out, err := run(weak, "--username", "fay", "--password-file", "-"); err == nil || !strings.Contains(err.Error(), "--password-file") {
			t.Errorf("first password %q: %v\n%s", weak, err, out)
		}
	}
	const first = "correct horse battery staple\r\n"
	out, err := run(first, "--username", "fay", "--password-file", "-")
	if err != nil || strings.Contains(out, "one-time password:") || !strings.Contains(out, "must be changed at first sign-in") {
		t.Fatalf("a strong first password on stdin: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("violet tractor moonlight ferry"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run("", "--username", "gil", "--password-file", file); err != nil {
		t.Fatalf("a first password in a file: %v\n%s", err, out)
	}

	store, err := bbolt.Open(filepath.Join(cfg.DataDir, "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fay, err := store.GetUserByUsername(ctx, "fay")
	if err != nil || !fay.MustChangePassword {
		t.Fatalf("fay after user add: %v, must change %v", err, fay.MustChangePassword)
	}
	if ok, _, _ := newHasher(cfg).Verify(ctx, fay.PasswordHash, strings.TrimSpace(first)); !ok {
		t.Error("fay's stored password is not the one given")
	}
	events, _ := store.ListAudit(ctx, storage.AuditQuery{Subject: fay.ID, Action: "user.created"})
	if len(events) != 1 || events[0].Actor != "cli" || events[0].Details["first_password"] != "given" {
		t.Errorf("audit of the provisioning: %+v", events)
	}
}

// startedDataDir is a data directory after the first start, with seed (if
// any) run on its store, for the commands to use.
func startedDataDir(t *testing.T, seed func(ctx context.Context, store storage.Storage, root storage.OrgUnit)) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := bbolt.Open(filepath.Join(dir, "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := defaultConfig()
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), time.Now(), &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if seed != nil {
		root, err := findOrgUnit(ctx, store, "")
		if err != nil {
			t.Fatal(err)
		}
		seed(ctx, store, root)
	}
	return dir
}

func TestCLIUsersAndClients(t *testing.T) {
	ctx := context.Background()
	dir := startedDataDir(t, nil)
	data := "--data-dir=" + dir

	out, err := gatehouse(t, ctx, "user", "add", data, "--username", "Carol", "--email", "Carol@Example.org", "--name", "Carol C")
	if err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`one-time password: [A-Z2-7]{26}`).MatchString(out) {
		t.Errorf("user add did not print a one-time password:\n%s", out)
	}
	// The admin pages' rules: a name, a username no one has.
	if _, err := gatehouse(t, ctx, "user", "add", data, "--username", "carol"); err == nil ||
		!strings.Contains(err.Error(), "--username: That username is taken") || !strings.Contains(err.Error(), "--name: Enter the user's name") {
		t.Errorf("duplicate username (case-insensitive), no name: err = %v", err)
	}
	out, err = gatehouse(t, ctx, "user", "list", data)
	if err != nil || !strings.Contains(out, "carol") || !strings.Contains(out, "carol@example.org") || !strings.Contains(out, "admin") {
		t.Errorf("user list: %v\n%s", err, out)
	}
	out, err = gatehouse(t, ctx, "user", "set-password", data, "--username", "carol")
	if err != nil || !strings.Contains(out, "one-time password for carol") {
		t.Errorf("user set-password: %v\n%s", err, out)
	}

	out, err = gatehouse(t, ctx, "client", "add", data, "--id", "payroll", "--name", "Payroll", "--redirect-uri", "https://payroll.example/callback")
	if err != nil || !regexp.MustCompile(`client_secret: \S{40,}`).MatchString(out) {
		t.Errorf("client add: %v\n%s", err, out)
	}
	out, err = gatehouse(t, ctx, "client", "add", data, "--id", "spa", "--name", "SPA", "--public", "--redirect-uri", "http://localhost:3000/cb")
	if err != nil || strings.Contains(out, "client_secret") {
		t.Errorf("public client add: %v\n%s", err, out)
	}
	_, err = gatehouse(t, ctx, "client", "add", data, "--id", "x", "--redirect-uri", "http://evil.example/cb", "--redirect-uri", "https://evil.example/*", "--grant", "implicit", "--min-acr", "high")
	for _, want := range []string{"--id:", "--name is required", "http is allowed only for localhost", "wildcards are not allowed", `--grant: "implicit"`, `--min-acr: "high"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad client: err = %v, want it to contain %q", err, want)
		}
	}
	out, err = gatehouse(t, ctx, "client", "list", data)
	if err != nil || !strings.Contains(out, "payroll") || !strings.Contains(out, "spa") || !strings.Contains(out, "public") {
		t.Errorf("client list: %v\n%s", err, out)
	}

	// The access token format: opaque by default, jwt for client_credentials.
	for _, tc := range []struct {
		id   string
		args []string
		want string // stored
		err  string
	}{
		{"svc-opaque", []string{"--grant", "client_credentials"}, storage.AccessTokenOpaque, ""},
		{"svc-opaque2", []string{"--grant", "client_credentials", "--access-token-format", "opaque"}, storage.AccessTokenOpaque, ""},
		{"svc-jwt", []string{"--grant", "client_credentials", "--access-token-format", "jwt"}, storage.AccessTokenJWT, ""},
		{"svc-bad", []string{"--grant", "client_credentials", "--access-token-format", "JWT"}, "", `--access-token-format: "JWT" is not opaque or jwt`},
		{"web-jwt", []string{"--redirect-uri", "https://web.example/cb", "--access-token-format", "jwt"}, "", "--access-token-format: jwt applies to client_credentials tokens only"},
	} {
		out, err := gatehouse(t, ctx, append([]string{"client", "add", data, "--id", tc.id, "--name", tc.id}, tc.args...)...)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("client add %s: err = %v, want it to contain %q\n%s", tc.id, err, tc.err, out)
			}
			continue
		}
		if err != nil {
			t.Errorf("client add %s: %v\n%s", tc.id, err, out)
		}
	}
	store, err := bbolt.Open(filepath.Join(dir, "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for id, want := range map[string]string{"svc-opaque": storage.AccessTokenOpaque, "svc-opaque2": storage.AccessTokenOpaque, "svc-jwt": storage.AccessTokenJWT} {
		if c, err := store.GetClient(ctx, id); err != nil || c.AccessTokenFormat != want {
			t.Errorf("client %s: format %q (%v), want %q", id, c.AccessTokenFormat, err, want)
		}
	}
	for _, id := range []string{"svc-bad", "web-jwt"} {
		if _, err := store.GetClient(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("refused client %s stored: %v", id, err)
		}
	}
}

// TestServeLockBackup runs the real serve command, then checks that other
// commands report the lock clearly and that backup works online.
func TestServeLockBackup(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // an existing data directory others could enter
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	var serveOut bytes.Buffer
	go func() {
		served <- run(ctx, []string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--demo.enabled=false", "--log.level", "error"},
			strings.NewReader(""), &serveOut, &bytes.Buffer{}, func(string) string { return "" })
	}()
	sock := filepath.Join(dir, "control.sock")
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			cancel()
			t.Fatalf("server did not start: %v", <-served)
		}
	}
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("the data directory holding the control socket: %v, %v; want 0700", info.Mode(), err)
	}
	if !strings.Contains(serveOut.String(), "one-time password:") {
		t.Errorf("first start did not print the admin's one-time password")
	}

	out, err := gatehouse(t, context.Background(), "user", "list", "--data-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "in use by a running Gatehouse server") {
		t.Errorf("user list while serving: err = %v\n%s", err, out)
	}

	backup := filepath.Join(t.TempDir(), "copy.db")
	out, err = gatehouse(t, context.Background(), "backup", "--data-dir", dir, backup)
	if err != nil || !strings.Contains(out, "wrote") {
		t.Fatalf("online backup: %v\n%s", err, out)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}

	// The copy is a working database with the bootstrap admin in it.
	copyDB, err := bbolt.Open(backup, bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer copyDB.Close()
	if _, err := copyDB.GetUserByUsername(context.Background(), "admin"); err != nil {
		t.Errorf("admin in backup: %v", err)
	}
	// With the server stopped, backup opens the file directly.
	if out, err := gatehouse(t, context.Background(), "backup", "--data-dir", dir, filepath.Join(t.TempDir(), "offline.db")); err != nil {
		t.Errorf("offline backup: %v\n%s", err, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, err := gatehouse(t, context.Background(), "frobnicate"); err == nil {
		t.Error("unknown command accepted")
	}
}

// TestBootstrapRecoversFromAFailedFirstStart: a first start that failed
// after the root org unit was made still gets its admin next time.
func TestBootstrapRecoversFromAFailedFirstStart(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	if err := store.CreateOrgUnit(ctx, storage.OrgUnit{ID: "root", Name: "Organisation", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	var out bytes.Buffer
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), now, &out); err != nil {
		t.Fatal(err)
	}
	u, err := store.GetUserByUsername(ctx, "admin")
	if err != nil || u.OrgUnitID != "root" || !strings.Contains(out.String(), "one-time password") {
		t.Errorf("admin after a half-done first start: %+v, %v", u, err)
	}
	if ous, _ := store.ListOrgUnits(ctx); len(ous) != 1 {
		t.Errorf("%d org units, want the one root", len(ous))
	}
}

// TestREADMEFlagsExist keeps the README from promising a flag that no
// command takes: every --flag it shows is one some gatehouse command lists
// in its -h.
func TestREADMEFlagsExist(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, cmd := range [][]string{
		{"serve"}, {"demo"}, {"backup"}, {"user", "add"}, {"user", "list"}, {"user", "set-password"}, {"client", "add"}, {"client", "list"}, {"app", "add"}, {"app", "list"}, {"migrate"},
	} {
		out, _ := gatehouse(t, context.Background(), append(cmd, "-h")...)
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9.-]*)`).FindAllStringSubmatch(out, -1) {
			defined[m[1]] = true
		}
	}
	if !defined["data-dir"] || !defined["redirect-uri"] {
		t.Fatalf("the -h output was not read: %v", defined)
	}
	// Flags of the other tools the README runs: docker compose, npm,
	// vacuumdb and the load tool's compare.sh and replicas.sh (whose flags
	// are read from the scripts).
	others := map[string]bool{"build": true, "profile": true, "no-save": true, "prefix": true, "analyze": true}
	for _, name := range []string{"compare.sh", "replicas.sh"} {
		script, err := os.ReadFile("../gatehouse-load/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z-]+)\)`).FindAllStringSubmatch(string(script), -1) {
			others[m[1]] = true
		}
	}
	for _, m := range regexp.MustCompile(`--([a-z][a-z0-9.-]*[a-z0-9])`).FindAllStringSubmatch(string(readme), -1) {
		if !defined[m[1]] && !others[m[1]] {
			t.Errorf("README shows --%s, which no gatehouse command takes", m[1])
		}
	}
}

// TestBootstrapAdminOneTimePasswordExpires: the first start's one-time
// password says when it expires and how to get a new one, expires like any
// other, and `gatehouse user set-password` is the way back in.
func TestBootstrapAdminOneTimePasswordExpires(t *testing.T) {
	ctx := context.Background()
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cfg := defaultConfig()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), now, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"works until 30 Nov 2026 12:00 UTC", "gatehouse user set-password --username admin"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the first start's message lacks %q:\n%s", want, out.String())
		}
	}

	e := newEnv(t)
	lifetime := e.server.cfg.Password.OneTimeLifetime
	if u := mustUser(t, e, "admin"); !u.MustChangePassword || !u.OneTimePasswordExpiresAt.Equal(e.clock.Now().Add(lifetime)) {
		t.Errorf("bootstrap admin: must change %v, expires %v; want true, %v", u.MustChangePassword, u.OneTimePasswordExpiresAt, e.clock.Now().Add(lifetime))
	}
	e.setPassword("admin", "one-time password 1") // the printed one went to io.Discard
	e.clock.Advance(lifetime)
	b := e.newBrowser()
	p := b.submitPassword(b.get(e.issuer+"/admin"), "admin", "one-time password 1")
	if p.status() != http.StatusForbidden || !strings.Contains(p.body, "This one-time password has expired.") {
		t.Errorf("the expired first-start password: status %d, want 403 and the reason:\n%s", p.status(), p.body)
	}

	out.Reset()
	if err := setPassword(ctx, e.server.cfg, e.store, &out, &out, "admin", e.clock.Now); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`one-time password for admin: ([A-Z2-7]{26})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("user set-password printed no one-time password:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "works until "+formatExpiry(e.clock.Now().Add(lifetime))) {
		t.Errorf("user set-password does not say when the password expires:\n%s", out.String())
	}
	p = b.submitPassword(b.get(e.issuer+"/admin"), "admin", m[1])
	if !strings.Contains(p.body, "Choose a new password") {
		t.Errorf("the new one-time password: want the change-password page, got status %d:\n%s", p.status(), p.body)
	}
}
