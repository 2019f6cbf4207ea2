package notify

import (
	"io"
	"log/slog"
	"slices"
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
// the unsent reason says why for the last two.
func TestNotices(t *testing.T) {
	n := newNotifier(t)
	u := storage.User{ID: "u1", Username: "alice", DisplayName: "Alice Jones", Email: "alice@example.org"}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for _, e := range Events {
		if e.Name == "exception.waiting" || e.Name == "exception.digest" {
			continue // to approvers: TestApprovals
		}
		n.SetSettings(storage.Settings{Notices: map[string]bool{e.Name: true}})
		got, unsent, err := n.Notices(u, e.Name, Facts{Details: map[string]string{"method": storage.MethodTOTP, "name": "Phone"}, When: now, IP: "192.0.2.1", Browser: "Firefox on Linux"})
		if err != nil || len(got) != 1 || unsent != "" {
			t.Fatalf("%s: %v, %q, %v", e.Name, got, unsent, err)
		}
		m := got[0]
		if sentence(e.Name, "x", false) == "" || sentence(e.Name, "x", true) == "" || e.Label == "" || m.To != u.Email || m.Channel != storage.ChannelEmail ||
			m.State != storage.NotificationPending || !m.NextAttemptAt.Equal(now) || !m.ExpiresAt.Equal(now.Add(Retention)) || m.ID == "" || m.Subject != e.Subject {
			t.Errorf("%s: %+v", e.Name, m)
		}
		for _, want := range []string{"Hello Alice Jones,", "When: 5 Dec 2026 08:00 UTC", "From: 192.0.2.1, Firefox on Linux", "contact your helpdesk: call 0300 123 4567."} {
			if !strings.Contains(m.Text, want) || !strings.Contains(m.HTML, want) {
				t.Errorf("%s: the text or HTML lacks %q:\n%s\n%s", e.Name, want, m.Text, m.HTML)
			}
		}
	}
	n.SetSettings(storage.Settings{Notices: map[string]bool{"mfa.reset": false}})
	noEmail := u
	noEmail.Email = ""
	for name, c := range map[string]struct {
		n      *Notifier
		u      storage.User
		event  string
		unsent string
	}{
		"an event not told":       {n, u, "login.password", ""},
		"an event turned off":     {n, u, "mfa.reset", "off"},
		"an event off by default": {newNotifier(t), u, "login.new_browser", "off"},
		"no address":              {n, noEmail, "mfa.method_added", "no address"},
		"no email at all":         {&Notifier{Pages: n.Pages}, u, "mfa.method_added", "no email"},
	} {
		if got, unsent, err := c.n.Notices(c.u, c.event, Facts{When: now}); err != nil || len(got) != 0 || unsent != c.unsent {
			t.Errorf("%s: %v, unsent %q, %v; want none, unsent %q", name, got, unsent, err, c.unsent)
		}
	}
}

func newNotifier(t *testing.T) *Notifier {
	pages, err := templates.Parse(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &Notifier{Org: "Wales NHS", Helpdesk: "call 0300 123 4567", Exceptions: "https://id.example.org/admin/exceptions", Pages: pages,
		Email: true, Texts: true, Labels: map[string]string{storage.MethodTOTP: "Authenticator app"}}
}

// TestNoticesByText: a user with no email is texted at their mobile of
// the changes to their ways to sign in, and of nothing else.
func TestNoticesByText(t *testing.T) {
	n := newNotifier(t)
	u := storage.User{ID: "u1", Username: "alice"}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for _, e := range Events {
		got, unsent, err := n.Notices(u, e.Name, Facts{Details: map[string]string{"method": storage.MethodTOTP}, When: now, Mobile: "+447700900123"})
		switch {
		case err != nil:
			t.Fatal(err)
		case e.Texted && (len(got) != 1 || got[0].Channel != storage.ChannelSMS || got[0].To != "+447700900123" || got[0].HTML != "" ||
			!strings.HasPrefix(got[0].Text, "Wales NHS: ") || !strings.Contains(got[0].Text, "contact your helpdesk: call 0300 123 4567.") || len(got[0].Text) > 480):
			t.Errorf("%s: %+v", e.Name, got)
		case !e.Texted && (len(got) != 0 || unsent != "no address" && unsent != "off"):
			t.Errorf("%s: %v, unsent %q; want none", e.Name, got, unsent)
		}
	}
	if got, unsent, _ := n.Notices(u, "mfa.reset", Facts{When: now}); len(got) != 0 || unsent != "no address" {
		t.Errorf("no email, no mobile: %v, unsent %q", got, unsent)
	}
}

// TestExceptionNotices: an exception granted is told of at once, and
// scheduled to be told of again when it ends, and, for a long-term one,
// the day before.
func TestExceptionNotices(t *testing.T) {
	n := newNotifier(t)
	u := storage.User{ID: "u1", Username: "alice", Email: "alice@example.org"}
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for kind, lasts := range map[string]time.Duration{storage.ExceptionShortTerm: 24 * time.Hour, storage.ExceptionLongTerm: 180 * 24 * time.Hour} {
		until := now.Add(lasts)
		got, _, err := n.Notices(u, "exception.approved", Facts{When: now, ByAdmin: true, Details: map[string]string{
			"exception": "e1", "kind": kind, "reason": "other", "expires": until.Format(time.RFC3339)}})
		if err != nil {
			t.Fatal(err)
		}
		var events []string
		for _, m := range got {
			events = append(events, m.Event+" "+m.DueAt.Format(time.DateOnly)+" "+m.About)
			if !m.CreatedAt.Equal(now) || m.NextAttemptAt.Before(now) || !m.ExpiresAt.After(m.NextAttemptAt) {
				t.Errorf("%s: %s: %+v", kind, m.Event, m)
			}
		}
		want := []string{"exception.approved 0001-01-01 ", "exception.expired " + until.Format(time.DateOnly) + " e1"}
		if kind == storage.ExceptionLongTerm {
			want = slices.Insert(want, 1, "exception.ending "+until.Add(-24*time.Hour).Format(time.DateOnly)+" e1")
		}
		if !slices.Equal(events, want) {
			t.Errorf("%s: notices %q, want %q", kind, events, want)
		}
	}
	// The grant's own notice turned off leaves the others scheduled.
	n.SetSettings(storage.Settings{Notices: map[string]bool{"exception.approved": false}})
	got, unsent, err := n.Notices(u, "exception.approved", Facts{When: now, Details: map[string]string{
		"exception": "e1", "kind": storage.ExceptionShortTerm, "reason": "other", "expires": now.Add(24 * time.Hour).Format(time.RFC3339)}})
	if err != nil || unsent != "" || len(got) != 1 || got[0].Event != "exception.expired" {
		t.Errorf("with the grant's notice off: %v, %q, %v; want the expiry's alone", got, unsent, err)
	}
}

// TestApprovals: each approver with an address is told of a request
// waiting, and a day's digest has the same id however often it is made.
func TestApprovals(t *testing.T) {
	n := newNotifier(t)
	now := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	w := Waiting{Exception: storage.Exception{ID: "e1", Kind: storage.ExceptionLongTerm, Reason: "accessibility", RequestedAt: now},
		User: storage.User{ID: "u1", Username: "alice", DisplayName: "Alice Jones"}, Requester: storage.User{ID: "h1", Username: "hal"}}
	approvers := []storage.User{{ID: "a1", Username: "ann", Email: "ann@example.org"}, {ID: "a2", Username: "nomail"}}
	got, err := n.Approvals(approvers, w, now)
	if err != nil || len(got) != 1 {
		t.Fatalf("Approvals = %v, %v; want one, to ann", got, err)
	}
	for _, want := range []string{"Alice Jones (alice), Accessibility needs, asked for by hal on 5 Dec 2026 08:00 UTC", "https://id.example.org/admin/exceptions"} {
		if !strings.Contains(got[0].Text, want) || got[0].UserID != "a1" || got[0].To != "ann@example.org" {
			t.Errorf("the approver's notice lacks %q: %+v", want, got[0])
		}
	}
	d1, ok1, err1 := n.ApprovalDigest(approvers[0], []Waiting{w, w}, now)
	d2, ok2, err2 := n.ApprovalDigest(approvers[0], []Waiting{w}, now)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || d1.ID != d2.ID || strings.Count(d1.Text, "asked for by hal") != 2 {
		t.Errorf("digests: %+v, %+v", d1, d2)
	}
	if _, ok, _ := n.ApprovalDigest(approvers[1], []Waiting{w}, now); ok {
		t.Error("a digest for an approver with no email")
	}
}
