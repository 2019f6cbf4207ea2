package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

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
