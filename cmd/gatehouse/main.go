// Command gatehouse is the Gatehouse OpenID provider: `gatehouse serve` (the
// default) runs it, and the other subcommands manage users, clients and
// protected apps, back up the database and run the demo relying party.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
	"github.com/gatehouse-id/gatehouse/storage/postgres"
)

const usage = `Gatehouse: an OpenID Connect provider with org-unit MFA policy.

Usage:
  gatehouse [serve] [flags]          run the provider (the default)
  gatehouse demo [flags]             run only the demo relying party
  gatehouse user add|list|set-password [flags]
  gatehouse client add|list [flags]
  gatehouse app add|list [flags]     protected apps, behind a proxy's forward-auth
  gatehouse backup [flags] FILE      write a consistent copy of the database
  gatehouse migrate --to postgres|bbolt [flags]
                                     copy the database into an empty one of the other backend

Every command takes the configuration flags; "gatehouse serve -h" lists them.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(ctx, args, stdout, stderr, getenv)
	case "demo":
		return demoCommand(ctx, args, stderr, getenv)
	case "user":
		return userCommand(ctx, args, stdin, stdout, stderr, getenv)
	case "client":
		return clientCommand(ctx, args, stdout, stderr, getenv)
	case "app":
		return appCommand(ctx, args, stdout, stderr, getenv)
	case "backup":
		return backupCommand(ctx, args, stdout, stderr, getenv)
	case "migrate":
		return migrateCommand(ctx, args, stdout, stderr, getenv)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// flagSet returns a FlagSet that reports errors rather than exiting.
func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.Log.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func dbPath(cfg Config) string { return filepath.Join(cfg.DataDir, "gatehouse.db") }

func controlSocket(cfg Config) string { return filepath.Join(cfg.DataDir, "control.sock") }

// Storage drivers (storage.driver).
const (
	driverBbolt    = "bbolt"
	driverPostgres = "postgres"
)

// openStore opens the database the configuration names: the bbolt file,
// saying clearly when a running server holds it (obs, if not nil, is told
// of its transactions and commits); or the PostgreSQL database, saying in
// one line when it cannot be reached.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger, obs storage.Observer) (storage.Storage, error) {
	if cfg.Storage.Driver == driverPostgres {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		db, err := postgres.Open(ctx, cfg.Storage.DSN, postgres.Options{MaxConns: int32(cfg.Storage.MaxConns), Logger: logger, Observer: obs})
		if err != nil {
			return nil, fmt.Errorf("storage.dsn: cannot use the PostgreSQL database: %s", oneLine(err))
		}
		return db, nil
	}
	db, err := bbolt.Open(dbPath(cfg), bbolt.Options{Timeout: time.Second, Logger: logger, Observer: obs})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by a running Gatehouse server; stop it first, or use the admin pages: %w", dbPath(cfg), storage.ErrLocked)
	}
	return db, err
}

// oneLine is err's text on one line, each distinct line once: pgx lists
// every address it tried on a line of its own.
func oneLine(err error) string {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}

func newHasher(cfg Config) *password.Hasher {
	return password.NewHasher(password.Params{
		MemoryKiB: cfg.Password.MemoryKiB, Iterations: cfg.Password.Iterations, Parallelism: cfg.Password.Parallelism,
	}, hashSlots(cfg, debug.SetMemoryLimit(-1)))
}

// hashSlots is how many password hashes may be computed at once:
// password.max_concurrent, but no more than fit in half of memLimit, the
// Go runtime's soft memory limit (GOMEMLIMIT; unset, it is math.MaxInt64),
// each holding password.memory_kib. More would not hash faster: the
// collector would run without pause to stay under the limit.
func hashSlots(cfg Config, memLimit int64) int {
	fit := memLimit / 2 / (int64(cfg.Password.MemoryKiB) * 1024)
	return int(max(1, min(int64(cfg.Password.MaxConcurrent), fit)))
}
