package login

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// DefaultAccountRule and DefaultIPRule are the sign-in budgets.
var (
	DefaultAccountRule = ThrottleRule{Free: 5, MaxDelay: 15 * time.Minute, Ceiling: 100, CeilingLock: 24 * time.Hour, Memory: 7 * 24 * time.Hour}
	DefaultIPRule      = ThrottleRule{Free: 20, MaxDelay: 15 * time.Minute, Memory: 24 * time.Hour}
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

// check refuses a key that is locked.
func (t throttle) check(ctx context.Context, key string) error {
	a, err := t.store.GetAttempts(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get attempts: %w", err)
	}
	if t.now().Before(a.LockedUntil) {
		return errThrottled{a.LockedUntil}
	}
	return nil
}

// fail records a failure and returns the new count.
func (t throttle) fail(ctx context.Context, key string, rule ThrottleRule) (storage.Attempts, error) {
	now := t.now()
	a, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		a.Failures++
		a.LastFailure = now
		a.LockedUntil = now.Add(rule.delay(a.Failures))
		a.ExpiresAt = now.Add(max(rule.Memory, rule.CeilingLock))
		return a, nil
	})
	if err != nil {
		return a, fmt.Errorf("record failure: %w", err)
	}
	return a, nil
}

// reset forgets a key's failures after a success. It reads first, so the
// common case (no failures) costs no write.
func (t throttle) reset(ctx context.Context, key string) error {
	if _, err := t.store.GetAttempts(ctx, key); errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	_, err := t.store.UpdateAttempts(ctx, key, func(a storage.Attempts) (storage.Attempts, error) {
		return storage.Attempts{Key: key}, nil
	})
	if err != nil {
		return fmt.Errorf("reset attempts: %w", err)
	}
	return nil
}
