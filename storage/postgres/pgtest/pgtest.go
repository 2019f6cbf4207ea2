// Package pgtest gives tests a PostgreSQL database of their own: on the
// server GATEHOUSE_TEST_POSTGRES_DSN names (a role that may create
// databases), or else on a throwaway cluster started, once per test
// binary, from PostgreSQL 15's binaries. Without either, a test asking for
// one skips, unless CI=true, where it fails.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// server is the one server a test binary's tests share, started by the
// first that asks.
var server struct {
	once      sync.Once
	dsn       string
	stop      func()
	noServer  string // why there is none, when dsn is empty
	databases atomic.Int64
}

func start() {
	server.once.Do(func() {
		server.stop = func() {}
		if server.dsn = os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN"); server.dsn != "" {
			return
		}
		var err error
		if server.dsn, server.stop, err = startCluster(); err != nil {
			server.noServer = err.Error()
		}
	})
}

// Stop stops the throwaway cluster, if one was started: for TestMain.
func Stop() {
	if server.stop != nil {
		server.stop()
	}
}

// startCluster initialises a cluster in a temporary directory and starts
// it, listening only on a unix socket there, as an unprivileged user when
// run as root (PostgreSQL refuses to run as root). The server is the test
// binary's child, with a parent-death signal, so a test binary that
// crashes leaves no server behind.
func startCluster() (dsn string, stop func(), err error) {
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		return "", nil, fmt.Errorf("no PostgreSQL 15 in %s and GATEHOUSE_TEST_POSTGRES_DSN unset", pgBin)
	}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGQUIT}
	if os.Geteuid() == 0 {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			return "", nil, err
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return "", nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return "", nil, err
	}
	defer logFile.Close()
	// Durability is not wanted of a throwaway cluster; connections are:
	// the suite's tests each open pools on databases of their own.
	server := exec.Command(filepath.Join(pgBin, "postgres"), "-D", data, "-k", dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	server.SysProcAttr = attr
	server.Stdout, server.Stderr = logFile, logFile
	if err := server.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		server.Process.Signal(syscall.SIGINT) // fast shutdown
		server.Wait()
		os.RemoveAll(dir)
	}
	dsn = fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", dir)
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			conn.Close(context.Background())
			return dsn, stop, nil
		}
		if time.Since(start) > 30*time.Second {
			log, _ := os.ReadFile(logFile.Name())
			stop()
			return "", nil, fmt.Errorf("postgres did not start: %v\n%s", err, log)
		}
	}
}

// NewDatabase creates an empty database for t, dropped when t ends, and
// returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	start()
	if server.dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL to test against: %s", server.noServer)
		}
		t.Skipf("no PostgreSQL to test against: %s", server.noServer)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, server.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("gatehouse_test_%d_%d", os.Getpid(), server.databases.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, server.dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return WithDatabase(t, server.dsn, name)
}

// WithDatabase is dsn naming database name instead of its own.
func WithDatabase(t testing.TB, dsn, name string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("GATEHOUSE_TEST_POSTGRES_DSN: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name
}
