package login

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
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
	now := t.now()
	a, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		if !a.ExpiresAt.IsZero() && !now.Before(a.ExpiresAt) {
			// Forgotten, whether or not garbage collection has run yet.
			a = storage.Attempts{Key: key}
		}
		if now.Before(a.LockedUntil) {
			return a, errThrottled{a.LockedUntil}
		}
		a.Failures++
		a.LastFailure = now
		a.LockedUntil = now.Add(rule.delay(a.Failures))
		a.ExpiresAt = now.Add(max(rule.Memory, rule.CeilingLock))
		return a, nil
	})
	var locked errThrottled
	if err != nil && !errors.As(err, &locked) {
		return a, fmt.Errorf("charge attempt: %w", err)
	}
	return a, err
}

// refund takes back one charged attempt that succeeded. Unlike a reset it
// leaves other failures standing, so one good sign-in from an address does
// not wipe the failures of everyone else there.
func (t throttle) refund(ctx context.Context, key string, rule ThrottleRule) error {
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

// reset forgets a key's failures after a success.
func (t throttle) reset(ctx context.Context, key string) error {
	_, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		return storage.Attempts{Key: key}, nil
	})
	if err != nil {
		return fmt.Errorf("reset attempts: %w", err)
	}
	return nil
}

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
