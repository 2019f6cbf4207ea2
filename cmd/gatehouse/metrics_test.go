package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/storage"
)

// samples are a scrape's values, each keyed by its metric name and
// labels, sorted: gatehouse_token_requests_total{grant_type="refresh_token",outcome="granted"}.
// A histogram gives its _count and _sum.
type samples map[string]float64

func sampleKey(name string, labels ...string) string {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// get is the value of name with labels (name, value pairs); absent is 0.
func (s samples) get(name string, labels ...string) float64 { return s[sampleKey(name, labels...)] }

// labelValues are the values label takes in name's samples.
func (s samples) labelValues(name, label string) []string {
	var out []string
	for key := range s {
		if !strings.HasPrefix(key, name+"{") {
			continue
		}
		for pair := range strings.SplitSeq(strings.TrimSuffix(strings.TrimPrefix(key, name+"{"), "}"), ",") {
			if v, ok := strings.CutPrefix(pair, label+"="); ok {
				out = append(out, strings.Trim(v, `"`))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// scrape reads the Prometheus text exposition at url over HTTP.
func scrape(t *testing.T, url string) samples {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: not the text exposition: %v", url, err)
	}
	s := samples{}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			switch {
			case m.Counter != nil:
				s[sampleKey(name, labels...)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s[sampleKey(name, labels...)] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s[sampleKey(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
				s[sampleKey(name+"_sum", labels...)] = m.GetHistogram().GetSampleSum()
			case m.Untyped != nil:
				s[sampleKey(name, labels...)] = m.GetUntyped().GetValue()
			}
		}
	}
	return s
}

// auditCount is how many events of action the audit log holds.
func (e *env) auditCount(action, outcome string) float64 {
	e.t.Helper()
	events, err := e.store.ListAudit(context.Background(), storage.AuditQuery{Action: action, Outcome: outcome})
	if err != nil {
		e.t.Fatal(err)
	}
	return float64(len(events))
}

// TestMetrics signs users in (one with an authenticator app), grants
// tokens of each type, locks an account, and reads the metrics listener
// over HTTP: each counter moved by what was done, and the sign-in counts
// agree with the audit log.
func TestMetrics(t *testing.T) {
	e := newSeededEnv(t, nil, func(c *Config) { c.Metrics.Listen = "127.0.0.1:0" })
	e.addUser("alice", alicePassword)
	e.addUser("bob", "bobs password 1")
	app := e.addRP("app", false)
	svc := e.addRP("svc", false, "client_credentials")

	// alice: a password sign-in, its code exchanged and refreshed.
	b := e.newBrowser()
	a := app.authorize()
	tok, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.refresh(tok.RefreshToken); err != nil {
		t.Fatal(err)
	}

	// bob: adds an authenticator app, then signs in with it, one wrong
	// code first.
	bob := e.newBrowser()
	a = app.authorize()
	bob.signIn(app, a, "bob", "bobs password 1")
	secret := bob.enrolTOTP("Phone")
	e.clock.Advance(30 * time.Second) // the enrolment code's step is spent
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p := bob.submitPassword(bob.get(a.url), "bob", "bobs password 1")
	if wrong := bob.passChallenge(p, "000000"); wrong.status() != http.StatusUnauthorized {
		t.Fatalf("wrong code: status %d, want 401", wrong.status())
	}
	if _, err := app.exchange(a, bob.codeFrom(bob.passChallenge(p, e.totpCode(secret)), a)); err != nil {
		t.Fatal(err)
	}

	// A service's token, and one refused for a wrong secret.
	cc := clientcredentials.Config{ClientID: "svc", ClientSecret: svc.secret, TokenURL: svc.provider.Endpoint().TokenURL}
	if _, err := cc.Token(svc.ctx()); err != nil {
		t.Fatal(err)
	}
	cc.ClientSecret = "wrong"
	if _, err := cc.Token(svc.ctx()); err == nil {
		t.Fatal("a wrong client secret got a token")
	}

	// Wrong passwords for alice until her account locks, and one more.
	mallory := e.newBrowser()
	_, p = e.startSignIn(mallory, app)
	for i := 0; p.status() != http.StatusTooManyRequests; i++ {
		if i == 50 {
			t.Fatal("50 wrong passwords and no lock")
		}
		p = mallory.submitPassword(p, "alice", "wrong password")
	}
	if p = mallory.submitPassword(p, "alice", "wrong password"); p.status() != http.StatusTooManyRequests {
		t.Fatalf("locked account: status %d, want 429", p.status())
	}

	s := scrape(t, e.metricsURL)
	const (
		signIns   = "gatehouse_signin_attempts_total"
		decisions = "gatehouse_signin_decisions_total"
		verified  = "gatehouse_second_factor_verifications_total"
		tokens    = "gatehouse_token_requests_total"
	)
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"sign-ins: success", s.get(signIns, "outcome", "success"), 3},
		{"sign-ins: success, as audited", s.get(signIns, "outcome", "success"), e.auditCount("login.password", storage.OutcomeSuccess)},
		{"sign-ins: failure, as audited", s.get(signIns, "outcome", "failure"), e.auditCount("login.password", storage.OutcomeFailure)},
		{"sign-ins: denied, as audited", s.get(signIns, "outcome", "denied"), e.auditCount("login.password", storage.OutcomeDenied)},
		{"sign-ins completed", s.get(decisions, "outcome", "done"), 3},
		{"TOTP right", s.get(verified, "method", "totp", "outcome", "success"), 1},
		{"TOTP wrong", s.get(verified, "method", "totp", "outcome", "failure"), 1},
		{"TOTP challenges", s.get("gatehouse_second_factor_challenges_total", "method", "totp", "outcome", "success"), 1},
		{"codes exchanged", s.get(tokens, "grant_type", "authorization_code", "outcome", "granted"), 2},
		{"refreshes", s.get(tokens, "grant_type", "refresh_token", "outcome", "granted"), 1},
		{"client credentials", s.get(tokens, "grant_type", "client_credentials", "outcome", "granted"), 1},
		{"client credentials refused", s.get(tokens, "grant_type", "client_credentials", "outcome", "refused"), 1},
		{"account locks, as audited", s.get("gatehouse_throttle_locks_total", "kind", "account"), e.auditCount("login.locked", "")},
		{"token answers timed", s.get("gatehouse_http_request_duration_seconds_count", "route", "/oauth/token", "code", "200"), 4},
		{"hashes computing at rest", s.get("gatehouse_password_hashes_in_flight"), 0},
		{"hashes waiting at rest", s.get("gatehouse_password_hashes_waiting"), 0},
		{"hash slots", s.get("gatehouse_password_hash_slots"), float64(e.server.cfg.Password.MaxConcurrent)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, c := range []struct {
		what string
		got  float64
	}{
		{"wrong passwords", s.get(signIns, "outcome", "failure")},
		{"challenge decisions", s.get(decisions, "outcome", "challenge")},
		{"account locks", s.get("gatehouse_throttle_locks_total", "kind", "account")},
		{"attempts refused by an account lock", s.get("gatehouse_throttle_refusals_total", "kind", "account")},
		{"storage writes timed", s.get("gatehouse_storage_transaction_duration_seconds_count", "kind", "write")},
		{"storage reads timed", s.get("gatehouse_storage_transaction_duration_seconds_count", "kind", "read")},
		{"audit events written", s.get("gatehouse_storage_writes_total", "op", "append audit")},
		{"commits", s.get("gatehouse_storage_commits_total")},
		{"commits timed", s.get("gatehouse_storage_commit_duration_seconds_count")},
		{"Go runtime", s.get("go_goroutines")},
		{"process", s.get("process_start_time_seconds")},
	} {
		if c.got <= 0 {
			t.Errorf("%s = %v, want more than 0", c.what, c.got)
		}
	}
	// Every commit is flushed twice (data, meta), and once more when it
	// grows the file, which a test this size does only a few times.
	commits, fsyncs := s.get("gatehouse_storage_commits_total"), s.get("gatehouse_storage_fsyncs_total")
	if fsyncs < 2*commits || fsyncs > 2*commits+10 {
		t.Errorf("fsyncs = %v for %v commits, want twice as many and a few for growth", fsyncs, commits)
	}
	// Routes are patterns: a client's path (ids, queries) never a label.
	routes := s.labelValues("gatehouse_http_request_duration_seconds_count", "route")
	for _, want := range []string{"/authorize", "/oauth/token", "GET /login", "POST /login/password", "POST /login/second-factor", "GET /authorize/callback"} {
		if !slices.Contains(routes, want) {
			t.Errorf("routes %q lack %q", routes, want)
		}
	}
	for _, r := range routes {
		if strings.ContainsAny(r, "?=") {
			t.Errorf("route %q is a path, not a pattern", r)
		}
	}
	e.wantNoPublicMetrics()
}

// wantNoPublicMetrics checks the public listener serves no metrics.
func (e *env) wantNoPublicMetrics() {
	e.t.Helper()
	resp, err := e.srv.Client().Get(e.issuer + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("gatehouse_")) {
		e.t.Errorf("GET /metrics on the public listener: status %d, body %.200q; want 404 and no metrics", resp.StatusCode, body)
	}
}

// TestMetricsOffByDefault: no metrics listener unless metrics.listen is
// set, and the public listener never serves them.
func TestMetricsOffByDefault(t *testing.T) {
	if got := defaultConfig().Metrics.Listen; got != "" {
		t.Errorf("metrics.listen defaults to %q, want empty: off", got)
	}
	e := newEnv(t)
	if e.metricsURL != "" {
		t.Errorf("a metrics listener at %s with the default configuration", e.metricsURL)
	}
	e.wantNoPublicMetrics()
}

// freeAddr is a loopback address no one listens on, for a moment.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeMetricsListener runs the real serve command with
// metrics.listen set: the metrics are on that address, and not on the
// public one.
func TestServeMetricsListener(t *testing.T) {
	dir := t.TempDir()
	public, metricsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "--data-dir", dir, "--issuer", "http://" + public, "--demo.enabled=false",
			"--log.level", "error", "--metrics.listen", metricsAddr, "--password.memory-kib", "8192", "--password.iterations", "1"},
			strings.NewReader(""), io.Discard, io.Discard, func(string) string { return "" })
	}()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + public + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("server did not start")
		}
	}
	s := scrape(t, "http://"+metricsAddr+"/metrics")
	// Starting wrote the database (the admin, keys): storage was observed.
	if s.get("gatehouse_storage_commits_total") == 0 || s.get("gatehouse_password_hash_slots") == 0 {
		t.Errorf("metrics listener: commits %v, hash slots %v; want both above 0",
			s.get("gatehouse_storage_commits_total"), s.get("gatehouse_password_hash_slots"))
	}
	resp, err := http.Get("http://" + public + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener: status %d, want 404", resp.StatusCode)
	}
}

// TestAuditedCounts: each audit event the metrics count moves its counter
// by one, with labels only from values Gatehouse writes.
func TestAuditedCounts(t *testing.T) {
	ev := func(action, outcome string, details ...string) storage.AuditEvent {
		e := storage.AuditEvent{Action: action, Outcome: outcome, Details: map[string]string{}}
		for i := 0; i+1 < len(details); i += 2 {
			e.Details[details[i]] = details[i+1]
		}
		return e
	}
	for _, tc := range []struct {
		event   storage.AuditEvent
		counter func(m *metrics) prometheus.Collector
	}{
		{ev("login.password", "success"), func(m *metrics) prometheus.Collector { return m.signIns.WithLabelValues("success") }},
		{ev("login.password", "made-up"), func(m *metrics) prometheus.Collector { return m.signIns.WithLabelValues("other") }},
		{ev("mfa.verify", "failure", "method", "sms"), func(m *metrics) prometheus.Collector { return m.secondFactors.WithLabelValues("sms", "failure") }},
		{ev("mfa.verify", "success", "method", "made-up"), func(m *metrics) prometheus.Collector { return m.secondFactors.WithLabelValues("other", "success") }},
		{ev("mfa.challenge", "denied", "method", "voice"), func(m *metrics) prometheus.Collector { return m.challenges.WithLabelValues("voice", "denied") }},
		{ev("login.locked", "denied"), func(m *metrics) prometheus.Collector { return m.locks.WithLabelValues("account") }},
		{ev("mfa.locked", "denied"), func(m *metrics) prometheus.Collector { return m.locks.WithLabelValues("second_factor") }},
		{ev("login.start_throttled", "denied"), func(m *metrics) prometheus.Collector { return m.locks.WithLabelValues("start") }},
		{ev("user.password_changed", "denied", "reason", "throttled", "key", "ip"), func(m *metrics) prometheus.Collector { return m.refusals.WithLabelValues("address") }},
		{ev("user.password_changed", "denied", "reason", "throttled", "key", "account"), func(m *metrics) prometheus.Collector { return m.refusals.WithLabelValues("account") }},
		{ev("user.password_changed", "denied", "reason", "attempts in flight", "key", "account"), func(m *metrics) prometheus.Collector { return m.refusals.WithLabelValues("in_flight") }},
		{ev("mfa.method_added", "denied", "reason", "throttled"), func(m *metrics) prometheus.Collector { return m.refusals.WithLabelValues("second_factor") }},
	} {
		m := newMetrics(prometheus.NewRegistry())
		m.audited(tc.event)
		if got := testutil.ToFloat64(tc.counter(m)); got != 1 {
			t.Errorf("%s %s %v: counter = %v, want 1", tc.event.Action, tc.event.Outcome, tc.event.Details, got)
		}
	}
}
