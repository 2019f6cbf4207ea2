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
)

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg, err := loadConfig(flagSet("serve", stderr), args, getenv)
	if err != nil {
		return invalidConfig(err)
	}
	logger := newLogger(cfg, stderr)
	store, err := openStore(cfg, logger)
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
	srv, err := newServer(ctx, cfg, store, logger, time.Now)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.listenAddr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	servers := []*http.Server{newHTTPServer(srv.handler, logger)}
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	serve := func(s *http.Server, ln net.Listener, tls bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if tls {
				err = s.ServeTLS(ln, cfg.TLS.CertFile, cfg.TLS.KeyFile)
			} else {
				err = s.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	serve(servers[0], ln, cfg.TLS.CertFile != "")
	logger.Info("gatehouse is serving", "issuer", cfg.Issuer, "listen", ln.Addr().String(),
		"discovery", cfg.Issuer+"/.well-known/openid-configuration")

	// The control socket lets `gatehouse backup` copy the database while
	// this server holds its lock. Only this user can reach it.
	ctl, err := listenControl(controlSocket(cfg))
	if err != nil {
		logger.Warn("no control socket; online backup unavailable", "err", err)
	} else {
		cs := newHTTPServer(controlHandler(store, logger), logger)
		cs.WriteTimeout = 0 // a backup of a large file takes a while
		servers = append(servers, cs)
		serve(cs, ctl, false)
		defer os.Remove(controlSocket(cfg))
	}

	if cfg.Demo.Enabled {
		d, err := newDemo(ctx, cfg.Issuer, cfg.Demo.URL, &http.Client{Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		dln, err := net.Listen("tcp", cfg.Demo.Listen)
		if err != nil {
			return fmt.Errorf("demo listen: %w", err)
		}
		servers = append(servers, newHTTPServer(d.handler(), logger))
		serve(servers[len(servers)-1], dln, false)
		logger.Info("demo relying party is serving", "url", cfg.Demo.URL)
		fmt.Fprintf(stdout, "  Open %s and click Sign in.\n\n", cfg.Demo.URL)
	}

	mctx, stopMaintenance := context.WithCancel(ctx)
	go srv.maintain(mctx)

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err = <-errc:
		logger.Error("server failed", "err", err)
	}
	stopMaintenance()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	wg.Wait()
	return err
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
	d, err := newDemo(ctx, cfg.Issuer, cfg.Demo.URL, &http.Client{Timeout: 10 * time.Second})
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
