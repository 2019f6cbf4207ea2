package login

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// ThrottleRule is the failure budget for one kind of key. The first Free
// consecutive failures cost nothing; each further failure doubles a lock,
// from one second up to MaxDelay. At Ceiling failures the key is locked for
// CeilingLock: NIST SP 800-63B allows at most 100 consecutive failures per
// account, and backing off rather than locking for good keeps an attacker
// from locking a user out permanently.
type ThrottleRule struct {
	Free        int
	MaxDelay    time.Duration
	Ceiling     int
	CeilingLock time.Duration
	// Memory is how long a quiet key's count is kept.
	Memory time.Duration
}

// The default budgets: sign-in failures per account and per address,
// second-factor failures per user and method, and codes or calls sent per
// user.
var (
	DefaultAccountRule = ThrottleRule{Free: 5, MaxDelay: 15 * time.Minute, Ceiling: 100, CeilingLock: 24 * time.Hour, Memory: 7 * 24 * time.Hour}
	DefaultIPRule      = ThrottleRule{Free: 20, MaxDelay: 15 * time.Minute, Memory: 24 * time.Hour}
	DefaultMFARule     = ThrottleRule{Free: 5, MaxDelay: 15 * time.Minute, Ceiling: 100, CeilingLock: 24 * time.Hour, Memory: 7 * 24 * time.Hour}
	DefaultSendRule    = ThrottleRule{Free: 5, MaxDelay: 15 * time.Minute, Memory: time.Hour}
)

// errThrottled carries when the key may try again.
type errThrottled struct{ until time.Time }

func (e errThrottled) Error() string {
	return fmt.Sprintf("throttled until %s", e.until.Format(time.RFC3339))
}

// delay is the lock after n consecutive failures.
func (t ThrottleRule) delay(n int) time.Duration {
	if t.Ceiling > 0 && n >= t.Ceiling {
		return t.CeilingLock
	}
	if n <= t.Free {
		return 0
	}
	d := time.Duration(math.Pow(2, float64(min(n-t.Free-1, 30)))) * time.Second
	return min(d, t.MaxDelay)
}

type throttle struct {
	store storage.Throttle
	now   func() time.Time
}

// charge counts an attempt against key before it is checked, in one
// transaction with the lock check, so parallel guesses cannot all slip in
// before the first failure lands. A locked key is refused uncharged.
func (t throttle) charge(ctx context.Context, key string, rule ThrottleRule) (storage.Attempts, error) {
	a, err := t.store.UpdateAttempts(ctx, key, charging(rule, t.now()))
	var locked errThrottled
	if err != nil && !errors.As(err, &locked) {
		return a, fmt.Errorf("charge attempt: %w", err)
	}
	return a, err
}

// charging is charge's update at now.
func charging(rule ThrottleRule, now time.Time) func(storage.Attempts) (storage.Attempts, error) {
	return func(a storage.Attempts) (storage.Attempts, error) {
		if a = live(a, now); now.Before(a.LockedUntil) {
			return a, errThrottled{a.LockedUntil}
		}
		return failure(a, rule, now), nil
	}
}

// Attempts in flight: a password check admitted at an account holds a
// lease there until it is settled, or, if the server stops mid-check,
// until the lease ends.
const (
	maxInFlight = 2
	leaseTime   = 30 * time.Second
)

// errBusy refuses an attempt while others at the same key are being
// checked and, were they all to fail, would lock it.
var errBusy = errors.New("attempts in flight")

// lease is one admitted attempt at key, held until until.
type lease struct {
	key   string
	until time.Time
}

// admit lets one attempt at key be checked, in one transaction with the
// lock check: refused while the key is locked, or while the attempts in
// flight there number maxInFlight or, were they all to fail, would lock
// it. So parallel guesses never get more than the rule's budget, and only
// real failures count: an admitted attempt is a lease, not a failure.
func (t throttle) admit(ctx context.Context, key string, rule ThrottleRule) (lease, error) {
	now := t.now()
	l := lease{key: key, until: now.Add(leaseTime)}
	_, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		a = live(a, now)
		switch {
		case now.Before(a.LockedUntil):
			return a, errThrottled{a.LockedUntil}
		case len(a.InFlight) >= maxInFlight, len(a.InFlight) > 0 && rule.delay(a.Failures+len(a.InFlight)) > 0:
			return a, errBusy
		}
		a.InFlight = append(a.InFlight, l.until)
		a.ExpiresAt = later(a.ExpiresAt, l.until)
		return a, nil
	})
	var locked errThrottled
	if err != nil && !errors.As(err, &locked) && !errors.Is(err, errBusy) {
		return l, fmt.Errorf("admit attempt: %w", err)
	}
	return l, err
}

// How an admitted attempt ended.
type settled int

const (
	settledUnchecked settled = iota // it could not be checked
	settledFailed
	settledPassed
)

// settle ends an admitted attempt: a failure is counted, and may lock the
// key; a success clears its failures; an unchecked attempt is just let go.
// It returns the key's record.
func (t throttle) settle(ctx context.Context, l lease, rule ThrottleRule, how settled) (storage.Attempts, error) {
	now := t.now()
	a, err := t.store.UpdateAttempts(ctx, l.key, func(a storage.Attempts) (storage.Attempts, error) {
		a = live(a, now)
		if i := slices.IndexFunc(a.InFlight, l.until.Equal); i >= 0 {
			a.InFlight = slices.Delete(a.InFlight, i, i+1)
		}
		switch how {
		case settledFailed:
			a = failure(a, rule, now)
		case settledPassed:
			a.Failures, a.LockedUntil = 0, time.Time{}
		}
		return a, nil
	})
	if err != nil {
		return a, fmt.Errorf("settle attempt: %w", err)
	}
	return a, nil
}

// check refuses while key is locked, counting nothing: for an address,
// which only the failures settled there lock (see fail).
func (t throttle) check(ctx context.Context, key string) error {
	a, err := t.store.GetAttempts(ctx, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("check attempts: %w", err)
	case t.now().Before(a.LockedUntil):
		return errThrottled{a.LockedUntil}
	}
	return nil
}

// fail counts a failure at key.
func (t throttle) fail(ctx context.Context, key string, rule ThrottleRule) error {
	now := t.now()
	_, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		return failure(live(a, now), rule, now), nil
	})
	if err != nil {
		return fmt.Errorf("count failure: %w", err)
	}
	return nil
}

// live is a without what has ended by now: the whole record once it is
// forgotten (whether or not garbage collection has run yet), else the
// leases that have run out.
func live(a storage.Attempts, now time.Time) storage.Attempts {
	if !a.ExpiresAt.IsZero() && !now.Before(a.ExpiresAt) {
		return storage.Attempts{Key: a.Key}
	}
	a.InFlight = slices.DeleteFunc(a.InFlight, func(until time.Time) bool { return !now.Before(until) })
	return a
}

// failure is a with one more failure at now.
func failure(a storage.Attempts, rule ThrottleRule, now time.Time) storage.Attempts {
	a.Failures++
	a.LastFailure = now
	a.LockedUntil = now.Add(rule.delay(a.Failures))
	a.ExpiresAt = later(a.ExpiresAt, now.Add(max(rule.Memory, rule.CeilingLock)))
	return a
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// refund takes back one failure at key, for an attempt there that
// succeeded. Unlike a reset it leaves other failures standing, so one good
// sign-in from an address does not wipe the failures of everyone else
// there. A key without failures, the usual case, costs a read.
func (t throttle) refund(ctx context.Context, key string, rule ThrottleRule) error {
	if _, err := t.store.GetAttempts(ctx, key); errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	_, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		a.Failures = max(a.Failures-1, 0)
		if rule.delay(a.Failures) == 0 {
			a.LockedUntil = time.Time{}
		}
		return a, nil
	})
	if err != nil {
		return fmt.Errorf("refund attempt: %w", err)
	}
	return nil
}

// cleared is the update that forgets a key's failures after a success.
func cleared(a storage.Attempts) (storage.Attempts, error) { return storage.Attempts{Key: a.Key}, nil }

// ipKey is the throttle key for a client address: IPv6 clients are keyed
// by their /64, which one subscriber usually holds whole.
func ipKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + addr.String()
}
