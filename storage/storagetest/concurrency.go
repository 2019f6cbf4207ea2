package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testConcurrency runs the hot paths from many goroutines at once, through
// both handles in turn. Under -race it checks the backend's own
// synchronisation; its assertions check that concurrent read-modify-writes
// neither lose updates nor let a code or a refresh token be used twice.
func testConcurrency(t *testing.T, pair [2]storage.Storage) {
	s := pair[0]
	ctx := t.Context()
	now := testNow()
	later := now.Add(time.Minute)
	const n = 32

	must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("ar1", now)))
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rt, at := newRefreshToken(fmt.Sprint("rt", i), "u1", fmt.Sprint("f", i), now), newAccessToken(fmt.Sprint("at", i), "u1", fmt.Sprint("f", i), now)
			if err := pair[i%2].CreateRefreshToken(ctx, rt, at); err != nil {
				t.Errorf("CreateRefreshToken %d: %v", i, err)
			}
		})
	}
	wg.Go(func() {
		err := s.CreateRefreshToken(ctx, newRefreshToken("hot", "u2", "hot", now), newAccessToken("at-hot", "u2", "hot", now))
		if err != nil {
			t.Errorf("CreateRefreshToken hot: %v", err)
		}
	})
	wg.Go(func() {
		if err := s.SaveAuthCode(ctx, storage.AuthCode{Hash: "code", AuthRequestID: "ar1", ExpiresAt: later}); err != nil {
			t.Errorf("SaveAuthCode: %v", err)
		}
	})
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	createUnits(t, s)
	var redeemed, rotatedHot, replayedHot atomic.Int32
	for i := range n {
		wg.Go(func() {
			if err := pair[i%2].CreateUser(ctx, newUser(fmt.Sprint("u", i), fmt.Sprintf("user%03d", i), "", now)); err != nil {
				t.Errorf("CreateUser %d: %v", i, err)
			}
		})
		wg.Go(func() {
			// One shared time: the IDs alone must keep the events apart.
			e := storage.AuditEvent{Time: now, Subject: fmt.Sprint("u", i), Action: "login", Outcome: storage.OutcomeSuccess}
			if err := pair[i%2].AppendAudit(ctx, e); err != nil {
				t.Errorf("AppendAudit %d: %v", i, err)
			}
		})
		wg.Go(func() {
			next, at := newRefreshToken(fmt.Sprint("rt", i, "-next"), "u1", fmt.Sprint("f", i), later), newAccessToken(fmt.Sprint("at", i, "-next"), "u1", fmt.Sprint("f", i), later)
			if err := pair[i%2].RotateRefreshToken(ctx, fmt.Sprint("rt", i), later, next, at); err != nil {
				t.Errorf("RotateRefreshToken %d: %v", i, err)
			}
		})
		wg.Go(func() {
			_, err := pair[i%2].UpdateAttempts(ctx, "shared", func(a storage.Attempts) (storage.Attempts, error) {
				a.Failures++
				a.ExpiresAt = later
				return a, nil
			})
			if err != nil {
				t.Errorf("UpdateAttempts %d: %v", i, err)
			}
		})
		wg.Go(func() {
			_, err := pair[i%2].RedeemAuthCode(ctx, "code", now, newAccessToken(fmt.Sprint("code-at", i), "u1", "code-ar", now), nil)
			switch {
			case err == nil:
				redeemed.Add(1)
			case !errors.Is(err, storage.ErrCodeRedeemed):
				t.Errorf("RedeemAuthCode %d: got error %v, want nil or %v", i, err, storage.ErrCodeRedeemed)
			}
		})
		wg.Go(func() {
			next, at := newRefreshToken(fmt.Sprint("hot", i), "u2", "hot", later), newAccessToken(fmt.Sprint("at-hot", i), "u2", "hot", later)
			err := pair[i%2].RotateRefreshToken(ctx, "hot", later, next, at)
			switch {
			case err == nil:
				rotatedHot.Add(1)
			case errors.Is(err, storage.ErrTokenRotated):
				replayedHot.Add(1)
			case !errors.Is(err, storage.ErrNotFound): // the family is gone already
				t.Errorf("RotateRefreshToken hot %d: got error %v, want nil, %v or %v", i, err, storage.ErrTokenRotated, storage.ErrNotFound)
			}
		})
	}
	wg.Wait()

	var users int
	for _, page := range listAllUsers(t, s, 10) {
		users += len(page)
	}
	if users != n {
		t.Errorf("ListUsers: got %d users, want %d", users, n)
	}

	events, err := s.ListAudit(ctx, storage.AuditQuery{})
	must(t, "ListAudit", err)
	subjects := map[string]bool{}
	for i, e := range events {
		subjects[e.Subject] = true
		if i > 0 && e.ID >= events[i-1].ID {
			t.Errorf("audit event %d: got ID %q after %q, want strictly falling IDs", i, e.ID, events[i-1].ID)
		}
	}
	if len(events) != n || len(subjects) != n {
		t.Errorf("ListAudit: got %d events for %d subjects, want %d of each", len(events), len(subjects), n)
	}

	for i := range n {
		rt, err := s.GetRefreshToken(ctx, fmt.Sprint("rt", i))
		must(t, "GetRefreshToken", err)
		if !rt.RotatedAt.Equal(later) {
			t.Errorf("rt%d: got RotatedAt %v, want %v", i, rt.RotatedAt, later)
		}
		checkTokens(t, s, "after concurrent rotation",
			tokenState{fmt.Sprint("at", i, "-next"): true},
			tokenState{fmt.Sprint("rt", i, "-next"): true})
	}

	a, err := s.GetAttempts(ctx, "shared")
	must(t, "GetAttempts", err)
	if a.Failures != n {
		t.Errorf("concurrent UpdateAttempts: got %d failures, want %d", a.Failures, n)
	}

	if got := redeemed.Load(); got != 1 {
		t.Errorf("concurrent RedeemAuthCode: got %d successes, want 1", got)
	}
	// One rotation of the hot token wins; the next is a replay that revokes
	// the family, including what the winner stored, and any after that find
	// the token gone.
	if got, replays := rotatedHot.Load(), replayedHot.Load(); got != 1 || replays < 1 {
		t.Errorf("concurrent RotateRefreshToken of one token: got %d successes and %d replays, want 1 and at least 1", got, replays)
	}
	hotAccess, hotRefresh := tokenState{"at-hot": false}, tokenState{"hot": false}
	for i := range n {
		hotAccess[fmt.Sprint("at-hot", i)] = false
		hotRefresh[fmt.Sprint("hot", i)] = false
	}
	checkTokens(t, s, "after concurrent replays", hotAccess, hotRefresh)
}
