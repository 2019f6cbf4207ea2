package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// mailbox is a Mailer that keeps what it is sent.
type mailbox []otp.Mail

func (b *mailbox) SendMail(_ context.Context, m otp.Mail) error {
	*b = append(*b, m)
	return nil
}

// newSender is a Sender over a fresh store, on a clock the test moves.
func newSender(t *testing.T) (*Sender, *bbolt.DB, *mailbox, *time.Time) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	box := &mailbox{}
	return &Sender{Store: db, Notifier: newNotifier(t), Mail: box, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return now }}, db, box, &now
}

func addNotices(t *testing.T, s *Sender, db *bbolt.DB, u storage.User, events ...string) []storage.Notification {
	t.Helper()
	var all []storage.Notification
	for _, e := range events {
		list, unsent, err := s.Notifier.Notices(u, e, Facts{When: s.Now(), Mobile: "+447700900123", Details: map[string]string{"method": storage.MethodTOTP}})
		if err != nil || unsent != "" {
			t.Fatalf("%s: %v, %q", e, err, unsent)
		}
		all = append(all, list...)
	}
	if err := db.Atomically(t.Context(), func(tx storage.Tx) error {
		for _, n := range all {
			if err := tx.AddNotification(n); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all
}

func sendDue(t *testing.T, s *Sender) int {
	t.Helper()
	n, err := s.SendDue(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBudget: a flood of notices to one person becomes Budget messages in
// an hour, the last a digest of the rest; more wait for the hour to pass,
// none is dropped, and each is recorded as sent, alone or in a digest.
func TestBudget(t *testing.T) {
	s, db, box, now := newSender(t)
	u := storage.User{ID: "u1", Username: "alice", Email: "alice@example.org"}
	var events []string
	for range 4 {
		events = append(events, "mfa.method_added", "mfa.method_removed")
	}
	added := addNotices(t, s, db, u, events...)
	if got := sendDue(t, s); got != Budget {
		t.Fatalf("sent %d messages for %d notices, want %d", got, len(added), Budget)
	}
	digest := (*box)[Budget-1]
	if want := fmt.Sprintf("%d things happened to your account", len(added)-Budget+1); digest.Subject != want || strings.Count(digest.Text, "\n- ") != len(added)-Budget+1 {
		t.Errorf("the last message: %q\n%s", digest.Subject, digest.Text)
	}
	list, err := db.ListUserNotifications(t.Context(), u.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	inDigest := 0
	for _, n := range list {
		if n.State != storage.NotificationSent {
			t.Errorf("%s: %s, want sent", n.ID, n.State)
		}
		if n.SentIn == digest.ID {
			inDigest++
		}
	}
	if inDigest != len(added)-Budget {
		t.Errorf("%d notices sent in the digest %s, want %d", inDigest, digest.ID, len(added)-Budget)
	}

	*now = now.Add(10 * time.Minute)
	later := addNotices(t, s, db, u, "user.password_changed", "mfa.disabled")
	if got := sendDue(t, s); got != 0 {
		t.Fatalf("sent %d messages over the budget, want them held", got)
	}
	held, err := db.GetNotification(t.Context(), later[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if back := now.Add(50 * time.Minute); held.State != storage.NotificationPending || !held.NextAttemptAt.Equal(back) || !strings.HasPrefix(held.LastError, HeldBack) || held.Attempts != 0 {
		t.Errorf("a notice over the budget: %+v; want pending until %v", held, back)
	}
	*now = now.Add(50 * time.Minute)
	if got := sendDue(t, s); got != 2 {
		t.Errorf("an hour after the flood sent %d messages, want the 2 held", got)
	}
}

// TestStaleNotices: a notice that an exception expires is not sent when
// the exception was revoked first, nor a notice of an event turned off;
// both are recorded as cancelled, with why.
func TestStaleNotices(t *testing.T) {
	s, db, box, now := newSender(t)
	u := storage.User{ID: "u1", Username: "alice", Email: "alice@example.org"}
	e := storage.Exception{ID: "e1", UserID: u.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost", State: storage.ExceptionApproved,
		RequestedAt: *now, DecidedAt: *now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := db.CreateException(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	list, _, err := s.Notifier.Notices(u, "exception.approved", Facts{When: *now, Details: map[string]string{
		"exception": e.ID, "kind": e.Kind, "reason": e.Reason, "expires": e.ExpiresAt.Format(time.RFC3339)}})
	if err != nil || len(list) != 2 {
		t.Fatalf("notices of an exception granted: %v, %v", list, err)
	}
	reset := addNotices(t, s, db, u, "mfa.reset")
	if err := db.Atomically(t.Context(), func(tx storage.Tx) error {
		for _, n := range list {
			if err := tx.AddNotification(n); err != nil {
				return err
			}
		}
		_, err := tx.UpdateException(e.ID, func(e storage.Exception) (storage.Exception, error) {
			e.State, e.RevokedAt = storage.ExceptionRevoked, *now
			return e, nil
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.Notifier.SetSettings(storage.Settings{Notices: map[string]bool{"mfa.reset": false}})
	*now = now.Add(25 * time.Hour)
	if got := sendDue(t, s); got != 1 || (*box)[0].Subject != list[0].Subject {
		t.Fatalf("sent %d messages (%v), want the grant's alone", got, *box)
	}
	for id, why := range map[string]string{list[1].ID: "the exception was revoked first", reset[0].ID: "turned off"} {
		n, err := db.GetNotification(t.Context(), id)
		if err != nil || n.State != storage.NotificationCancelled || n.LastError != why {
			t.Errorf("%s: %s, %q, %v; want cancelled, %q", n.Event, n.State, n.LastError, err, why)
		}
	}
}

// TestTexts: a user with no email is texted, through the text sender.
func TestTexts(t *testing.T) {
	s, db, box, _ := newSender(t)
	var texts []string
	s.Text = func(_ context.Context, to, text string) error {
		texts = append(texts, to+" "+text)
		return nil
	}
	addNotices(t, s, db, storage.User{ID: "u1", Username: "alice"}, "mfa.reset")
	if got := sendDue(t, s); got != 1 || len(*box) != 0 || len(texts) != 1 || !strings.HasPrefix(texts[0], "+447700900123 Wales NHS: An administrator reset") {
		t.Errorf("sent %d: mail %v, texts %q", got, *box, texts)
	}
}
