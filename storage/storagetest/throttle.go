package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

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
	lease := func(a storage.Attempts) (storage.Attempts, error) {
		a.InFlight = append(a.InFlight, now.Add(30*time.Second))
		return a, nil
	}
	settle := func(a storage.Attempts) (storage.Attempts, error) {
		a.InFlight = a.InFlight[1:]
		return a, nil
	}
	reset := func(a storage.Attempts) (storage.Attempts, error) { return storage.Attempts{Key: a.Key}, nil }
	once := storage.Attempts{Key: "user:u1", Failures: 1, LastFailure: now, ExpiresAt: now.Add(time.Hour)}
	twice := storage.Attempts{Key: "user:u1", Failures: 2, LastFailure: now.Add(time.Second),
		LockedUntil: now.Add(time.Second + time.Minute), ExpiresAt: now.Add(time.Second + time.Hour)}

	// Each step's want is both UpdateAttempts' result and what GetAttempts
	// then returns; a record with no failures and nothing in flight is not
	// stored at all.
	steps := []struct {
		name    string
		update  func(storage.Attempts) (storage.Attempts, error)
		want    storage.Attempts
		wantErr error
		wantGet error
	}{
		{"an attempt in flight", lease, storage.Attempts{Key: "user:u1", InFlight: []time.Time{now.Add(30 * time.Second)}}, nil, nil},
		{"settled", settle, storage.Attempts{Key: "user:u1", InFlight: []time.Time{}}, nil, storage.ErrNotFound},
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
