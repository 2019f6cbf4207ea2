package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func testSigningKeys(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	keys, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	check(t, "signing keys of a new store", keys, nil)

	k1 := storage.SigningKey{ID: "k1", Algorithm: "RS256", PrivateDER: []byte{1, 2}, CreatedAt: now}
	k2 := storage.SigningKey{ID: "k2", Algorithm: "ES256", PrivateDER: []byte{3, 4}, CreatedAt: now.Add(time.Hour)}
	retired := k1
	retired.RetiredAt, retired.DeleteAfter = now.Add(time.Hour), now.Add(2*time.Hour)

	steps := []struct {
		name    string
		update  func([]storage.SigningKey) ([]storage.SigningKey, error)
		want    []storage.SigningKey // what the store holds afterwards
		wantErr error
	}{
		{"add the first key", func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			return append(ks, k1), nil
		}, []storage.SigningKey{k1}, nil},
		// Rotation replaces the set in one step: a new key signs as the old
		// one retires, with no moment when neither or both sign.
		{"rotate", func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			ks[0].RetiredAt, ks[0].DeleteAfter = retired.RetiredAt, retired.DeleteAfter
			return []storage.SigningKey{k2, ks[0]}, nil
		}, []storage.SigningKey{k2, retired}, nil},
		{"refused update", refuse[[]storage.SigningKey], []storage.SigningKey{k2, retired}, errRefused},
		{"drop the retired key", func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			return ks[:1], nil
		}, []storage.SigningKey{k2}, nil},
	}
	for _, tt := range steps {
		got, err := s.UpdateSigningKeys(ctx, tt.update)
		checkErr(t, tt.name, err, tt.wantErr)
		if err == nil {
			check(t, tt.name+": result", got, tt.want)
		}
		keys, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		check(t, tt.name+": stored keys", keys, tt.want)
	}
}

func testSecrets(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	cookie1 := storage.Secret{Value: []byte("cookie-1"), CreatedAt: now}
	cookie2 := storage.Secret{Value: []byte("cookie-2"), CreatedAt: now.Add(time.Hour)}
	token1 := storage.Secret{Value: []byte("token-1"), CreatedAt: now}
	prepend := func(sec storage.Secret) func([]storage.Secret) ([]storage.Secret, error) {
		return func(old []storage.Secret) ([]storage.Secret, error) {
			return append([]storage.Secret{sec}, old...), nil
		}
	}

	// Each step's want is what the purpose holds afterwards; purposes are
	// independent, and the order a caller stores (newest first) is kept.
	steps := []struct {
		name    string
		purpose string
		update  func([]storage.Secret) ([]storage.Secret, error)
		want    []storage.Secret
		wantErr error
	}{
		{"first cookie key", "cookie", prepend(cookie1), []storage.Secret{cookie1}, nil},
		{"first token key", "token", prepend(token1), []storage.Secret{token1}, nil},
		{"second cookie key", "cookie", prepend(cookie2), []storage.Secret{cookie2, cookie1}, nil},
		{"refused update", "cookie", refuse[[]storage.Secret], nil, errRefused},
		{"read cookie keys", "cookie", noChange[[]storage.Secret], []storage.Secret{cookie2, cookie1}, nil},
		{"read token keys", "token", noChange[[]storage.Secret], []storage.Secret{token1}, nil},
		{"read an unused purpose", "other", noChange[[]storage.Secret], nil, nil},
	}
	for _, tt := range steps {
		got, err := s.UpdateSecrets(ctx, tt.purpose, tt.update)
		checkErr(t, tt.name, err, tt.wantErr)
		check(t, tt.name, got, tt.want)
	}
}

func noChange[T any](v T) (T, error) { return v, nil }

func testThrottle(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	_, err := s.GetAttempts(ctx, "user:u1")
	checkErr(t, "GetAttempts without a record", err, storage.ErrNotFound)

	fail := func(at time.Time) func(storage.Attempts) (storage.Attempts, error) {
		return func(a storage.Attempts) (storage.Attempts, error) {
			a.Failures++
			a.LastFailure, a.ExpiresAt = at, at.Add(time.Hour)
			if a.Failures >= 2 {
				a.LockedUntil = at.Add(time.Minute)
			}
			return a, nil
		}
	}
	reset := func(a storage.Attempts) (storage.Attempts, error) { return storage.Attempts{Key: a.Key}, nil }
	once := storage.Attempts{Key: "user:u1", Failures: 1, LastFailure: now, ExpiresAt: now.Add(time.Hour)}
	twice := storage.Attempts{Key: "user:u1", Failures: 2, LastFailure: now.Add(time.Second),
		LockedUntil: now.Add(time.Second + time.Minute), ExpiresAt: now.Add(time.Second + time.Hour)}

	// Each step's want is both UpdateAttempts' result and what GetAttempts
	// then returns; a record with no failures is not stored at all.
	steps := []struct {
		name    string
		update  func(storage.Attempts) (storage.Attempts, error)
		want    storage.Attempts
		wantErr error
		wantGet error
	}{
		{"first failure", fail(now), once, nil, nil},
		{"second failure", fail(now.Add(time.Second)), twice, nil, nil},
		{"refused update", refuse[storage.Attempts], storage.Attempts{}, errRefused, nil},
		{"reset", reset, storage.Attempts{Key: "user:u1"}, nil, storage.ErrNotFound},
		{"reset without a record", reset, storage.Attempts{Key: "user:u1"}, nil, storage.ErrNotFound},
	}
	stored := storage.Attempts{}
	for _, tt := range steps {
		got, err := s.UpdateAttempts(ctx, "user:u1", tt.update)
		checkErr(t, tt.name, err, tt.wantErr)
		check(t, tt.name+": result", got, tt.want)
		if err == nil {
			stored = tt.want
		}
		got, err = s.GetAttempts(ctx, "user:u1")
		checkErr(t, tt.name+": GetAttempts", err, tt.wantGet)
		if err == nil {
			check(t, tt.name+": GetAttempts", got, stored)
		}
	}

	_, err = s.UpdateAttempts(ctx, "ip:192.0.2.1", fail(now))
	must(t, "fail from an IP", err)
	got, err := s.GetAttempts(ctx, "ip:192.0.2.1")
	must(t, "GetAttempts ip", err)
	check(t, "keys are independent", got, storage.Attempts{Key: "ip:192.0.2.1", Failures: 1, LastFailure: now, ExpiresAt: now.Add(time.Hour)})
}

func testAudit(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	event := func(at time.Time, subject, action string) storage.AuditEvent {
		return storage.AuditEvent{
			Time: at, Actor: "admin", Subject: subject, OrgUnitID: "root", Action: action,
			Outcome: storage.OutcomeSuccess, IP: "192.0.2.1", UserAgent: "Firefox",
			Details: map[string]string{"reason": action},
		}
	}
	e1 := event(now.Add(-2*time.Minute), "alice", "login")
	e2 := event(now.Add(-time.Minute), "bob", "login")
	e3 := event(now.Add(-time.Minute), "alice", "mfa.reset") // same time as e2, appended after it
	e4 := event(now, "bob", "login")
	e5 := event(now.Add(-3*time.Minute), "carol", "login") // appended last, but the oldest
	for _, e := range []storage.AuditEvent{e1, e2, e3, e4, e5} {
		must(t, "AppendAudit", s.AppendAudit(ctx, e))
	}

	all, err := s.ListAudit(ctx, storage.AuditQuery{})
	must(t, "ListAudit", err)
	seen := map[string]bool{}
	for i, e := range all {
		if e.ID == "" || seen[e.ID] {
			t.Errorf("event %d: got ID %q, want a new non-empty one", i, e.ID)
		}
		seen[e.ID] = true
		if i > 0 && e.ID >= all[i-1].ID {
			t.Errorf("event %d: got ID %q after %q, want IDs falling as events get older", i, e.ID, all[i-1].ID)
		}
	}

	tests := []struct {
		name string
		q    storage.AuditQuery
		want []storage.AuditEvent
	}{
		{"everything, newest first", storage.AuditQuery{}, []storage.AuditEvent{e4, e3, e2, e1, e5}},
		{"subject", storage.AuditQuery{Subject: "alice"}, []storage.AuditEvent{e3, e1}},
		{"action", storage.AuditQuery{Action: "login"}, []storage.AuditEvent{e4, e2, e1, e5}},
		{"since is inclusive", storage.AuditQuery{Since: now.Add(-time.Minute)}, []storage.AuditEvent{e4, e3, e2}},
		{"until is exclusive", storage.AuditQuery{Until: now.Add(-time.Minute)}, []storage.AuditEvent{e1, e5}},
		{"since and until", storage.AuditQuery{Since: now.Add(-2 * time.Minute), Until: now}, []storage.AuditEvent{e3, e2, e1}},
		{"until after the last event", storage.AuditQuery{Until: now.Add(time.Hour)}, []storage.AuditEvent{e4, e3, e2, e1, e5}},
		{"limit", storage.AuditQuery{Limit: 2}, []storage.AuditEvent{e4, e3}},
		{"all filters", storage.AuditQuery{Subject: "bob", Action: "login", Since: now.Add(-time.Hour), Until: now.Add(time.Hour), Limit: 1}, []storage.AuditEvent{e4}},
		{"no match", storage.AuditQuery{Subject: "zed"}, nil},
	}
	for _, tt := range tests {
		got, err := s.ListAudit(ctx, tt.q)
		must(t, tt.name, err)
		check(t, tt.name, got, tt.want, ignoreAuditID)
	}
}

func testDeleteExpired(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	// Each kind gets one record that expired and one that has not.
	for _, r := range []struct {
		id     string
		expiry time.Time
	}{{"old", now.Add(-time.Second)}, {"live", now.Add(time.Hour)}} {
		ar := newAuthRequest("ar-"+r.id, now)
		ar.ExpiresAt = r.expiry
		must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, ar))
		must(t, "SaveAuthCode", s.SaveAuthCode(ctx, storage.AuthCode{Hash: "code-" + r.id, AuthRequestID: ar.ID, ExpiresAt: r.expiry}))
		at := newAccessToken("at-"+r.id, "u1", "", now)
		at.ExpiresAt = r.expiry
		must(t, "CreateAccessToken", s.CreateAccessToken(ctx, at))
		rt, rat := newRefreshToken("rt-"+r.id, "u1", "f-"+r.id, now), newAccessToken("rat-"+r.id, "u1", "f-"+r.id, now)
		rt.ExpiresAt, rat.ExpiresAt = r.expiry, r.expiry
		must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt, rat))
		sess := newSession("s-"+r.id, "u1", now)
		sess.ExpiresAt = r.expiry
		must(t, "CreateSession", s.CreateSession(ctx, sess))
		_, err := s.UpdateAttempts(ctx, "key-"+r.id, func(a storage.Attempts) (storage.Attempts, error) {
			a.Failures, a.LastFailure, a.ExpiresAt = 1, now, r.expiry
			return a, nil
		})
		must(t, "UpdateAttempts", err)
	}

	n, err := s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired", err)
	if want := 7; n != want {
		t.Errorf("DeleteExpired: got %d deleted, want %d", n, want)
	}
	for _, id := range []string{"old", "live"} {
		want := id == "live"
		stored := map[string]bool{}
		_, err := s.GetAuthRequest(ctx, "ar-"+id)
		stored["auth request"] = err == nil
		_, err = s.RedeemAuthCode(ctx, "code-"+id, now.Add(-time.Minute))
		stored["auth code"] = err == nil
		_, err = s.GetAccessToken(ctx, "at-"+id)
		stored["access token"] = err == nil
		_, err = s.GetRefreshToken(ctx, "rt-"+id)
		stored["refresh token"] = err == nil
		_, err = s.GetAccessToken(ctx, "rat-"+id)
		stored["refresh token's access token"] = err == nil
		_, err = s.GetSession(ctx, "s-"+id)
		stored["session"] = err == nil
		_, err = s.GetAttempts(ctx, "key-"+id)
		stored["attempts"] = err == nil
		for kind, got := range stored {
			if got != want {
				t.Errorf("after DeleteExpired: %s %q stored = %v, want %v", kind, id, got, want)
			}
		}
	}
	// The indexes forgot the expired records too.
	sessions, err := s.ListUserSessions(ctx, "u1")
	must(t, "ListUserSessions", err)
	check(t, "sessions after DeleteExpired", sessionIDs(sessions), []string{"s-live"})

	n, err = s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired again", err)
	if n != 0 {
		t.Errorf("DeleteExpired again: got %d deleted, want 0", n)
	}
}

func sessionIDs(list []storage.Session) []string {
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}
