package main

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// metrics are Gatehouse's Prometheus metrics, on the registry they are
// given (never the global one). Each package says what it will tell
// through an observer interface of its own; these implement them all,
// and count sign-ins, second factors and locks from the audit events,
// which say them already. They are always collected; metrics.listen
// decides whether anyone can read them. The README's Metrics section
// lists every one.
type metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.HistogramVec
	signIns         *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	secondFactors   *prometheus.CounterVec
	challenges      *prometheus.CounterVec
	tokenRequests   *prometheus.CounterVec
	locks           *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	transactions    *prometheus.HistogramVec
	writes          *prometheus.CounterVec
	commits         prometheus.Counter
	commitDurations prometheus.Histogram
	fsyncs          prometheus.Counter
}

var (
	_ storage.Observer  = (*metrics)(nil)
	_ login.Observer    = (*metrics)(nil)
	_ provider.Observer = (*metrics)(nil)
)

// storageBuckets span a cached read (tens of microseconds) to a commit
// stuck behind a file remap (a tenth of a second and more); one fsync'd
// commit is about 0.4 ms.
var storageBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}

func newMetrics(reg *prometheus.Registry) *metrics {
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		reg.MustRegister(c)
		return c
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route (the pattern that served it, never the path) and status code.",
			// Sign-ins wait on argon2id (tens of milliseconds, more when
			// queued); token and introspection answers take a few.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		signIns: f("gatehouse_signin_attempts_total",
			"Passwords entered to sign in, by outcome: success, failure (wrong password or unknown user) or denied (refused by the throttle, disabled account, expired one-time password, or not the user the app asked for).", "outcome"),
		decisions: f("gatehouse_signin_decisions_total",
			"Answers of the sign-in policy to what a sign-in still needs, by outcome (done, challenge, step_up, offer_enrolment, require_enrolment, reauthenticate, login_required, interaction_required, unmet_authentication_requirements); asked at every page of a sign-in.", "outcome"),
		secondFactors: f("gatehouse_second_factor_verifications_total",
			"Second-factor answers at sign-in, by method and outcome: success, failure (wrong, replayed or not yet answered) or denied (throttled, or the challenge's guesses spent).", "method", "outcome"),
		challenges: f("gatehouse_second_factor_challenges_total",
			"Second-factor challenges started at sign-in (codes sent, calls placed, keys asked), by method and outcome: success, failure (it could not start, such as a code not sent) or denied (the user's budget of codes and calls spent).", "method", "outcome"),
		tokenRequests: f("gatehouse_token_requests_total",
			"Token endpoint requests, by grant type (authorization_code, refresh_token, client_credentials or other) and outcome (granted or refused).", "grant_type", "outcome"),
		locks: f("gatehouse_throttle_locks_total",
			"Throttle locks begun, by kind: account (wrong passwords), second_factor (wrong answers for one method) or start (sign-ins started from one address).", "kind"),
		refusals: f("gatehouse_throttle_refusals_total",
			"Attempts refused by the throttle, by kind: address or account (passwords, while locked), in_flight (passwords, while the account's checks in flight were at their bound) or second_factor (while locked).", "kind"),
		transactions: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_storage_transaction_duration_seconds",
			Help:    "Time a storage call waited for its transaction, by kind: read or write (concurrent writes share a commit); queueing and commit included.",
			Buckets: storageBuckets,
		}, []string{"kind"}),
		writes: f("gatehouse_storage_writes_total",
			"Storage calls that write, by operation (create access token, append audit, atomically: a sign-in step's writes together, ...); concurrent ones share commits.", "op"),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_storage_commits_total",
			Help: "Write transactions committed to the database file.",
		}),
		commitDurations: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gatehouse_storage_commit_duration_seconds",
			Help:    "Time a write transaction held the database, from its first write to the end of its commit, fsyncs included.",
			Buckets: storageBuckets,
		}),
		fsyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_storage_fsyncs_total",
			Help: "Flushes of the database file to disk: two a commit (data, then meta), one more when a commit grows the file.",
		}),
	}
	reg.MustRegister(m.requests, m.transactions, m.commits, m.commitDurations, m.fsyncs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchHasher adds the password hashing gauges: hashes computing, hashes
// queued for a slot, and the slots (password.max_concurrent).
func (m *metrics) watchHasher(h *password.Hasher) {
	gauge := func(name, help string, read func(hashing, waiting, slots int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			return float64(read(h.Load()))
		})
	}
	m.registry.MustRegister(
		gauge("gatehouse_password_hashes_in_flight", "Password hashes (argon2id) being computed now.",
			func(hashing, _, _ int) int { return hashing }),
		gauge("gatehouse_password_hashes_waiting", "Password hashes queued for a free slot now.",
			func(_, waiting, _ int) int { return waiting }),
		gauge("gatehouse_password_hash_slots", "Password hashes that may be computed at once (password.max_concurrent).",
			func(_, _, slots int) int { return slots }),
	)
}

// handler serves the metrics at GET /metrics, for the metrics listener
// only: never on the public one.
func (m *metrics) handler(logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError),
		Registry: m.registry, // counts its own errors
	}))
	return mux
}

// Transaction implements storage.Observer.
func (m *metrics) Transaction(kind, op string, took time.Duration) {
	m.transactions.WithLabelValues(kind).Observe(took.Seconds())
	if kind != storage.KindRead {
		m.writes.WithLabelValues(op).Inc()
	}
}

// Committed implements storage.Observer.
func (m *metrics) Committed(took time.Duration, fsyncs int) {
	m.commits.Inc()
	m.commitDurations.Observe(took.Seconds())
	m.fsyncs.Add(float64(fsyncs))
}

// Decided implements login.Observer.
func (m *metrics) Decided(o policy.Outcome) { m.decisions.WithLabelValues(string(o)).Inc() }

// TokenRequest implements provider.Observer.
func (m *metrics) TokenRequest(grantType string, granted bool) {
	outcome := "refused"
	if granted {
		outcome = "granted"
	}
	m.tokenRequests.WithLabelValues(grantType, outcome).Inc()
}

// audited counts what audit event e says. Only values Gatehouse itself
// writes become labels; anything else is "other".
func (m *metrics) audited(e storage.AuditEvent) {
	outcome := oneOf(e.Outcome, storage.OutcomeSuccess, storage.OutcomeFailure, storage.OutcomeDenied)
	method := oneOf(e.Details["method"], storage.MethodTOTP, storage.MethodWebAuthn, storage.MethodEmail,
		storage.MethodSMS, storage.MethodVoice, storage.MethodRecovery, storage.MethodPass)
	switch e.Action {
	case "login.password":
		m.signIns.WithLabelValues(outcome).Inc()
	case "mfa.verify":
		m.secondFactors.WithLabelValues(method, outcome).Inc()
	case "mfa.challenge":
		m.challenges.WithLabelValues(method, outcome).Inc()
	case "login.locked":
		m.locks.WithLabelValues("account").Inc()
	case "mfa.locked":
		m.locks.WithLabelValues("second_factor").Inc()
	case "login.start_throttled":
		m.locks.WithLabelValues("start").Inc()
	}
	switch e.Details["reason"] {
	case "throttled":
		// Refused by a lock: a password's is keyed by address ("ip:...")
		// or account, a second factor's by user and method.
		kind := "other"
		switch {
		case e.Details["key"] == "ip":
			kind = "address"
		case e.Details["key"] == "account":
			kind = "account"
		case strings.HasPrefix(e.Action, "mfa."):
			kind = "second_factor"
		}
		m.refusals.WithLabelValues(kind).Inc()
	case "attempts in flight":
		// Not a lock: the account's checks in flight were at their bound.
		m.refusals.WithLabelValues("in_flight").Inc()
	}
}

func oneOf(v string, known ...string) string {
	if slices.Contains(known, v) {
		return v
	}
	return "other"
}

// observedStore is the store the server uses: each audit event is
// counted as it is appended, so the metrics say what the audit log says,
// from one place.
type observedStore struct {
	storage.Storage
	m *metrics
}

func (s observedStore) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	s.m.audited(e)
	return s.Storage.AppendAudit(ctx, e)
}

// Atomically counts the audit events a transaction appends once it has
// committed (its function may run more than once).
func (s observedStore) Atomically(ctx context.Context, fn func(storage.Tx) error) error {
	var events []storage.AuditEvent
	err := s.Storage.Atomically(ctx, func(tx storage.Tx) error {
		events = events[:0]
		return fn(observedTx{Tx: tx, events: &events})
	})
	if err == nil {
		for _, e := range events {
			s.m.audited(e)
		}
	}
	return err
}

type observedTx struct {
	storage.Tx
	events *[]storage.AuditEvent
}

func (t observedTx) AppendAudit(e storage.AuditEvent) error {
	*t.events = append(*t.events, e)
	return t.Tx.AppendAudit(e)
}

// observeRequests times every request by route and status. route names
// the pattern that served a request, once served; a client chooses the
// path, so it is never a label.
func (m *metrics) observeRequests(route func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &provider.StatusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.Status()
		if status == 0 {
			status = http.StatusOK
		}
		m.requests.WithLabelValues(route(r), strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	})
}
