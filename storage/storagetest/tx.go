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

// testAtomicallyAccount: a change to an account made through a Tx (the
// user, their methods, tokens and remembered devices, and its audit
// event) commits whole or not at all, its indexes with it, and keeps the
// rules of the Storage methods of the same names.
func testAtomicallyAccount(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	must(t, "CreateOrgUnit", s.CreateOrgUnit(ctx, storage.OrgUnit{ID: "root", Name: "Trust", MFA: storage.MFAOptional, CreatedAt: now}))
	must(t, "CreateUser", s.CreateUser(ctx, newUser("u1", "alice", "alice@example.org", now)))
	must(t, "CreateMethod", s.CreateMethod(ctx, storage.Method{ID: "m1", UserID: "u1", Type: storage.MethodTOTP, CreatedAt: now}))
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, newRefreshToken("rt1", "u1", "f1", now), newAccessToken("at1", "u1", "f1", now)))
	must(t, "CreateSession", s.CreateSession(ctx, storage.Session{ID: "s1", UserID: "u1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(t, "CreateMethod", s.CreateMethod(ctx, storage.Method{ID: "b1", UserID: "u2", Type: storage.MethodTOTP, CreatedAt: now}))
	for _, d := range []storage.RememberedDevice{newDevice("d1", "u1", 'a', now), newDevice("d2", "u1", 'b', now)} {
		_, err := s.RememberDevice(ctx, d)
		must(t, "RememberDevice "+d.ID, err)
	}

	change := func(tx storage.Tx) error {
		if err := tx.CreateUser(newUser("u2", "bob", "bob@example.org", now)); err != nil {
			return err
		}
		if _, err := tx.UpdateUser("u1", func(u storage.User) (storage.User, error) {
			u.Email, u.MFAEnabled = "Alice@New.example", false
			return u, nil
		}); err != nil {
			return err
		}
		if err := tx.DeleteMethod("m1"); err != nil {
			return err
		}
		if err := tx.CreateMethod(storage.Method{ID: "m2", UserID: "u1", Type: storage.MethodRecovery, CreatedAt: now}); err != nil {
			return err
		}
		if err := tx.RevokeUserTokens("u1"); err != nil {
			return err
		}
		if err := tx.DeleteUserSessions("u1"); err != nil {
			return err
		}
		if err := tx.DeleteUserMethods("u2"); err != nil {
			return err
		}
		if err := tx.DeleteRememberedDevice("d1"); err != nil {
			return err
		}
		if err := tx.DeleteUserRememberedDevices("u1"); err != nil {
			return err
		}
		return tx.AppendAudit(storage.AuditEvent{Time: now, Actor: "u1", Subject: "u1", Action: "mfa.method_removed", Outcome: storage.OutcomeSuccess})
	}
	// state is what a reader sees of each write, by the indexes too.
	type state struct {
		Bob, NewEmail, Tokens, Session, BobsMethod bool
		Methods                                    []string
		Devices, Events                            int
	}
	read := func() (st state) {
		_, err := s.GetUserByUsername(ctx, "bob")
		st.Bob = err == nil
		_, err = s.GetUserByEmail(ctx, "alice@new.example")
		st.NewEmail = err == nil
		_, err = s.GetRefreshToken(ctx, "rt1")
		st.Tokens = err == nil
		_, err = s.GetSession(ctx, "s1")
		st.Session = err == nil
		_, err = s.GetMethod(ctx, "b1")
		st.BobsMethod = err == nil
		list, err := s.ListUserMethods(ctx, "u1")
		must(t, "ListUserMethods", err)
		for _, m := range list {
			st.Methods = append(st.Methods, m.ID)
		}
		devices, err := s.ListUserRememberedDevices(ctx, "u1")
		must(t, "ListUserRememberedDevices", err)
		events, err := s.ListAudit(ctx, storage.AuditQuery{User: "u1"})
		must(t, "ListAudit", err)
		st.Devices, st.Events = len(devices), len(events)
		return st
	}

	failed := errors.New("refused after its writes")
	err := s.Atomically(ctx, func(tx storage.Tx) error {
		if err := tx.CreateException(inForce("x0", now)); err != nil {
			return err
		}
		if err := change(tx); err != nil {
			return err
		}
		return failed
	})
	checkErr(t, "Atomically whose function fails", err, failed)
	check(t, "after a failed Atomically", read(), state{Tokens: true, Session: true, BobsMethod: true, Methods: []string{"m1"}, Devices: 2})
	_, err = s.GetException(ctx, "x0")
	checkErr(t, "the exception of a failed Atomically", err, storage.ErrNotFound)
	must(t, "Atomically", s.Atomically(ctx, change))
	check(t, "after Atomically", read(), state{Bob: true, NewEmail: true, Methods: []string{"m2"}, Events: 1})

	// The rules hold inside as outside.
	pass := storage.Method{ID: "p1", UserID: "u1", Type: storage.MethodPass, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, "CreateMethod of a temporary method", s.CreateMethod(ctx, pass))
	pass.ID = "p2"
	for _, c := range []struct {
		name string
		fn   func(storage.Tx) error
		want error
	}{
		{"CreateUser with a taken username", func(tx storage.Tx) error { return tx.CreateUser(newUser("u3", "BOB", "", now)) }, storage.ErrAlreadyExists},
		{"CreateUser in no org unit", func(tx storage.Tx) error {
			u := newUser("u3", "carol", "", now)
			u.OrgUnitID = "gone"
			return tx.CreateUser(u)
		}, storage.ErrConflict},
		{"UpdateUser to a taken email", func(tx storage.Tx) error {
			_, err := tx.UpdateUser("u1", func(u storage.User) (storage.User, error) { u.Email = "BOB@example.org"; return u, nil })
			return err
		}, storage.ErrAlreadyExists},
		{"a second live temporary method", func(tx storage.Tx) error { return tx.CreateMethod(pass) }, storage.ErrConflict},
		{"DeleteMethod of a deleted method", func(tx storage.Tx) error { return tx.DeleteMethod("m1") }, storage.ErrNotFound},
		{"a second exception in force", func(tx storage.Tx) error {
			if err := tx.CreateException(inForce("x1", now)); err != nil {
				return err
			}
			return tx.CreateException(inForce("x2", now))
		}, storage.ErrConflict},
		{"approving one while another is in force", func(tx storage.Tx) error {
			if err := tx.CreateException(inForce("x1", now)); err != nil {
				return err
			}
			requested := inForce("x2", now)
			requested.State = storage.ExceptionRequested
			if err := tx.CreateException(requested); err != nil {
				return err
			}
			_, err := tx.UpdateException("x2", func(e storage.Exception) (storage.Exception, error) {
				e.State = storage.ExceptionApproved
				return e, nil
			})
			return err
		}, storage.ErrConflict},
	} {
		checkErr(t, c.name, s.Atomically(ctx, c.fn), c.want)
	}
}

// inForce is a short-term exception for u1, approved at now.
func inForce(id string, now time.Time) storage.Exception {
	return storage.Exception{ID: id, UserID: "u1", Kind: storage.ExceptionShortTerm, Reason: "phone_lost", State: storage.ExceptionApproved,
		RequestedBy: "a1", RequestedAt: now, DecidedBy: "a1", DecidedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}
