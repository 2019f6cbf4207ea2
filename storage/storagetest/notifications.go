package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func newNotification(id, user string, due, now time.Time) storage.Notification {
	return storage.Notification{
		ID: id, UserID: user, Channel: storage.ChannelEmail, To: user + "@example.org", Event: "mfa.method_added",
		Subject: "A method was added", Text: "An authenticator app was added.", HTML: "<p>An authenticator app was added.</p>",
		State: storage.NotificationPending, NextAttemptAt: due, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
	}
}

// add stores notifications the only way they are made: in a change's
// transaction.
func add(t *testing.T, s storage.Storage, list ...storage.Notification) {
	t.Helper()
	must(t, "AddNotification", s.Atomically(t.Context(), func(tx storage.Tx) error {
		for _, n := range list {
			if err := tx.AddNotification(n); err != nil {
				return err
			}
		}
		return nil
	}))
}

func ids(list []storage.Notification) []string {
	var out []string
	for _, n := range list {
		out = append(out, n.ID)
	}
	return out
}

// testNotifications: a claim takes the due pending notifications, longest
// due first, and leases them; a lease run out makes them claimable again;
// a recorded outcome ends that.
func testNotifications(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	late, due, early := newNotification("n1", "u1", now.Add(-time.Minute), now), newNotification("n2", "u1", now, now.Add(time.Second)), newNotification("n3", "u1", now.Add(time.Minute), now)
	sent := newNotification("n4", "u2", now.Add(-time.Hour), now)
	sent.State, sent.SentAt = storage.NotificationSent, now
	add(t, s, due, early, sent, late)

	got, err := s.GetNotification(ctx, "n2")
	must(t, "GetNotification", err)
	check(t, "GetNotification", got, due)
	checkErr(t, "AddNotification with a taken id", s.Atomically(ctx, func(tx storage.Tx) error { return tx.AddNotification(due) }), storage.ErrAlreadyExists)

	lease := 30 * time.Second
	claimed, err := s.ClaimNotifications(ctx, now, lease, 1)
	must(t, "ClaimNotifications", err)
	check(t, "the first claim, of one", ids(claimed), []string{"n1"})
	claimed, err = s.ClaimNotifications(ctx, now, lease, 10)
	must(t, "ClaimNotifications", err)
	check(t, "the next claim", ids(claimed), []string{"n2"})
	if c := claimed[0]; c.Attempts != 1 || !c.NextAttemptAt.Equal(now.Add(lease)) {
		t.Errorf("a claimed notification: attempts %d, next attempt %v; want 1, %v", c.Attempts, c.NextAttemptAt, now.Add(lease))
	}
	claimed, err = s.ClaimNotifications(ctx, now, lease, 10)
	must(t, "ClaimNotifications", err)
	check(t, "a claim while the others are leased", ids(claimed), nil)

	_, err = s.UpdateNotification(ctx, "n1", func(n storage.Notification) (storage.Notification, error) {
		n.State, n.SentAt = storage.NotificationSent, now
		return n, nil
	})
	must(t, "UpdateNotification", err)
	claimed, err = s.ClaimNotifications(ctx, now.Add(lease+time.Second), lease, 10)
	must(t, "ClaimNotifications", err)
	check(t, "a claim after the lease ran out, one of the two sent", ids(claimed), []string{"n2"})
	check(t, "its attempts", claimed[0].Attempts, 2)
	claimed, err = s.ClaimNotifications(ctx, now.Add(time.Hour), lease, 10)
	must(t, "ClaimNotifications", err)
	check(t, "a claim an hour on", ids(claimed), []string{"n3", "n2"})

	list, err := s.ListUserNotifications(ctx, "u1", 0)
	must(t, "ListUserNotifications", err)
	check(t, "u1's notifications, newest first", ids(list), []string{"n2", "n3", "n1"})
	list, err = s.ListUserNotifications(ctx, "u1", 2)
	must(t, "ListUserNotifications", err)
	check(t, "u1's two newest", ids(list), []string{"n2", "n3"})

	_, err = s.DeleteExpired(ctx, now.Add(31*24*time.Hour))
	must(t, "DeleteExpired", err)
	list, err = s.ListUserNotifications(ctx, "u1", 0)
	must(t, "ListUserNotifications", err)
	check(t, "after they expired", ids(list), nil)
	claimed, err = s.ClaimNotifications(ctx, now.Add(32*24*time.Hour), lease, 10)
	must(t, "ClaimNotifications", err)
	check(t, "a claim after they expired", ids(claimed), nil)

	err = s.Atomically(ctx, func(tx storage.Tx) error {
		if err := tx.AddNotification(newNotification("n5", "u1", now, now)); err != nil {
			return err
		}
		return errRefused
	})
	checkErr(t, "a notification in a failed Atomically", err, errRefused)
	_, err = s.GetNotification(ctx, "n5")
	checkErr(t, "the notification of a failed Atomically", err, storage.ErrNotFound)
}

// testNotificationClaimsRace: senders claiming at once, through both
// handles, each get different notifications, and between them all.
func testNotificationClaimsRace(t *testing.T, pair [2]storage.Storage) {
	s := pair[0]
	now := testNow()
	var want []string
	var list []storage.Notification
	for i := range 40 {
		id := fmt.Sprintf("n%02d", i)
		want = append(want, id)
		list = append(list, newNotification(id, "u1", now.Add(-time.Duration(i)*time.Second), now))
	}
	add(t, s, list...)
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for {
				claimed, err := pair[i%2].ClaimNotifications(t.Context(), now, time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(claimed) == 0 {
					return
				}
				mu.Lock()
				got = append(got, ids(claimed)...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	check(t, "what the senders claimed between them, each once", got, want)
}
