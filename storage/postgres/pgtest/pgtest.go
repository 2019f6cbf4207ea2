// Package pgtest gives tests a PostgreSQL database of their own: on the
// server GATEHOUSE_TEST_POSTGRES_DSN names (a role that may create
// databases), or else on a throwaway cluster started, once per test
// binary, from PostgreSQL 15's binaries. Without either, a test asking for
// one skips, unless CI=true, where it fails. A test that stops and starts
// its database starts a cluster of its own (NewCluster).
package pgtest

import (
	"context"
	"fmt"
	"net"
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
		c, err := initCluster()
		if err == nil {
			err = c.start()
		}
		if err != nil {
			server.noServer = err.Error()
			return
		}
		server.dsn, server.stop = c.DSN, c.remove
	})
}

// Stop stops the throwaway cluster, if one was started: for TestMain.
func Stop() {
	if server.stop != nil {
		server.stop()
	}
}

// Cluster is a throwaway PostgreSQL server, in a temporary directory,
// listening only on a unix socket there, run as an unprivileged user when
// the test runs as root (PostgreSQL refuses to run as root). The server is
// the test binary's child, with a parent-death signal, so a test binary
// that crashes leaves no server behind.
type Cluster struct {
	DSN  string // the postgres database, as the superuser postgres
	dir  string
	attr *syscall.SysProcAttr
	cmd  *exec.Cmd
}

// NewCluster starts a cluster of t's own, which t may stop and start
// again (to see what a lost database does), removed when t ends. Without
// PostgreSQL 15 it skips t, unless CI=true, where it fails.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := initCluster()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL to test against: %v", err)
		}
		t.Skipf("no PostgreSQL to test against: %v", err)
	}
	t.Cleanup(c.remove)
	c.Start(t)
	return c
}

// Start starts the server, on the same data and socket as before.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := c.start(); err != nil {
		t.Fatal(err)
	}
}

// Stop shuts the server down at once (PostgreSQL's fast shutdown: open
// connections are broken), keeping its data.
func (c *Cluster) Stop() {
	if c.cmd != nil {
		c.cmd.Process.Signal(syscall.SIGINT)
		c.cmd.Wait()
		c.cmd = nil
	}
}

func (c *Cluster) remove() {
	c.Stop()
	os.RemoveAll(c.dir)
}

// initCluster makes a cluster's directory and data, not yet started.
func initCluster() (c *Cluster, err error) {
	if _, err := os.Stat(filepath.Join(pgBin, "initdb")); err != nil {
		return nil, fmt.Errorf("no PostgreSQL 15 in %s and GATEHOUSE_TEST_POSTGRES_DSN unset", pgBin)
	}
	dir, err := os.MkdirTemp("", "gatehouse-pg-")
	if err != nil {
		return nil, err
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
			return nil, err
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(pgBin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	return &Cluster{DSN: fmt.Sprintf("host=%s user=postgres dbname=postgres sslmode=disable", dir), dir: dir, attr: attr}, nil
}

// start starts the server and waits until it takes connections.
func (c *Cluster) start() error {
	logFile, err := os.OpenFile(filepath.Join(c.dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Durability is not wanted of a throwaway cluster; connections are:
	// the suite's tests each open pools on databases of their own.
	cmd := exec.Command(filepath.Join(pgBin, "postgres"), "-D", filepath.Join(c.dir, "data"), "-k", c.dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200")
	cmd.SysProcAttr = c.attr
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return err
	}
	c.cmd = cmd
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		conn, err := pgx.Connect(context.Background(), c.DSN)
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		if time.Since(start) > 30*time.Second {
			log, _ := os.ReadFile(logFile.Name())
			c.Stop()
			return fmt.Errorf("postgres did not start: %v\n%s", err, log)
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

// Link is a TCP address in front of a cluster's socket that a test may
// stall: then it passes no more bytes either way, on the connections it
// has and on new ones, as a database host that drops packets would (or
// one in the middle of a failover). With the cluster stopped, it takes
// connections and closes them.
type Link struct {
	DSN string // the cluster's postgres database, through the link

	ln      net.Listener
	mu      sync.Mutex
	stalled bool
	resume  chan struct{}
}

// NewLink starts a link to c, closed when t ends.
func NewLink(t testing.TB, c *Cluster) *Link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Link{ln: ln, resume: make(chan struct{}),
		DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", ln.Addr().(*net.TCPAddr).Port)}
	t.Cleanup(func() { ln.Close(); l.Stall(false) })
	socket := filepath.Join(c.dir, ".s.PGSQL.5432")
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				out, err := net.Dial("unix", socket)
				if err != nil {
					in.Close()
					return
				}
				go l.pipe(out, in)
				l.pipe(in, out)
			}()
		}
	}()
	return l
}

// Stall stops (on) or resumes the traffic.
func (l *Link) Stall(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if on == l.stalled {
		return
	}
	l.stalled = on
	if on {
		l.resume = make(chan struct{})
	} else {
		close(l.resume)
	}
}

// pipe copies from src to dst, holding each read while the link stalls.
func (l *Link) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		l.mu.Lock()
		stalled, resume := l.stalled, l.resume
		l.mu.Unlock()
		if stalled {
			<-resume
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
