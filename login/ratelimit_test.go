package login

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	l := newRateLimiter(RateRule{Limit: 3, Window: time.Minute}, func() time.Time { return now })
	type want struct {
		ok, first bool
		until     time.Time
	}
	steps := []struct {
		name    string
		advance time.Duration
		key     string
		want    want
	}{
		{"first", 0, "ip:a", want{ok: true, until: start.Add(time.Minute)}},
		{"second", 10 * time.Second, "ip:a", want{ok: true, until: start.Add(time.Minute)}},
		{"third, the last in budget", 10 * time.Second, "ip:a", want{ok: true, until: start.Add(time.Minute)}},
		{"over: the lock's first refusal", 0, "ip:a", want{first: true, until: start.Add(time.Minute)}},
		{"over again: not reported again", 30 * time.Second, "ip:a", want{until: start.Add(time.Minute)}},
		{"another key has its own budget", 0, "ip:b", want{ok: true, until: start.Add(time.Minute + 50*time.Second)}},
		{"the window ends", 10 * time.Second, "ip:a", want{ok: true, until: start.Add(2 * time.Minute)}},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		ok, until, first := l.take(s.key)
		if got := (want{ok: ok, first: first, until: until}); got != s.want {
			t.Errorf("%s: take(%s) = %+v, want %+v", s.name, s.key, got, s.want)
		}
	}
	for range 2 {
		l.take("ip:a")
	}
	if ok, _, first := l.take("ip:a"); ok || !first {
		t.Errorf("a second lock: ok %v first %v, want refused and reported", ok, first)
	}
	now = now.Add(2 * time.Minute)
	l.take("ip:c")
	if got := len(l.windows); got != 1 {
		t.Errorf("%d windows kept after the others ended, want 1", got)
	}
}

func TestRateLimiterNoLimit(t *testing.T) {
	l := newRateLimiter(RateRule{}, time.Now)
	for range 1000 {
		if ok, _, _ := l.take("ip:a"); !ok {
			t.Fatal("a zero rule refused")
		}
	}
}

// TestRateLimiterParallel: however many take at once, the budget holds and
// the lock is reported once.
func TestRateLimiterParallel(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimiter(RateRule{Limit: 50, Window: time.Minute}, func() time.Time { return now })
	var admitted, reported atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			ok, _, first := l.take("ip:a")
			if ok {
				admitted.Add(1)
			}
			if first {
				reported.Add(1)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != 50 || reported.Load() != 1 {
		t.Errorf("admitted %d, reported %d; want 50 and 1", admitted.Load(), reported.Load())
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "1 second", time.Second: "1 second", 30 * time.Second: "30 seconds",
		time.Minute: "1 minute", 61 * time.Second: "2 minutes", 15 * time.Minute: "15 minutes",
		time.Hour: "1 hour", 24 * time.Hour: "24 hours", 72 * time.Hour: "3 days",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestRateLimiterGive: an event given back, one that turned out well, no
// longer counts in its window, so the budget counts only the others.
func TestRateLimiterGive(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimiter(RateRule{Limit: 2, Window: time.Minute}, func() time.Time { return now })
	for range 10 { // a site's sign-ins, each finished before the next
		if ok, _, _ := l.take("ip:a"); !ok {
			t.Fatal("a finished sign-in used the budget up")
		}
		l.give("ip:a")
	}
	l.give("ip:b") // nothing to give back: no credit
	l.take("ip:a")
	l.take("ip:a")
	if ok, _, _ := l.take("ip:a"); ok {
		t.Error("three unfinished in a window of two were let through")
	}
	for i, want := range []bool{true, true, false} {
		if ok, _, _ := l.take("ip:b"); ok != want {
			t.Errorf("ip:b's take %d after a give with nothing to give: ok %v, want %v", i+1, ok, want)
		}
	}
}
