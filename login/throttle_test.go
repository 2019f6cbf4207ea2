package login

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

func TestThrottleRuleDelay(t *testing.T) {
	r := DefaultAccountRule
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {5, 0}, {6, time.Second}, {7, 2 * time.Second}, {8, 4 * time.Second},
		{15, 512 * time.Second}, {16, 15 * time.Minute}, {99, 15 * time.Minute},
		{100, 24 * time.Hour}, {500, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := r.delay(tt.failures); got != tt.want {
			t.Errorf("delay(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
	if got := DefaultIPRule.delay(1000); got != 15*time.Minute {
		t.Errorf("IP rule delay(1000) = %v, want the 15m cap (no ceiling lock per IP)", got)
	}
}

// TestThrottleCeiling walks one account to NIST's 100-failure ceiling:
// however patient the attacker, no more than 100 consecutive guesses go in
// before a day's lock, and the lock expires rather than being permanent.
func TestThrottleCeiling(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db, th := newTestThrottle(t, &now)
	rule := DefaultAccountRule
	guesses := 0
	for guesses < 200 {
		var locked errThrottled
		_, err := th.charge(ctx, "account:alice", rule)
		if errors.As(err, &locked) {
			if guesses >= rule.Ceiling {
				break
			}
			now = locked.until // a patient attacker waits out each lock
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		guesses++
	}
	if guesses != rule.Ceiling {
		t.Fatalf("guesses before the ceiling lock = %d, want %d", guesses, rule.Ceiling)
	}
	a, _ := db.GetAttempts(ctx, "account:alice")
	if got := a.LockedUntil.Sub(now); got != rule.CeilingLock {
		t.Errorf("ceiling lock = %v, want %v", got, rule.CeilingLock)
	}
	now = a.LockedUntil.Add(time.Second)
	if _, err := th.charge(ctx, "account:alice", rule); err != nil {
		t.Errorf("after the ceiling lock expired: %v, want allowed", err)
	}
	if _, err := db.UpdateAttempts(ctx, "account:alice", cleared); err != nil {
		t.Fatal(err)
	}
	if a, err := db.GetAttempts(ctx, "account:alice"); err == nil {
		t.Errorf("after clearing, attempts = %+v, want none", a)
	}
}

// TestThrottleRefund: a success takes back only its own charge.
func TestThrottleRefund(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db, th := newTestThrottle(t, &now)
	rule := ThrottleRule{Free: 2, MaxDelay: time.Minute, Memory: time.Hour}
	for range 3 {
		if _, err := th.charge(ctx, "ip:a", rule); err != nil {
			t.Fatal(err)
		}
	}
	// Three charged: locked for a second. A success among them is refunded,
	// which brings the count back under the free budget and lifts the lock.
	if err := th.refund(ctx, "ip:a", rule); err != nil {
		t.Fatal(err)
	}
	a, err := db.GetAttempts(ctx, "ip:a")
	if err != nil || a.Failures != 2 || !a.LockedUntil.IsZero() {
		t.Errorf("after refund: %+v, %v; want 2 failures and no lock", a, err)
	}
}

func TestIPKey(t *testing.T) {
	for _, tt := range []struct{ ip, want string }{
		{"192.0.2.7", "ip:192.0.2.7"},
		{"::ffff:192.0.2.7", "ip:192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "ip:2001:db8:1:2::/64"},
		{"not-an-ip", "ip:not-an-ip"},
	} {
		if got := ipKey(tt.ip); got != tt.want {
			t.Errorf("ipKey(%q) = %q, want %q", tt.ip, got, tt.want)
		}
	}
}

// TestThrottleForgets: a key quiet for its rule's memory starts afresh,
// even before expired records are collected.
func TestThrottleForgets(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, th := newTestThrottle(t, &now)
	rule := ThrottleRule{Free: 2, MaxDelay: time.Minute, Memory: time.Hour}
	for range 3 {
		th.charge(ctx, "send:u", rule)
	}
	now = now.Add(time.Hour)
	a, err := th.charge(ctx, "send:u", rule)
	if err != nil || a.Failures != 1 || !a.LockedUntil.Equal(now) {
		t.Errorf("an hour later: %+v, %v; want a fresh count of 1 and no lock", a, err)
	}
}

// TestThrottleInFlight: attempts at an account are admitted as leases, not
// failures: two at most at once, and a second only while the first, were
// it to fail, would not lock the account. Settling counts a failure, clears
// the failures after a success, or just lets an unchecked attempt go; a
// lease left by a server that stopped mid-check ends by itself.
func TestThrottleInFlight(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	db, th := newTestThrottle(t, &now)
	rule := ThrottleRule{Free: 2, MaxDelay: time.Minute, Memory: time.Hour}
	admit := func(want error) lease {
		t.Helper()
		l, err := th.admit(ctx, "account:a", rule)
		if !errors.Is(err, want) && !(want == errThrottled{} && errors.As(err, new(errThrottled))) {
			t.Fatalf("admit: %v, want %v", err, want)
		}
		return l
	}
	settle := func(l lease, how settled) storage.Attempts {
		t.Helper()
		a, err := th.settle(ctx, l, rule, how)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	first, second := admit(nil), admit(nil)
	admit(errBusy) // a third waits for one of the two
	if a := settle(first, settledUnchecked); a.Failures != 0 || len(a.InFlight) != 1 {
		t.Errorf("after letting one go: %+v, want no failures and one in flight", a)
	}
	third := admit(nil)
	settle(second, settledFailed)
	if a := settle(third, settledFailed); a.Failures != 2 || len(a.InFlight) != 0 || a.LockedUntil.After(now) {
		t.Errorf("after two failures: %+v, want two, none in flight, no lock", a)
	}

	// Two failed, the free budget: one more may go in, but not beside
	// another, which would be checked into a lock already decided.
	last := admit(nil)
	admit(errBusy)
	if a := settle(last, settledFailed); a.Failures != 3 || !a.LockedUntil.Equal(now.Add(time.Second)) {
		t.Errorf("after the third failure: %+v, want a lock for a second", a)
	}
	admit(errThrottled{})

	// A lease outlives no stopped server; a success clears the failures.
	now = now.Add(time.Second)
	admit(nil)
	now = now.Add(leaseTime)
	ok := admit(nil)
	if a := settle(ok, settledPassed); a.Failures != 0 || len(a.InFlight) != 0 {
		t.Errorf("after a success: %+v, want nothing", a)
	}
	if a, err := db.GetAttempts(ctx, "account:a"); err == nil {
		t.Errorf("after a success: stored %+v, want no record", a)
	}
}

// TestThrottleSettlesOnTheRealClock: a lease is found again when settled
// whatever the clock's time carries that its stored copy does not (a
// monotonic reading, a zone), so sign-ins one after another are never
// refused as in flight. Compared with ==, each settled lease stayed for
// its 30 seconds, and the third sign-in in that time was refused.
func TestThrottleSettlesOnTheRealClock(t *testing.T) {
	ctx := context.Background()
	var now time.Time
	db, th := newTestThrottle(t, &now)
	th.now = time.Now
	rule := ThrottleRule{Free: 5, MaxDelay: time.Minute, Memory: time.Hour}
	for i := range 4 {
		l, err := th.admit(ctx, "account:a", rule)
		if err != nil {
			t.Fatalf("sign-in %d: %v", i, err)
		}
		if _, err := th.settle(ctx, l, rule, settledFailed); err != nil {
			t.Fatal(err)
		}
	}
	if a, err := db.GetAttempts(ctx, "account:a"); err != nil || len(a.InFlight) != 0 || a.Failures != 4 {
		t.Errorf("after four settled attempts: %+v, %v; want four failures and none in flight", a, err)
	}
}

// newTestThrottle is a throttle over a new store, at the time *now.
func newTestThrottle(t *testing.T, now *time.Time) (*bbolt.DB, throttle) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "t.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, throttle{store: db, now: func() time.Time { return *now }}
}
