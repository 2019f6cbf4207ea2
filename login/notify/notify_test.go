package notify

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempts int
		want     time.Duration
	}{{1, 30 * time.Second}, {2, time.Minute}, {3, 2 * time.Minute}, {7, 32 * time.Minute}, {8, time.Hour}, {100, time.Hour}} {
		if got := backoff(c.attempts); got != c.want {
			t.Errorf("backoff(%d) = %v, want %v", c.attempts, got, c.want)
		}
	}
}

// TestNotices: every event users are told of has a subject and a sentence;
// a notice goes to the user's email, due at once; an event users are not
// told of, a user with no email, or no email at all, gives none, and
// Unsent says why for the last two.
func TestNotices(t *testing.T) {
	pages, err := templates.Parse(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	n := &Notifier{Org: "Wales NHS", Helpdesk: "call 0300 123 4567", Pages: pages, Email: true, Labels: map[string]string{storage.MethodTOTP: "Authenticator app"}}
	u := storage.User{ID: "u1", Username: "alice", DisplayName: "Alice Jones", Email: "alice@example.org"}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for event := range subjects {
		got, err := n.Notices(u, event, Facts{Details: map[string]string{"method": storage.MethodTOTP, "name": "Phone"}, When: now, IP: "192.0.2.1", Browser: "Firefox on Linux"})
		if err != nil || len(got) != 1 {
			t.Fatalf("%s: %v, %v", event, got, err)
		}
		m := got[0]
		if sentence(event, "x", false) == "" || sentence(event, "x", true) == "" || m.To != u.Email || m.Channel != storage.ChannelEmail || m.State != storage.NotificationPending ||
			!m.NextAttemptAt.Equal(now) || !m.ExpiresAt.Equal(now.Add(Retention)) || m.ID == "" {
			t.Errorf("%s: %+v", event, m)
		}
		for _, want := range []string{"Hello Alice Jones,", "When: 5 Dec 2026 08:00 UTC", "From: 192.0.2.1, Firefox on Linux", "contact your helpdesk: call 0300 123 4567."} {
			if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
				t.Errorf("%s: the text or HTML lacks %q:\n%s\n%s", event, want, m.Text, m.HTML)
			}
		}
	}
	noEmail := u
	noEmail.Email = ""
	for name, c := range map[string]struct {
		n      *Notifier
		u      storage.User
		event  string
		unsent string
	}{
		"an event not told": {n, u, "login.password", ""},
		"no address":        {n, noEmail, "mfa.method_added", "no address"},
		"no email at all":   {&Notifier{Pages: pages}, u, "mfa.method_added", "no email"},
	} {
		if got, err := c.n.Notices(c.u, c.event, Facts{When: now}); err != nil || len(got) != 0 {
			t.Errorf("%s: %v, %v", name, got, err)
		}
		if got := c.n.Unsent(c.u, c.event); got != c.unsent {
			t.Errorf("%s: Unsent = %q, want %q", name, got, c.unsent)
		}
	}
	if got := n.Unsent(u, "mfa.method_added"); got != "" {
		t.Errorf("Unsent of a notice that goes = %q", got)
	}
}
