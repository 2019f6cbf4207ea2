package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
