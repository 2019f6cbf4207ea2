package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/storage"
)

// forwarded is a reverse proxy's hop: every request leaves with the
// X-Forwarded-For header the proxy would have sent.
type forwarded struct {
	base http.RoundTripper
	xff  string
}

func (f forwarded) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.xff)
	return f.base.RoundTrip(r)
}

// newBrowserVia is a browser whose requests reach Gatehouse through a proxy
// on 127.0.0.1 that sends xff.
func (e *env) newBrowserVia(xff string) *browser {
	b := e.newBrowser()
	b.client.Transport = forwarded{base: b.client.Transport, xff: xff}
	return b
}

// exhaustIPBudget fails sign-ins with a new unknown name each time (so no
// account budget runs out) until the address's budget does, and returns
// the sign-in page to try again on.
func exhaustIPBudget(t *testing.T, e *env, b *browser, app *relyingParty, who string) page {
	t.Helper()
	_, p := e.startSignIn(b, app)
	for i := range login.DefaultIPRule.Free + 1 {
		if p = b.submitPassword(p, fmt.Sprintf("nobody%d", i), "wrong password"); p.status() != http.StatusUnauthorized {
			t.Fatalf("%s: wrong password %d: status %d, want 401", who, i+1, p.status())
		}
	}
	if p = b.submitPassword(p, "nobody-more", "wrong password"); p.status() != http.StatusTooManyRequests {
		t.Fatalf("%s: wrong password past the address's budget: status %d, want 429", who, p.status())
	}
	return p
}

// TestClientIPBehindProxy: behind a trusted proxy, wrong passwords from two
// clients are throttled apart, and audit events, sessions and admin audit
// events carry each client's address; X-Forwarded-For from a peer that is
// not a trusted proxy is ignored, so such clients share the peer's budget.
func TestClientIPBehindProxy(t *testing.T) {
	tests := []struct {
		name    string
		trusted list
		// wantIP is the address Gatehouse should see for mallory, a client
		// at 203.0.113.66 who also forges an address of her own.
		wantIP string
	}{
		{name: "trusted proxy", trusted: list{"127.0.0.1"}, wantIP: "203.0.113.66"},
		{name: "untrusted peer", trusted: list{"10.0.0.0/8"}, wantIP: "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newSeededEnv(t, nil, func(c *Config) { c.TrustedProxies = tt.trusted })
			alice := e.addUser("alice", alicePassword)
			app := e.addRP("app", false)
			trusted := tt.wantIP != "127.0.0.1"

			mallory := e.newBrowserVia("198.51.100.1, 203.0.113.66")
			exhaustIPBudget(t, e, mallory, app, "mallory")
			events, err := e.store.ListAudit(ctx, storage.AuditQuery{Action: "login.password", Outcome: storage.OutcomeDenied})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 || events[0].Details["key"] != "ip" || events[0].IP != tt.wantIP {
				t.Errorf("throttled attempt audited as %+v, want key ip from %s", events, tt.wantIP)
			}

			// Alice, behind the same proxy but at another address.
			b := e.newBrowserVia("203.0.113.77")
			a, p := e.startSignIn(b, app)
			p = b.submitPassword(p, "alice", "wrong password")
			switch {
			case trusted && p.status() != http.StatusUnauthorized:
				t.Fatalf("another client's wrong password: status %d, want 401: the budget is per client", p.status())
			case !trusted && p.status() != http.StatusTooManyRequests:
				t.Fatalf("another client's wrong password, via an untrusted peer: status %d, want 429: the header is ignored", p.status())
			}
			if !trusted {
				return
			}
			if _, err := app.exchange(a, b.codeFrom(b.submitPassword(p, "alice", alicePassword), a)); err != nil {
				t.Fatalf("alice from her own address: %v", err)
			}
			sessions, err := e.store.ListUserSessions(ctx, alice.ID)
			if err != nil || len(sessions) != 1 || sessions[0].IP != "203.0.113.77" {
				t.Errorf("alice's sessions = %+v, %v; want one from 203.0.113.77", sessions, err)
			}
			signIns, _ := e.store.ListAudit(ctx, storage.AuditQuery{Action: "login.password", Outcome: storage.OutcomeSuccess})
			if len(signIns) != 1 || signIns[0].IP != "203.0.113.77" {
				t.Errorf("alice's sign-in audited as %+v, want from 203.0.113.77", signIns)
			}

			// IPv6 clients are throttled by their /64, as they are when
			// they connect directly; the proxy may add a port.
			exhaustIPBudget(t, e, e.newBrowserVia("2001:db8:1:2::1"), app, "2001:db8:1:2::1")
			same := e.newBrowserVia("[2001:db8:1:2::99]:4711")
			_, p = e.startSignIn(same, app)
			if p = same.submitPassword(p, "nobody", "wrong password"); p.status() != http.StatusTooManyRequests {
				t.Errorf("the same /64: status %d, want 429", p.status())
			}
			other := e.newBrowserVia("2001:db8:1:3::1")
			_, p = e.startSignIn(other, app)
			if p = other.submitPassword(p, "nobody", "wrong password"); p.status() != http.StatusUnauthorized {
				t.Errorf("the next /64: status %d, want 401", p.status())
			}
		})
	}
}

// TestAdminAuditBehindProxy: the admin pages audit the client's address
// as the sign-in journey reads it.
func TestAdminAuditBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		trusted list
		want    string
	}{
		{trusted: list{"127.0.0.1"}, want: "203.0.113.66"},
		{trusted: nil, want: "127.0.0.1"},
	} {
		e := newSeededEnv(t, nil, func(c *Config) { c.TrustedProxies = tt.trusted })
		b := e.newBrowserVia("198.51.100.1, 203.0.113.66")
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/admin/org-units/x", strings.NewReader("name=X"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if p := b.do(req); p.status() != http.StatusForbidden {
			t.Fatalf("a cross-site form: status %d, want 403", p.status())
		}
		events, _ := e.store.ListAudit(context.Background(), storage.AuditQuery{Action: "admin.access", Outcome: storage.OutcomeDenied})
		if len(events) != 1 || events[0].IP != tt.want {
			t.Errorf("trusted %v: refusal audited as %+v, want from %s", tt.trusted, events, tt.want)
		}
	}
}

// TestStartBudget: one address may start only so many sign-ins a minute.
// Past that, /authorize answers the client at its redirect URI with
// temporarily_unavailable (after checking the request, so the redirect is
// safe) and stores nothing; Gatehouse's own pages answer 429. The lock is
// audited once, other addresses are unaffected, and the next minute the
// address may start again.
func TestStartBudget(t *testing.T) {
	ctx := context.Background()
	const limit = 3
	e := newSeededEnv(t, nil, func(c *Config) {
		c.TrustedProxies = list{"127.0.0.1"}
		c.Limits.AuthRequestsPerMinute = limit
	})
	e.addUser("alice", alicePassword)
	app := e.addRP("app", false)
	throttled := func() []storage.AuditEvent {
		t.Helper()
		events, err := e.store.ListAudit(ctx, storage.AuditQuery{Action: "login.start_throttled"})
		if err != nil {
			t.Fatal(err)
		}
		return events
	}

	b := e.newBrowserVia("203.0.113.66")
	for range limit {
		e.startSignIn(b, app)
	}
	for i := range 3 {
		a := app.authorize()
		p := b.get(a.url)
		q := p.location().Query()
		if p.status() != http.StatusFound || p.location().Host != e.rpHost || q.Get("error") != "temporarily_unavailable" ||
			q.Get("state") != a.state || !strings.Contains(q.Get("error_description"), "Too many sign-ins") {
			t.Fatalf("sign-in %d past the budget: status %d location %q, want a redirect to the client with temporarily_unavailable and its state", limit+i+1, p.status(), p.location())
		}
	}
	// A request op refuses is refused as before: the budget is charged only
	// for what would be stored.
	bad := strings.Replace(app.authorize().url, "client_id=app", "client_id=nobody", 1)
	if p := b.get(bad); p.status() != http.StatusBadRequest || !strings.Contains(p.body, "This sign-in link is not valid") {
		t.Errorf("an unknown client past the budget: status %d, want the 400 page", p.status())
	}
	// Gatehouse's own pages start sign-ins too.
	p := b.get(e.issuer + "/security")
	if p.status() != http.StatusTooManyRequests || p.resp.Header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many sign-ins") {
		t.Errorf("Security info past the budget: status %d Retry-After %q, want 429 with Retry-After", p.status(), p.resp.Header.Get("Retry-After"))
	}
	events := throttled()
	if len(events) != 1 || events[0].IP != "203.0.113.66" || events[0].Details["client_id"] != "app" || events[0].Outcome != storage.OutcomeDenied {
		t.Fatalf("the lock audited as %+v, want one denied event for app from 203.0.113.66", events)
	}

	// Another address has its own budget, and can sign in.
	other := e.newBrowserVia("203.0.113.77")
	a := app.authorize()
	if _, err := app.exchange(a, other.signIn(app, a, "alice", alicePassword)); err != nil {
		t.Errorf("another address: %v", err)
	}

	// The next minute the address starts again; a new lock is a new event.
	e.clock.Advance(time.Minute)
	for range limit {
		e.startSignIn(b, app)
	}
	if q := b.get(app.authorize().url).location().Query(); q.Get("error") != "temporarily_unavailable" {
		t.Errorf("past the budget again: error %q, want temporarily_unavailable", q.Get("error"))
	}
	if got := len(throttled()); got != 2 {
		t.Errorf("%d lock events after two locks, want 2", got)
	}
}

// TestStartBudgetDefault: the default budget is on, and the same for
// every address behind no proxy.
func TestStartBudgetDefault(t *testing.T) {
	e := newSeededEnv(t, nil, func(c *Config) { c.Limits.AuthRequestsPerMinute = defaultConfig().Limits.AuthRequestsPerMinute })
	app := e.addRP("app", false)
	b := e.newBrowser()
	for range login.DefaultStartRule.Limit {
		e.startSignIn(b, app)
	}
	// A forged header from an untrusted peer buys nothing.
	p := e.newBrowserVia("203.0.113.99").get(app.authorize().url)
	if q := p.location().Query(); q.Get("error") != "temporarily_unavailable" {
		t.Errorf("sign-in %d: status %d location %q, want temporarily_unavailable", login.DefaultStartRule.Limit+1, p.status(), p.location())
	}
}
