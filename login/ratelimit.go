package login

import (
	"sync"
	"time"
)

// RateRule is a budget for something that costs the server even when it
// succeeds: at most Limit per key in each Window. A zero Limit sets none.
type RateRule struct {
	Limit  int
	Window time.Duration
}

// DefaultStartRule budgets the sign-ins (stored auth requests) one address
// may leave unfinished in a window (one that finishes gives its start
// back): more than a 200-person site behind one address starts in the
// minute its shift begins, far fewer than would fill the database.
var DefaultStartRule = RateRule{Limit: 300, Window: time.Minute}

// rateLimiter counts events per key in fixed windows, in memory. Unlike the
// failure throttle it forgets on its own, however busy the key stays: an
// office behind one address signs in all day. It is not stored: a restart
// forgiving everyone costs an attacker nothing they could not get by
// waiting a minute, and a write per /authorize would cost every sign-in.
// Each replica keeps its own, so N replicas allow an address N times the
// budget. A sign-in may finish on another replica than the one it started
// on, and gives its start back there; a balancer that spreads requests
// evenly keeps the replicas' counts even.
type rateLimiter struct {
	rule RateRule
	now  func() time.Time

	mu      sync.Mutex
	windows map[string]*rateWindow
	swept   time.Time
}

type rateWindow struct {
	start   time.Time
	n       int
	refused bool // a refusal in this window was reported
}

func newRateLimiter(rule RateRule, now func() time.Time) *rateLimiter {
	return &rateLimiter{rule: rule, now: now, windows: map[string]*rateWindow{}}
}

// take counts one event for key. When the key is over its limit it
// returns ok false, when the window ends, and first true for the window's
// first refusal only: a lock is reported once, however hard it is pushed.
func (l *rateLimiter) take(key string) (ok bool, until time.Time, first bool) {
	if l.rule.Limit <= 0 {
		return true, time.Time{}, false
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	w := l.windows[key]
	if w == nil || !now.Before(w.start.Add(l.rule.Window)) {
		w = &rateWindow{start: now}
		l.windows[key] = w
	}
	until = w.start.Add(l.rule.Window)
	if w.n < l.rule.Limit {
		w.n++
		return true, until, false
	}
	first = !w.refused
	w.refused = true
	return false, until, first
}

// give takes back one event counted for key in the current window: one
// that turned out well, so that only the others use the budget up.
func (l *rateLimiter) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.windows[key]; w != nil && w.n > 0 && l.now().Before(w.start.Add(l.rule.Window)) {
		w.n--
	}
}

// sweep drops ended windows, at most once a window, so the map holds only
// the keys seen lately.
func (l *rateLimiter) sweep(now time.Time) {
	if now.Sub(l.swept) < l.rule.Window {
		return
	}
	l.swept = now
	for k, w := range l.windows {
		if !now.Before(w.start.Add(l.rule.Window)) {
			delete(l.windows, k)
		}
	}
}
