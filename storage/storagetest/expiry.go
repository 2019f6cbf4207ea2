package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

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
		d := newDevice("d-"+r.id, "u1", r.id[0], now)
		d.ExpiresAt = r.expiry
		_, err := s.RememberDevice(ctx, d)
		must(t, "RememberDevice", err)
		_, err = s.UpdateAttempts(ctx, "key-"+r.id, func(a storage.Attempts) (storage.Attempts, error) {
			a.Failures, a.LastFailure, a.ExpiresAt = 1, now, r.expiry
			return a, nil
		})
		must(t, "UpdateAttempts", err)
		must(t, "CreateMethod", s.CreateMethod(ctx, storage.Method{ID: "pass-" + r.id, UserID: "u-" + r.id, Type: storage.MethodPass,
			CreatedAt: now.Add(-time.Hour), ExpiresAt: r.expiry}))
	}
	// A method that lasts (no expiry) is never expired.
	must(t, "CreateMethod", s.CreateMethod(ctx, storage.Method{ID: "lasting", UserID: "u1", Type: storage.MethodTOTP, CreatedAt: now.Add(-time.Hour)}))

	// An update that extends a record moves it in the expiry order.
	extended := newSession("s-extended", "u1", now)
	extended.ExpiresAt = now.Add(-time.Second)
	must(t, "CreateSession", s.CreateSession(ctx, extended))
	_, err := s.UpdateSession(ctx, extended.ID, func(s storage.Session) (storage.Session, error) {
		s.ExpiresAt = now.Add(time.Hour)
		return s, nil
	})
	must(t, "extend session", err)

	n, err := s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired", err)
	if want := 9; n != want {
		t.Errorf("DeleteExpired: got %d deleted, want %d", n, want)
	}
	for _, id := range []string{"old", "live"} {
		want := id == "live"
		stored := map[string]bool{}
		_, err := s.GetAuthRequest(ctx, "ar-"+id)
		stored["auth request"] = err == nil
		_, err = s.GetAuthCode(ctx, "code-"+id)
		stored["auth code"] = err == nil
		_, err = s.GetAccessToken(ctx, "at-"+id)
		stored["access token"] = err == nil
		_, err = s.GetRefreshToken(ctx, "rt-"+id)
		stored["refresh token"] = err == nil
		_, err = s.GetAccessToken(ctx, "rat-"+id)
		stored["refresh token's access token"] = err == nil
		_, err = s.GetSession(ctx, "s-"+id)
		stored["session"] = err == nil
		_, err = s.GetRememberedDevice(ctx, "d-"+id)
		stored["remembered device"] = err == nil
		_, err = s.GetAttempts(ctx, "key-"+id)
		stored["attempts"] = err == nil
		_, err = s.GetMethod(ctx, "pass-"+id)
		stored["temporary method"] = err == nil
		for kind, got := range stored {
			if got != want {
				t.Errorf("after DeleteExpired: %s %q stored = %v, want %v", kind, id, got, want)
			}
		}
	}
	if _, err := s.GetMethod(ctx, "lasting"); err != nil {
		t.Errorf("a method without an expiry after DeleteExpired: %v", err)
	}
	// The indexes forgot the expired records too.
	sessions, err := s.ListUserSessions(ctx, "u1")
	must(t, "ListUserSessions", err)
	check(t, "sessions after DeleteExpired", sessionIDs(sessions), []string{"s-extended", "s-live"}, cmpopts.SortSlices(func(a, b string) bool { return a < b }))
	if _, err := s.FindRememberedDevice(ctx, "u1", []byte{'o', 0, 'o'}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("FindRememberedDevice of an expired device after DeleteExpired: got error %v, want not found", err)
	}

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
