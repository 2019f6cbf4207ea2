package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-id/gatehouse/storage"
)

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(flagSet("serve", stderr), args, getenv)
	if err != nil {
		return invalidConfig(err)
	}
	logger := newLogger(cfg, stderr)
	slog.SetDefault(logger) // op logs through the default logger
	m := newMetrics(prometheus.NewRegistry())
	// Watching the store costs a stat of its file per commit: only for
	// metrics someone reads.
	var watch storage.Observer
	if cfg.Metrics.Listen != "" {
		watch = m
	}
	store, err := openStore(ctx, cfg, logger, watch)
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now()
	if err := bootstrap(ctx, store, cfg, newHasher(cfg), now, stdout); err != nil {
		return err
	}
	if cfg.Demo.Enabled {
		if err := ensureDemoClient(ctx, store, cfg.Demo.URL, now); err != nil {
			return err
		}
	}
	srv, err := newServer(ctx, cfg, store, m, logger, time.Now)
	if err != nil {
		return err
	}

	// Deferred after store.Close, so it runs first: on every way out, the
	// servers and maintenance stop before the database closes.
	g := &group{logger: logger, errc: make(chan error, 4)}
	defer g.stop()
	ln, err := net.Listen("tcp", cfg.listenAddr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	g.serve(newHTTPServer(withDeadline(srv.handler), logger), ln, cfg.TLS.CertFile, cfg.TLS.KeyFile)
	logger.Info("gatehouse is serving", "issuer", cfg.Issuer, "listen", ln.Addr().String(),
		"discovery", cfg.Issuer+"/.well-known/openid-configuration")

	// Metrics go on a listener of their own, never the public one: they
	// are unauthenticated, and say how busy and how attacked Gatehouse is.
	if cfg.Metrics.Listen != "" {
		mln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics listen: %w", err)
		}
		g.serve(newHTTPServer(m.handler(logger), logger), mln, "", "")
		logger.Info("metrics are serving", "url", "http://"+mln.Addr().String()+"/metrics")
	}

	// The control socket lets `gatehouse backup` copy the bbolt file while
	// this server holds its lock. Only this user can reach it.
	if cfg.Storage.Driver == driverPostgres {
		// PostgreSQL is backed up with its own tools.
	} else if ctl, err := listenControl(controlSocket(cfg)); err != nil {
		logger.Warn("no control socket; online backup unavailable", "err", err)
	} else {
		defer os.Remove(controlSocket(cfg))
		cs := newHTTPServer(controlHandler(store, logger), logger)
		cs.WriteTimeout = 0 // a backup of a large file takes a while
		g.serve(cs, ctl, "", "")
	}

	if cfg.Demo.Enabled {
		// After the provider is up: the demo reads its discovery document.
		d, err := newDemo(ctx, cfg.Issuer, cfg.Demo.URL, &http.Client{Timeout: 10 * time.Second}, logger)
		if err != nil {
			return err
		}
		dln, err := net.Listen("tcp", cfg.Demo.Listen)
		if err != nil {
			return fmt.Errorf("demo listen: %w", err)
		}
		g.serve(newHTTPServer(d.handler(), logger), dln, "", "")
		logger.Info("demo relying party is serving", "url", cfg.Demo.URL)
		fmt.Fprintf(stdout, "  Open %s and click Sign in.\n\n", cfg.Demo.URL)
	}

	mctx, stopMaintenance := context.WithCancel(ctx)
	defer stopMaintenance()
	g.wg.Go(func() { srv.maintain(mctx) })
	if srv.sender != nil {
		g.wg.Go(func() { srv.sender.Run(mctx, notifyInterval) })
	}

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return nil
	case err := <-g.errc:
		logger.Error("server failed", "err", err)
		return err
	}
}

// group runs HTTP servers and stops them together.
type group struct {
	logger  *slog.Logger
	servers []*http.Server
	wg      sync.WaitGroup
	errc    chan error
}

func (g *group) serve(s *http.Server, ln net.Listener, certFile, keyFile string) {
	g.servers = append(g.servers, s)
	g.wg.Go(func() {
		var err error
		if certFile != "" {
			err = s.ServeTLS(ln, certFile, keyFile)
		} else {
			err = s.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			select {
			case g.errc <- err:
			default:
			}
		}
	})
}

// stop lets in-flight requests finish for up to 15 seconds, then closes
// what is left, and waits for every goroutine of the group.
func (g *group) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range g.servers {
		if err := s.Shutdown(ctx); err != nil {
			g.logger.Warn("forcing server closed", "err", err)
			s.Close()
		}
	}
	g.wg.Wait()
}

// requestDeadline bounds what a request of the provider's may wait for,
// under newHTTPServer's 30-second write timeout: a request held up (by a
// database that stopped answering rather than refused, or a queue for
// password hashing) gives up in time to send its page (503) instead of
// having its connection cut.
const requestDeadline = 20 * time.Second

func withDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestDeadline)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// invalidConfig words a configuration failure so every problem shows,
// one per line.
func invalidConfig(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("invalid configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
}

func demoCommand(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(flagSet("demo", stderr), args, getenv)
	if err != nil {
		return invalidConfig(err)
	}
	logger := newLogger(cfg, stderr)
	d, err := newDemo(ctx, cfg.Issuer, cfg.Demo.URL, &http.Client{Timeout: 10 * time.Second}, logger)
	if err != nil {
		return err
	}
	s := newHTTPServer(d.handler(), logger)
	ln, err := net.Listen("tcp", cfg.Demo.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	logger.Info("demo relying party is serving", "url", cfg.Demo.URL, "issuer", cfg.Issuer)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	}()
	if err := s.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
