package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/accesspass"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/factors/recovery"
	"github.com/gatehouse-id/gatehouse/factors/totp"
	"github.com/gatehouse-id/gatehouse/factors/webauthn"
	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// server is the fully wired provider: what `gatehouse serve` runs and what
// the end-to-end tests start on httptest.
type server struct {
	cfg      Config
	store    storage.Storage
	provider *provider.Provider
	login    *login.Handler
	admin    *admin.Service
	hasher   *password.Hasher
	handler  http.Handler
	metrics  *metrics
	// sender delivers the notification outbox; nil where Gatehouse sends
	// neither email nor texts.
	sender *notify.Sender
	logger *slog.Logger
	now    func() time.Time
}

// newServer wires the provider over store, telling m what it does; m is
// the observer store was opened with, too.
func newServer(ctx context.Context, cfg Config, store storage.Storage, m *metrics, logger *slog.Logger, now func() time.Time) (*server, error) {
	pages, err := templates.Parse(logger)
	if err != nil {
		return nil, err
	}
	store = observedStore{Storage: store, m: m}
	hasher := newHasher(cfg)
	if _, _, slots := hasher.Load(); slots < cfg.Password.MaxConcurrent {
		logger.Warn("fewer password hashes at once than password.max_concurrent: half the Go memory limit (GOMEMLIMIT) holds no more",
			"max_concurrent", cfg.Password.MaxConcurrent, "hashes_at_once", slots, "memory_limit", debug.SetMemoryLimit(-1))
	}
	m.watchHasher(hasher)
	proxies, err := clientip.ParseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trusted_proxies: %w", err)
	}
	p, err := provider.New(ctx, provider.Config{
		Issuer: cfg.Issuer,
		Lifetimes: provider.Lifetimes{
			AccessToken:  cfg.Tokens.AccessTokenLifetime,
			IDToken:      cfg.Tokens.IDTokenLifetime,
			RefreshToken: cfg.Tokens.RefreshTokenLifetime,
			RefreshMax:   cfg.Tokens.RefreshTokenMaxAge,
			Code:         cfg.Tokens.CodeLifetime,
			AuthRequest:  cfg.Tokens.AuthRequestLifetime,
		},
		SigningKeyRotation:  cfg.Keys.SigningKeyRotation,
		SigningAlgorithm:    jose.SignatureAlgorithm(cfg.Keys.SigningAlgorithm),
		SigningKeyRetention: cfg.Keys.SigningKeyRetention,
		LoginURL:            login.LoginURL(cfg.Issuer),
		Observer:            m,
		Now:                 now,
		Logger:              logger,
	}, store)
	if err != nil {
		return nil, err
	}
	key, err := factors.LoadOrCreateKey(cfg.mfaKeyFile())
	if err != nil {
		return nil, err
	}
	sealer, err := factors.NewSealer(key)
	if err != nil {
		return nil, err
	}
	passes := &accesspass.Factor{Sealer: sealer, Now: now}
	offered := []factors.Factor{
		&totp.Factor{Issuer: cfg.Organisation.Name, Sealer: sealer, Now: now},
		&recovery.Factor{Now: now},
		passes,
	}
	wa, err := webauthn.New(webauthn.Config{
		RPID: cfg.webAuthnRPID(), RPName: cfg.Organisation.Name, Origins: cfg.webAuthnOrigins(), Methods: store, Now: now,
	})
	switch {
	case err == nil:
		offered = append(offered, wa)
	case cfg.WebAuthn.RPID == "":
		// An issuer on an IP address: WebAuthn needs a domain name.
		logger.WarnContext(ctx, "security keys and passkeys are off: set webauthn.rp_id to a domain name to offer them", "err", err)
	default:
		return nil, err
	}
	deliver := newDelivery(cfg, sealer, store, logger, now)
	offered = append(offered, deliver.factors...)
	registry := factors.NewRegistry(offered...)
	notifier := &notify.Notifier{Org: cfg.Organisation.Name, Helpdesk: cfg.Organisation.Helpdesk, Exceptions: cfg.Issuer + "/admin/exceptions",
		Pages: pages, Email: deliver.mail != nil, Texts: deliver.text != nil, Labels: map[string]string{}}
	if err := notifier.LoadSettings(ctx, store); err != nil {
		return nil, err
	}
	for t, f := range registry {
		notifier.Labels[t] = f.Label()
	}
	lh, err := login.New(ctx, login.Config{
		Issuer:            cfg.Issuer,
		SessionLifetime:   cfg.Session.Lifetime,
		CookieKeyRotation: cfg.Keys.CookieKeyRotation,
		AccountThrottle:   login.DefaultAccountRule,
		IPThrottle:        login.DefaultIPRule,
		MFAThrottle:       login.DefaultMFARule,
		SendThrottle:      login.DefaultSendRule,
		StartRule:         login.RateRule{Limit: cfg.Limits.AuthRequestsPerMinute, Window: time.Minute},
		Proxies:           proxies,
		ServiceWords:      cfg.serviceWords(),
		Organisation:      cfg.Organisation.Name,
		Helpdesk:          cfg.Organisation.Helpdesk,
		MethodOrder:       cfg.Methods.Order,
		OneTimeLifetime:   cfg.Password.OneTimeLifetime,
		Observer:          m,
		Notifier:          notifier,
		Now:               now,
		Logger:            logger,
	}, store, p, hasher, registry, pages)
	if err != nil {
		return nil, err
	}

	p.SetJourney(lh)
	mux := http.NewServeMux()
	lh.Register(mux)
	var methods []templates.Choice
	for _, t := range []string{storage.MethodWebAuthn, storage.MethodTOTP, storage.MethodSMS, storage.MethodVoice, storage.MethodEmail, storage.MethodRecovery} {
		if f, ok := registry[t]; ok {
			methods = append(methods, templates.Choice{Value: t, Label: f.Label()})
		}
	}
	adminSvc := admin.NewService(store, hasher, admin.Config{PhoneRegions: cfg.phoneRegions(), OneTimeLifetime: cfg.Password.OneTimeLifetime,
		ServiceWords: cfg.serviceWords(), Passes: passes, Notifier: notifier, Now: now, Logger: logger})
	admin.NewHandler(adminSvc, lh, pages, methods, proxies).Register(mux)
	mux.Handle("/", lh.BindBrowser(p.Handler()))
	mux.Handle("GET /static/", templates.Static())
	mountDelivery(mux, pages, deliver.outbox, deliver.voice, proxies, logger)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := store.Health(r.Context()); err != nil {
			logger.WarnContext(r.Context(), "not ready", "err", err)
			http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	s := &server{cfg: cfg, store: store, provider: p, login: lh, admin: adminSvc, hasher: hasher, metrics: m, logger: logger, now: now}
	if deliver.mail != nil || deliver.text != nil {
		s.sender = &notify.Sender{Store: store, Notifier: notifier, Mail: deliver.mail, Text: deliver.text, Logger: logger, Now: now}
	}
	s.handler = s.recoverPanics(accessLog(logger, limitBody(mux)))
	if maxAge, on := cfg.hsts(); on {
		s.handler = strictTransport(maxAge, cfg.TLS.CertFile != "", s.handler)
	}
	s.handler = m.observeRequests(routeOf(p), s.handler)
	return s, nil
}

// routeOf names the route that served a request, once mux has routed it
// (ServeMux sets r.Pattern): mux's pattern, or within the provider's
// catch-all, the provider's own.
func routeOf(p *provider.Provider) func(r *http.Request) string {
	return func(r *http.Request) string {
		switch r.Pattern {
		case "/":
			return p.Route(r)
		case "":
			return "unrouted" // answered before routing: a body too large
		}
		return r.Pattern
	}
}

// strictTransport tells browsers to reach Gatehouse only over https for
// maxAge (RFC 6797), on every answer, errors included. Serving TLS itself
// (direct), Gatehouse says so only on a TLS connection: section 7.2 forbids
// it over http. Behind a TLS proxy every request arrives as plain http,
// and the https issuer (config refuses hsts for an http one) says the
// browser's connection is https.
func strictTransport(maxAge time.Duration, direct bool, next http.Handler) http.Handler {
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil || !direct {
			w.Header().Set("Strict-Transport-Security", value)
		}
		next.ServeHTTP(w, r)
	})
}

// maintain, every minute, deletes expired records, makes the approvers'
// digests when due, reads the signing keys again and rotates the cookie
// keys when due (another replica's new keys are held here within a
// minute, well before they sign or seal); and every hour rotates the
// signing keys when due; until ctx ends.
func (s *server) maintain(ctx context.Context) {
	gc := time.NewTicker(time.Minute)
	defer gc.Stop()
	keys := time.NewTicker(time.Hour)
	defer keys.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gc.C:
			n, err := s.store.DeleteExpired(ctx, s.now())
			if err != nil {
				s.logger.ErrorContext(ctx, "delete expired records", "err", err)
			} else if n > 0 {
				s.logger.DebugContext(ctx, "deleted expired records", "count", n)
			}
			if _, err := s.admin.SendDigests(ctx); err != nil {
				s.logger.ErrorContext(ctx, "approvers' digests", "err", err)
			}
			if err := s.provider.RefreshKeys(ctx); err != nil {
				s.logger.ErrorContext(ctx, "refresh signing keys", "err", err)
			}
			if err := s.login.RotateCookieKeys(ctx); err != nil {
				s.logger.ErrorContext(ctx, "rotate cookie keys", "err", err)
			}
		case <-keys.C:
			if err := s.provider.RotateKeys(ctx); err != nil {
				s.logger.ErrorContext(ctx, "rotate signing keys", "err", err)
			}
		}
	}
}

// notifyInterval is how often the notification outbox is looked at; a
// look with nothing due is a read.
const notifyInterval = 2 * time.Second

// maxBody bounds every request body. The largest legitimate one is a token
// request with a long refresh token; forms are far smaller.
const maxBody = 64 << 10

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		next.ServeHTTP(w, r)
	})
}

// accessLog logs method, path and status. Never the query: it carries
// codes, tokens and auth request ids.
func accessLog(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &provider.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		logger.LogAttrs(r.Context(), slog.LevelInfo, "http",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.Status()),
			slog.Duration("duration", time.Since(start)),
		)
	})
}

// recoverPanics turns a panic into a logged error and a plain 500, never a
// stack trace for the client.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
