// Command gatehouse-load drives a running Gatehouse as many concurrent
// browsers and apps would, for a bounded time and number of requests, and
// reports throughput and latency.
//
// Start a server once (it makes its database), stop it, register a
// confidential client, and, for sign-ins, seed users (both with the server
// stopped: the database has one writer); then start it and run:
//
//	go run ./cmd/gatehouse client add --data-dir /tmp/gh --name load --redirect-uri http://127.0.0.1:1/cb \
//	    --grant authorization_code --grant refresh_token --grant client_credentials
//	go run ./cmd/gatehouse-load seed -data-dir /tmp/gh -users 10000 -password 'load test password' -totp-seed s
//	go run ./cmd/gatehouse --data-dir /tmp/gh --demo.enabled=false
//	go run ./cmd/gatehouse-load -client-id ID -client-secret SECRET -scenario signin \
//	    -redirect-uri http://127.0.0.1:1/cb -password 'load test password' -totp-seed s -users 10000
//
// Scenarios: signin (a new browser's whole sign-in: /authorize, password,
// the authenticator app's code when the user has one, code exchange; it
// also prints this machine's argon2id ceiling), refresh (each client signs
// in once, then refreshes its tokens over and over), client_credentials
// (token issue: a write per request, or a signature for a client that
// takes JWT access tokens), introspect (a read per request, or a
// signature check),
// mixed (each client fetches a token, then introspects it four times). It
// talks only to loopback addresses unless given -allow-remote: load
// against someone else's server is an attack.
//
// It can drive zitadel/oidc's example OP the same way, to compare (see
// compare.sh): -login zitadel-example signs in on that server's login form,
// and -introspect-token signin introspects a signed-in user's token, the
// only kind that server lets a client introspect.
//
// Replicas on one PostgreSQL database (see replicas.sh): seed -driver
// postgres -dsn DSN writes the users into the database beside running
// replicas, and proxy -listen ADDR -to URL,URL,… is a round-robin load
// balancer in front of them, the address their issuer names:
//
//	go run ./cmd/gatehouse-load seed -driver postgres -dsn "$DSN" -mfa-key-file /tmp/gh/mfa.key -users 10000 \
//	    -password 'load test password' -totp-seed s
//	go run ./cmd/gatehouse-load proxy -listen 127.0.0.1:8080 -to http://127.0.0.1:8081,http://127.0.0.1:8082
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/factors/password"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gatehouse-load:", err)
		}
		os.Exit(1)
	}
}

// Bounds on what one run may ask for.
const (
	maxDuration    = time.Hour
	maxConcurrency = 1024
	maxRequests    = 2_000_000 // results are kept in memory, 40 bytes each
)

type config struct {
	issuer       string
	clientID     string
	clientSecret string
	duration     time.Duration
	concurrency  int
	requests     int64
	scenario     string
	timeout      time.Duration
	allowRemote  bool
	summary      bool
	metricsURL   string // the server's metrics listener, to read its storage work

	// For the sign-in and refresh scenarios.
	redirectURI string
	scope       string
	users       int
	firstUser   int
	password    string
	totpSeed    string
	argon2      password.Params // the server's, for the ceiling
	login       string          // whose login form: a key of passwordForms

	introspectToken string // where the introspect scenario's token comes from: "client_credentials" or "signin"
}

// scenarios are what the tool can run.
var scenarios = []string{"client_credentials", "introspect", "mixed", "signin", "refresh"}

func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("gatehouse-load", flag.ContinueOnError)
	fs.StringVar(&c.issuer, "issuer", "http://localhost:8080", "Gatehouse issuer URL")
	fs.StringVar(&c.clientID, "client-id", "", "confidential client with the client_credentials grant")
	fs.StringVar(&c.clientSecret, "client-secret", "", "its secret (or set GATEHOUSE_LOAD_CLIENT_SECRET)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run (at most 1h)")
	fs.IntVar(&c.concurrency, "concurrency", 16, "concurrent clients (at most 1024)")
	fs.Int64Var(&c.requests, "requests", 1_000_000, "stop after this many requests (at most 2,000,000)")
	fs.StringVar(&c.scenario, "scenario", "client_credentials", strings.Join(scenarios, ", "))
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a non-loopback issuer (only a server you run)")
	fs.StringVar(&c.metricsURL, "metrics", "", "the server's metrics URL (metrics.listen, e.g. http://127.0.0.1:9464/metrics), to print its writes, commits and fsyncs per operation")
	fs.BoolVar(&c.summary, "summary", false, "end with one line for scripts: summary scenario=… rps=… p50_ms=… p99_ms=… errors=…")
	fs.StringVar(&c.redirectURI, "redirect-uri", "", "signin, refresh: the client's registered redirect URI (nothing need listen there)")
	fs.StringVar(&c.scope, "scope", "openid offline_access", "signin, refresh: the scope asked for")
	fs.IntVar(&c.users, "users", 1000, "signin, refresh: sign in as N users in turn, from -first-user (see the seed command)")
	fs.IntVar(&c.firstUser, "first-user", 0, "signin, refresh: the first user's number (another run's users' codes are spent for 30 s)")
	fs.StringVar(&c.password, "password", "", "signin, refresh: the users' password (or set GATEHOUSE_LOAD_PASSWORD)")
	fs.StringVar(&c.login, "login", "gatehouse", "signin, refresh: whose password form to fill in: gatehouse, or zitadel-example (zitadel/oidc's example OP)")
	fs.StringVar(&c.introspectToken, "introspect-token", "client_credentials", "introspect: the token to introspect comes from client_credentials, or from one sign-in (signin: a user's token)")
	fs.StringVar(&c.totpSeed, "totp-seed", "", "signin, refresh: the seed the users' authenticator app keys were made from, if they have one")
	c.argon2 = password.OWASP()
	fs.Func("argon2", "signin: the server's argon2id parameters as memory_kib,iterations,parallelism, for the ceiling (default the OWASP 19456,2,1, the server's default)", func(v string) error {
		_, err := fmt.Sscanf(v, "%d,%d,%d", &c.argon2.MemoryKiB, &c.argon2.Iterations, &c.argon2.Parallelism)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.issuer = strings.TrimSuffix(c.issuer, "/")
	if c.clientSecret == "" {
		c.clientSecret = getenv("GATEHOUSE_LOAD_CLIENT_SECRET")
	}
	if c.password == "" {
		c.password = getenv("GATEHOUSE_LOAD_PASSWORD")
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if c.clientID == "" || c.clientSecret == "" {
		problems = append(problems, "-client-id and -client-secret are required")
	}
	if c.duration <= 0 || c.duration > maxDuration {
		problems = append(problems, fmt.Sprintf("-duration must be in (0, %s]", maxDuration))
	}
	if c.concurrency < 1 || c.concurrency > maxConcurrency {
		problems = append(problems, fmt.Sprintf("-concurrency must be 1 to %d", maxConcurrency))
	}
	if c.requests < 1 || c.requests > maxRequests {
		problems = append(problems, fmt.Sprintf("-requests must be 1 to %d", maxRequests))
	}
	if c.timeout <= 0 {
		problems = append(problems, "-timeout must be positive")
	}
	if _, ok := passwordForms[c.login]; !ok {
		problems = append(problems, "-login must be gatehouse or zitadel-example")
	}
	if c.introspectToken != "client_credentials" && c.introspectToken != "signin" {
		problems = append(problems, "-introspect-token must be client_credentials or signin")
	}
	switch {
	case !slices.Contains(scenarios, c.scenario):
		problems = append(problems, "-scenario must be one of "+strings.Join(scenarios, ", "))
	case !c.signsIn():
	case c.redirectURI == "" || c.password == "":
		problems = append(problems, "-scenario "+c.scenario+" needs -redirect-uri and -password")
	case c.users < 1 || c.firstUser < 0:
		problems = append(problems, "-users must be at least 1, and -first-user not negative")
	}
	u, err := url.Parse(c.issuer)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		problems = append(problems, "-issuer must be an http or https URL")
	case !c.allowRemote && !loopbackHost(u.Hostname()):
		problems = append(problems, fmt.Sprintf("-issuer host %q is not loopback (localhost, 127.0.0.1, ::1); add -allow-remote only for a server you run", u.Hostname()))
	}
	if len(problems) > 0 {
		return c, errors.New(strings.Join(problems, "; "))
	}
	return c, nil
}

// signsIn is whether the run signs users in.
func (c config) signsIn() bool {
	return c.scenario == "signin" || c.scenario == "refresh" || c.scenario == "introspect" && c.introspectToken == "signin"
}

func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == "seed" {
		return seed(ctx, args[1:], out, getenv)
	}
	if len(args) > 0 && args[0] == "proxy" {
		return proxy(ctx, args[1:], out)
	}
	cfg, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	client := newHTTPClient(cfg)
	endpoints, err := discover(ctx, client, cfg.issuer)
	if err != nil {
		return err
	}
	l := &loader{cfg: cfg, client: client, endpoints: endpoints}
	if cfg.scenario == "introspect" {
		// One token, introspected over and over.
		if l.token, err = l.tokenToIntrospect(ctx); err != nil {
			return fmt.Errorf("get a token to introspect: %w", err)
		}
	}
	var ceiling float64
	if cfg.scenario == "signin" {
		ceiling = argon2Ceiling(ctx, cfg.argon2, 3*time.Second)
	}
	var before storageCounts
	if cfg.metricsURL != "" {
		if before, err = readStorageCounts(ctx, client, cfg.metricsURL); err != nil {
			return err
		}
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	results := l.run(runCtx)
	elapsed := time.Since(start)
	report(out, cfg, results, elapsed)
	if cfg.metricsURL != "" {
		after, err := readStorageCounts(ctx, client, cfg.metricsURL)
		if err != nil {
			return err
		}
		reportWrites(out, before, after, successes(results))
	}
	if cfg.scenario == "signin" {
		reportCeiling(out, cfg.argon2, ceiling, successes(results), elapsed)
	}
	if cfg.summary {
		summarize(out, cfg.scenario, results, elapsed, ceiling)
	}
	for _, r := range results {
		if r.status != "200" {
			return errors.New("some requests failed")
		}
	}
	return nil
}

// successes counts the results that succeeded.
func successes(results []result) int {
	ok := 0
	for _, r := range results {
		if r.status == "200" {
			ok++
		}
	}
	return ok
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient keeps a connection per worker and follows no redirects.
// Unless allowRemote, it connects only to loopback addresses.
func newHTTPClient(cfg config) *http.Client {
	t := &http.Transport{
		DialContext:         loopbackDialer(cfg.allowRemote).DialContext,
		MaxIdleConns:        cfg.concurrency,
		MaxIdleConnsPerHost: cfg.concurrency,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{
		Transport:     t,
		Timeout:       cfg.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loopbackDialer refuses, unless allowRemote, to connect anywhere but a
// loopback address, checked on the address about to be dialled, after
// name resolution, so "localhost" mapped elsewhere is refused too.
func loopbackDialer(allowRemote bool) *net.Dialer {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowRemote {
		dialer.Control = func(_, addr string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("%s is not a loopback address; add -allow-remote only for a server you run", addr)
			}
			return nil
		}
	}
	return dialer
}

type endpoints struct {
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	Introspection string `json:"introspection_endpoint"`
}

// discover reads the endpoints from the discovery document and insists they
// are on the issuer's own host, so a document cannot aim the load elsewhere.
func discover(ctx context.Context, client *http.Client, issuer string) (endpoints, error) {
	var e endpoints
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", nil)
	if err != nil {
		return e, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return e, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return e, fmt.Errorf("discovery: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e); err != nil {
		return e, fmt.Errorf("discovery: %w", err)
	}
	base, _ := url.Parse(issuer)
	for _, ep := range []string{e.Authorization, e.Token, e.Introspection} {
		u, err := url.Parse(ep)
		if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
			return e, fmt.Errorf("discovery: endpoint %q is not on the issuer's host %s", ep, base.Host)
		}
	}
	return e, nil
}

type loader struct {
	cfg       config
	client    *http.Client
	endpoints endpoints
	token     string // for the introspect scenario
	sent      atomic.Int64
	signIns   atomic.Int64 // sign-ins started, for the next user
}

// result is one request, or one whole sign-in: what it was, how it ended,
// how long it took.
type result struct {
	kind    string // "token", "introspect", "signin" or "refresh"
	status  string // "200", another status code, or "transport error"
	latency time.Duration
}

// run starts the workers and collects their results once the time or the
// request budget runs out.
func (l *loader) run(ctx context.Context) []result {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		all []result
	)
	for range l.cfg.concurrency {
		wg.Go(func() {
			mine := l.work(ctx)
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all
}

// work is one client's loop. In the mixed scenario it fetches a token, then
// introspects it four times: resource servers ask about a token far more
// often than clients fetch one. In the refresh scenario it signs in, then
// refreshes its tokens over and over.
func (l *loader) work(ctx context.Context) []result {
	var mine []result
	token := l.token
	for i := 0; ctx.Err() == nil && l.sent.Add(1) <= l.cfg.requests; i++ {
		var r result
		switch {
		case l.cfg.scenario == "signin", l.cfg.scenario == "refresh" && token == "":
			var t tokens
			t, r = l.signIn(ctx, l.nextUser())
			token = t.RefreshToken
		case l.cfg.scenario == "refresh":
			token, r = l.refresh(ctx, token)
		case l.cfg.scenario == "client_credentials", l.cfg.scenario == "mixed" && (i%5 == 0 || token == ""):
			var tok string
			tok, r = l.tokenRequest(ctx)
			if tok != "" {
				token = tok
			}
		default:
			r = l.introspect(ctx, token)
		}
		if ctx.Err() != nil && r.status == "transport error" {
			break // cut off by the deadline: not the server's failure
		}
		mine = append(mine, r)
	}
	return mine
}

// nextUser is the user the next sign-in is for: the users in turn.
func (l *loader) nextUser() string {
	return fmt.Sprint("user", int64(l.cfg.firstUser)+(l.signIns.Add(1)-1)%int64(l.cfg.users))
}

// tokenToIntrospect is the access token the introspect scenario asks
// about: a client's own, or a signed-in user's.
func (l *loader) tokenToIntrospect(ctx context.Context) (string, error) {
	if l.cfg.introspectToken == "signin" {
		t, r := l.signIn(ctx, l.nextUser())
		if t.AccessToken == "" {
			return "", fmt.Errorf("sign-in: %s", r.status)
		}
		return t.AccessToken, nil
	}
	tok, r := l.tokenRequest(ctx)
	if tok == "" {
		return "", fmt.Errorf("token request: %s", r.status)
	}
	return tok, nil
}

func (l *loader) tokenRequest(ctx context.Context) (string, result) {
	var body struct {
		AccessToken string `json:"access_token"`
	}
	r := l.post(ctx, "token", l.endpoints.Token, url.Values{"grant_type": {"client_credentials"}}, &body)
	return body.AccessToken, r
}

func (l *loader) introspect(ctx context.Context, token string) result {
	var body struct {
		Active bool `json:"active"`
	}
	r := l.post(ctx, "introspect", l.endpoints.Introspection, url.Values{"token": {token}}, &body)
	if r.status == "200" && !body.Active {
		r.status = "200 inactive"
	}
	return r
}

// post sends a form with client_secret_basic authentication and decodes a
// 200 response into into.
func (l *loader) post(ctx context.Context, kind, endpoint string, form url.Values, into any) result {
	r := result{kind: kind, status: "transport error"}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return r
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(l.cfg.clientID), url.QueryEscape(l.cfg.clientSecret))
	start := time.Now()
	resp, err := l.client.Do(req)
	if err == nil {
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so the connection is reused
		resp.Body.Close()
	}
	r.latency = time.Since(start)
	switch {
	case resp == nil:
	case resp.StatusCode != http.StatusOK:
		r.status = fmt.Sprint(resp.StatusCode)
	case err != nil:
		r.status = "200 unreadable"
	default:
		r.status = "200"
	}
	return r
}

func report(out io.Writer, cfg config, results []result, elapsed time.Duration) {
	fmt.Fprintf(out, "scenario     %s against %s\n", cfg.scenario, cfg.issuer)
	fmt.Fprintf(out, "clients      %d for %s (ran %s)\n", cfg.concurrency, cfg.duration, elapsed.Round(time.Millisecond))
	byKind := map[string][]result{"all": results}
	kinds := []string{"all"}
	for _, r := range results {
		if _, ok := byKind[r.kind]; !ok {
			kinds = append(kinds, r.kind)
		}
		byKind[r.kind] = append(byKind[r.kind], r)
	}
	if len(kinds) == 2 {
		kinds = kinds[:1] // one kind: "all" says it
	}
	for _, k := range kinds {
		rs := byKind[k]
		errs := map[string]int{}
		lat := make([]time.Duration, len(rs))
		for i, r := range rs {
			lat[i] = r.latency
			if r.status != "200" {
				errs[r.status]++
			}
		}
		slices.Sort(lat)
		fmt.Fprintf(out, "\n%s\n", k)
		fmt.Fprintf(out, "  requests   %d, %.0f req/s\n", len(rs), float64(len(rs))/elapsed.Seconds())
		fmt.Fprintf(out, "  errors     %s\n", formatErrors(errs))
		if len(lat) > 0 {
			fmt.Fprintf(out, "  latency    p50 %s  p90 %s  p99 %s  max %s\n",
				quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99), lat[len(lat)-1].Round(time.Microsecond))
		}
	}
}

// mainKind is the kind of result a scenario's rate counts: refresh's
// sign-ins are only its set-up.
var mainKind = map[string]string{"signin": "signin", "refresh": "refresh", "client_credentials": "token", "introspect": "introspect"}

// summarize prints one line for scripts: the scenario's rate of successes,
// their latency, and the failures of every kind; for signin, the argon2id
// ceiling too.
func summarize(out io.Writer, scenario string, results []result, elapsed time.Duration, ceiling float64) {
	var lat []time.Duration
	errs := 0
	for _, r := range results {
		switch {
		case r.status != "200":
			errs++
		case mainKind[scenario] == "" || r.kind == mainKind[scenario]:
			lat = append(lat, r.latency)
		}
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(quantile(lat, q).Microseconds()) / 1000
	}
	fmt.Fprintf(out, "summary scenario=%s ok=%d rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d",
		scenario, len(lat), float64(len(lat))/elapsed.Seconds(), ms(0.5), ms(0.99), errs)
	if scenario == "signin" {
		fmt.Fprintf(out, " ceiling=%.1f", ceiling)
	}
	fmt.Fprintln(out)
}

func formatErrors(errs map[string]int) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for status, n := range errs {
		parts = append(parts, fmt.Sprintf("%s: %d", status, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// quantile is the q-quantile of sorted latencies (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)].Round(time.Microsecond)
}
