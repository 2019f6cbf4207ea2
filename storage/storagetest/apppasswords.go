package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

func newAppPassword(id, userID string, now time.Time) storage.AppPassword {
	return storage.AppPassword{ID: id, UserID: userID, Name: "Mail on my phone " + id, Hash: []byte("hash " + id), CreatedAt: now}
}

var sortAppPasswords = cmpopts.SortSlices(func(a, b storage.AppPassword) bool { return a.ID < b.ID })

// testAppPasswords: a user's app passwords are listed by user, updated,
// deleted one or all, in Tx too; the limit is kept, and a refused update
// changes nothing.
func testAppPasswords(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	var want []storage.AppPassword
	for i := range storage.MaxAppPasswords {
		p := newAppPassword(fmt.Sprintf("p%02d", i), "u1", now)
		must(t, "CreateAppPassword", s.CreateAppPassword(ctx, p))
		want = append(want, p)
	}
	checkErr(t, "one over the limit", s.CreateAppPassword(ctx, newAppPassword("over", "u1", now)), storage.ErrConflict)
	checkErr(t, "a taken id", s.CreateAppPassword(ctx, newAppPassword("p00", "u2", now)), storage.ErrAlreadyExists)
	other := newAppPassword("q1", "u2", now)
	must(t, "another user's", s.CreateAppPassword(ctx, other))
	list, err := s.ListUserAppPasswords(ctx, "u1")
	must(t, "ListUserAppPasswords", err)
	check(t, "u1's app passwords", list, want, sortAppPasswords)

	used, err := s.UpdateAppPassword(ctx, "p03", func(p storage.AppPassword) (storage.AppPassword, error) {
		p.LastUsedAt, p.LastUsedIP = now.Add(time.Minute), "192.0.2.7"
		return p, nil
	})
	must(t, "UpdateAppPassword", err)
	_, err = s.UpdateAppPassword(ctx, "p03", refuse[storage.AppPassword])
	checkErr(t, "a refused update", err, errRefused)
	_, err = s.UpdateAppPassword(ctx, "nope", func(p storage.AppPassword) (storage.AppPassword, error) { return p, nil })
	checkErr(t, "updating a missing one", err, storage.ErrNotFound)
	want[3] = used

	must(t, "DeleteAppPassword", s.DeleteAppPassword(ctx, "p00"))
	checkErr(t, "deleting it again", s.DeleteAppPassword(ctx, "p00"), storage.ErrNotFound)
	must(t, "one under the limit again", s.CreateAppPassword(ctx, newAppPassword("p20", "u1", now)))
	list, err = s.ListUserAppPasswords(ctx, "u1")
	must(t, "ListUserAppPasswords", err)
	check(t, "after a delete and a create", list, append(want[1:], newAppPassword("p20", "u1", now)), sortAppPasswords)

	must(t, "DeleteUserAppPasswords in a Tx", s.Atomically(ctx, func(tx storage.Tx) error { return tx.DeleteUserAppPasswords("u1") }))
	list, err = s.ListUserAppPasswords(ctx, "u1")
	must(t, "ListUserAppPasswords", err)
	check(t, "after deleting all of u1's", list, nil)
	list, err = s.ListUserAppPasswords(ctx, "u2")
	must(t, "ListUserAppPasswords", err)
	check(t, "u2's, untouched", list, []storage.AppPassword{other})
	must(t, "DeleteUserAppPasswords", s.DeleteUserAppPasswords(ctx, "u2"))
}

// testAppPasswordLimitRace: many creating at once for one user, through
// both handles, never pass the limit.
func testAppPasswordLimitRace(t *testing.T, pair [2]storage.Storage) {
	s := pair[0]
	ctx := t.Context()
	now := testNow()
	var wg sync.WaitGroup
	for i := range 2 * storage.MaxAppPasswords {
		wg.Go(func() {
			err := pair[i%2].Atomically(ctx, func(tx storage.Tx) error {
				return tx.CreateAppPassword(newAppPassword(fmt.Sprintf("p%02d", i), "u1", now))
			})
			if err != nil {
				checkErr(t, "a create over the limit", err, storage.ErrConflict)
			}
		})
	}
	wg.Wait()
	list, err := s.ListUserAppPasswords(ctx, "u1")
	must(t, "ListUserAppPasswords", err)
	if len(list) != storage.MaxAppPasswords {
		t.Errorf("%d app passwords after a race to create %d, want %d", len(list), 2*storage.MaxAppPasswords, storage.MaxAppPasswords)
	}
}
