package storagetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

var sortMethods = cmpopts.SortSlices(func(a, b storage.Method) bool { return a.ID < b.ID })

func testMethods(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	totp := storage.Method{ID: "m1", UserID: "u1", Type: storage.MethodTOTP, Name: "Phone app", CreatedAt: now, Secret: []byte{1, 2, 3}, LastStep: 7}
	sms := storage.Method{ID: "m2", UserID: "u1", Type: storage.MethodSMS, Name: "Mobile", Target: "+447700900123", CreatedAt: now}
	other := storage.Method{ID: "m3", UserID: "u2", Type: storage.MethodWebAuthn, Name: "Key", Data: []byte(`{"id":"x"}`), CreatedAt: now}
	for _, m := range []storage.Method{totp, sms, other} {
		must(t, "CreateMethod "+m.ID, s.CreateMethod(ctx, m))
	}
	got, err := s.GetMethod(ctx, "m1")
	must(t, "GetMethod", err)
	check(t, "GetMethod", got, totp)
	checkCommonErrors(t, entity[storage.Method]{s.CreateMethod, s.GetMethod, s.UpdateMethod, s.DeleteMethod}, "m1", totp)

	totp.LastStep, totp.LastUsedAt = 8, now.Add(time.Minute)
	got, err = s.UpdateMethod(ctx, "m1", func(m storage.Method) (storage.Method, error) {
		m.LastStep, m.LastUsedAt = 8, now.Add(time.Minute)
		return m, nil
	})
	must(t, "UpdateMethod", err)
	check(t, "UpdateMethod result", got, totp)

	listOf := func(user string) []storage.Method {
		list, err := s.ListUserMethods(ctx, user)
		must(t, "ListUserMethods "+user, err)
		return list
	}
	check(t, "u1's methods", listOf("u1"), []storage.Method{totp, sms}, sortMethods)
	check(t, "u2's methods", listOf("u2"), []storage.Method{other})
	check(t, "methods of a user without any", listOf("nope"), nil)

	must(t, "DeleteMethod", s.DeleteMethod(ctx, "m2"))
	check(t, "u1's methods after DeleteMethod", listOf("u1"), []storage.Method{totp})
	must(t, "DeleteUserMethods", s.DeleteUserMethods(ctx, "u1"))
	check(t, "u1's methods after DeleteUserMethods", listOf("u1"), nil)
	check(t, "u2's methods after DeleteUserMethods u1", listOf("u2"), []storage.Method{other})
}

func testChallenges(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	c := storage.Challenge{
		ID: "c1", UserID: "u1", AuthRequestID: "ar1", MethodID: "m1", Type: storage.MethodEmail,
		CodeHash: []byte{9, 9}, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}
	must(t, "CreateChallenge", s.CreateChallenge(ctx, c))
	got, err := s.GetChallenge(ctx, "c1")
	must(t, "GetChallenge", err)
	check(t, "GetChallenge", got, c)
	checkCommonErrors(t, entity[storage.Challenge]{s.CreateChallenge, s.GetChallenge, s.UpdateChallenge, s.DeleteChallenge}, "c1", c)

	c.Guesses, c.Approved = 1, true
	got, err = s.UpdateChallenge(ctx, "c1", func(c storage.Challenge) (storage.Challenge, error) {
		c.Guesses++
		c.Approved = true
		return c, nil
	})
	must(t, "UpdateChallenge", err)
	check(t, "UpdateChallenge result", got, c)

	// Expired challenges go with DeleteExpired; live ones stay.
	must(t, "CreateChallenge old", s.CreateChallenge(ctx, storage.Challenge{ID: "old", UserID: "u1", Type: storage.MethodSMS, CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	_, err = s.DeleteExpired(ctx, now)
	must(t, "DeleteExpired", err)
	_, err = s.GetChallenge(ctx, "old")
	checkErr(t, "expired challenge after DeleteExpired", err, storage.ErrNotFound)
	_, err = s.GetChallenge(ctx, "c1")
	must(t, "live challenge after DeleteExpired", err)

	must(t, "DeleteChallenge", s.DeleteChallenge(ctx, "c1"))
	_, err = s.GetChallenge(ctx, "c1")
	checkErr(t, "deleted challenge", err, storage.ErrNotFound)
}
