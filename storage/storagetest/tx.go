package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// testAtomically: the writes made through a Tx commit together, or, when
// the function fails, none does; a write in it sees the ones before it.
func testAtomically(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("ar1", now)))
	must(t, "CreateSession", s.CreateSession(ctx, storage.Session{ID: "old", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, "CreateMethod", s.CreateMethod(ctx, storage.Method{ID: "m1", UserID: "u1", Type: storage.MethodTOTP, CreatedAt: now}))
	must(t, "CreateChallenge", s.CreateChallenge(ctx, storage.Challenge{ID: "c0", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))

	// step is one step of a sign-in: every kind of write a Tx makes.
	step := func(tx storage.Tx) error {
		if _, err := tx.UpdateAuthRequest("ar1", func(a storage.AuthRequest) (storage.AuthRequest, error) {
			a.Step, a.SessionID = "second_factor", "new"
			return a, nil
		}); err != nil {
			return err
		}
		if err := tx.DeleteSession("old"); err != nil {
			return err
		}
		if err := tx.CreateSession(storage.Session{ID: "new", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.DeleteChallenge("c0"); err != nil {
			return err
		}
		if err := tx.CreateChallenge(storage.Challenge{ID: "c1", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
			return err
		}
		c, err := tx.UpdateChallenge("c1", func(c storage.Challenge) (storage.Challenge, error) { c.Guesses++; return c, nil })
		if err != nil {
			return err
		}
		if c.Guesses != 1 {
			return errors.New("the challenge created in this transaction was not seen")
		}
		if _, err := tx.UpdateMethod("m1", func(m storage.Method) (storage.Method, error) { m.LastStep = 9; return m, nil }); err != nil {
			return err
		}
		if _, err := tx.UpdateAttempts("k", func(a storage.Attempts) (storage.Attempts, error) {
			a.Failures, a.ExpiresAt = 1, now.Add(time.Hour)
			return a, nil
		}); err != nil {
			return err
		}
		return tx.AppendAudit(storage.AuditEvent{Time: now, Actor: "u1", Subject: "u1", Action: "login.step", Outcome: storage.OutcomeSuccess})
	}
	state := func() (step string, sessions []string, challenges []string, lastStep int64, failures int, events int) {
		a, err := s.GetAuthRequest(ctx, "ar1")
		must(t, "GetAuthRequest", err)
		for _, id := range []string{"old", "new"} {
			if _, err := s.GetSession(ctx, id); err == nil {
				sessions = append(sessions, id)
			}
		}
		for _, id := range []string{"c0", "c1"} {
			if _, err := s.GetChallenge(ctx, id); err == nil {
				challenges = append(challenges, id)
			}
		}
		m, err := s.GetMethod(ctx, "m1")
		must(t, "GetMethod", err)
		at, err := s.GetAttempts(ctx, "k")
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		list, err := s.ListAudit(ctx, storage.AuditQuery{User: "u1"})
		must(t, "ListAudit", err)
		return a.Step, sessions, challenges, m.LastStep, at.Failures, len(list)
	}

	failed := errors.New("refused after its writes")
	err := s.Atomically(ctx, func(tx storage.Tx) error {
		if err := step(tx); err != nil {
			return err
		}
		return failed
	})
	checkErr(t, "Atomically whose function fails", err, failed)
	st, sess, chal, last, fails, events := state()
	check(t, "after a failed Atomically: step", st, newAuthRequest("ar1", now).Step)
	check(t, "sessions", sess, []string{"old"})
	check(t, "challenges", chal, []string{"c0"})
	check(t, "method's last step", last, 0)
	check(t, "failures", fails, 0)
	check(t, "audit events", events, 0)

	must(t, "Atomically", s.Atomically(ctx, step))
	st, sess, chal, last, fails, events = state()
	check(t, "after Atomically: step", st, "second_factor")
	check(t, "sessions", sess, []string{"new"})
	check(t, "challenges", chal, []string{"c1"})
	check(t, "method's last step", last, 9)
	check(t, "failures", fails, 1)
	check(t, "audit events", events, 1)

	// A missing record is ErrNotFound inside, as outside.
	err = s.Atomically(ctx, func(tx storage.Tx) error { return tx.DeleteSession("old") })
	checkErr(t, "DeleteSession of a deleted session", err, storage.ErrNotFound)
}
