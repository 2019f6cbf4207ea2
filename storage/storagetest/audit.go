package storagetest

import (
	"fmt"
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
	e5 := event(now.Add(-3*time.Minute), "carol", "login") // appended after e1-e4, but older
	// Older still: other actors, units and outcomes.
	e6 := storage.AuditEvent{Time: now.Add(-4 * time.Minute), Actor: "alice", Subject: "bob", OrgUnitID: "ward",
		Action: "exception.approved", Outcome: storage.OutcomeDenied}
	e7 := storage.AuditEvent{Time: now.Add(-5 * time.Minute), Actor: "gatehouse", Subject: "alice",
		Action: "exception.revoked", Outcome: storage.OutcomeFailure} // no org unit
	e8 := storage.AuditEvent{Time: now.Add(-6 * time.Minute), Actor: "bob", Subject: "carol", OrgUnitID: "wales",
		Action: "exceptional", Outcome: storage.OutcomeSuccess}
	for _, e := range []storage.AuditEvent{e1, e2, e3, e4, e5, e6, e7, e8} {
		must(t, "AppendAudit", s.AppendAudit(ctx, e))
	}

	all, err := s.ListAudit(ctx, storage.AuditQuery{})
	must(t, "ListAudit", err)
	check(t, "everything, newest first", all, []storage.AuditEvent{e4, e3, e2, e1, e5, e6, e7, e8}, ignoreAuditID)
	if len(all) != 8 {
		t.FailNow()
	}
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
	id := func(i int) string { return all[i].ID } // in the order above: 0 is e4, 1 is e3, ...

	tests := []struct {
		name string
		q    storage.AuditQuery
		want []storage.AuditEvent
	}{
		{"subject", storage.AuditQuery{Subject: "alice"}, []storage.AuditEvent{e3, e1, e7}},
		{"user: actor or subject", storage.AuditQuery{User: "alice"}, []storage.AuditEvent{e3, e1, e6, e7}},
		{"user as actor only", storage.AuditQuery{User: "gatehouse"}, []storage.AuditEvent{e7}},
		{"user and subject", storage.AuditQuery{User: "alice", Subject: "bob"}, []storage.AuditEvent{e6}},
		{"action", storage.AuditQuery{Action: "login"}, []storage.AuditEvent{e4, e2, e1, e5}},
		{"action is exact", storage.AuditQuery{Action: "exception"}, nil},
		{"action prefix", storage.AuditQuery{ActionPrefix: "exception."}, []storage.AuditEvent{e6, e7}},
		{"action prefix without the dot", storage.AuditQuery{ActionPrefix: "exception"}, []storage.AuditEvent{e6, e7, e8}},
		{"outcome", storage.AuditQuery{Outcome: storage.OutcomeDenied}, []storage.AuditEvent{e6}},
		{"org unit", storage.AuditQuery{OrgUnitIDs: []string{"root"}}, []storage.AuditEvent{e4, e3, e2, e1, e5}},
		{"any of the org units", storage.AuditQuery{OrgUnitIDs: []string{"wales", "ward"}}, []storage.AuditEvent{e6, e8}},
		{"no such org unit", storage.AuditQuery{OrgUnitIDs: []string{"nowhere"}}, nil},
		{"empty org-unit list", storage.AuditQuery{OrgUnitIDs: []string{}}, []storage.AuditEvent{e4, e3, e2, e1, e5, e6, e7, e8}},
		{"since is inclusive", storage.AuditQuery{Since: now.Add(-time.Minute)}, []storage.AuditEvent{e4, e3, e2}},
		{"until is exclusive", storage.AuditQuery{Until: now.Add(-time.Minute)}, []storage.AuditEvent{e1, e5, e6, e7, e8}},
		{"since and until", storage.AuditQuery{Since: now.Add(-2 * time.Minute), Until: now}, []storage.AuditEvent{e3, e2, e1}},
		{"until after the last event", storage.AuditQuery{Until: now.Add(time.Hour)}, []storage.AuditEvent{e4, e3, e2, e1, e5, e6, e7, e8}},
		{"limit", storage.AuditQuery{Limit: 2}, []storage.AuditEvent{e4, e3}},
		{"before", storage.AuditQuery{Before: id(1)}, []storage.AuditEvent{e2, e1, e5, e6, e7, e8}},
		{"before, same time", storage.AuditQuery{Before: id(2)}, []storage.AuditEvent{e1, e5, e6, e7, e8}},
		{"before and limit", storage.AuditQuery{Before: id(2), Limit: 2}, []storage.AuditEvent{e1, e5}},
		{"before is later than until", storage.AuditQuery{Before: id(0), Until: now.Add(-2 * time.Minute)}, []storage.AuditEvent{e5, e6, e7, e8}},
		{"until is later than before", storage.AuditQuery{Before: id(4), Until: now}, []storage.AuditEvent{e6, e7, e8}},
		{"before the oldest", storage.AuditQuery{Before: id(7)}, nil},
		{"all filters", storage.AuditQuery{Subject: "bob", Action: "login", Since: now.Add(-time.Hour), Until: now.Add(time.Hour), Limit: 1}, []storage.AuditEvent{e4}},
		{"every new filter", storage.AuditQuery{User: "alice", OrgUnitIDs: []string{"ward", "root"}, ActionPrefix: "exception.",
			Outcome: storage.OutcomeDenied, Since: now.Add(-time.Hour), Before: id(3), Limit: 5}, []storage.AuditEvent{e6}},
		{"no match", storage.AuditQuery{Subject: "zed"}, nil},

		// A user's events with the other filters: a backend that finds
		// them through an index must still apply every filter and bound.
		{"user is not a prefix", storage.AuditQuery{User: "al"}, nil},
		{"user as actor", storage.AuditQuery{User: "admin"}, []storage.AuditEvent{e4, e3, e2, e1, e5}},
		{"subject is not actor", storage.AuditQuery{Subject: "admin"}, nil},
		{"subject as actor only", storage.AuditQuery{Subject: "gatehouse"}, nil},
		{"user and action", storage.AuditQuery{User: "alice", Action: "login"}, []storage.AuditEvent{e1}},
		{"user and action prefix", storage.AuditQuery{User: "bob", ActionPrefix: "exception"}, []storage.AuditEvent{e6, e8}},
		{"user and outcome", storage.AuditQuery{User: "alice", Outcome: storage.OutcomeFailure}, []storage.AuditEvent{e7}},
		{"user and org unit", storage.AuditQuery{User: "alice", OrgUnitIDs: []string{"root"}}, []storage.AuditEvent{e3, e1}},
		{"user and any of the org units", storage.AuditQuery{User: "bob", OrgUnitIDs: []string{"wales", "ward"}}, []storage.AuditEvent{e6, e8}},
		{"user since", storage.AuditQuery{User: "alice", Since: now.Add(-2 * time.Minute)}, []storage.AuditEvent{e3, e1}},
		{"user until", storage.AuditQuery{User: "alice", Until: now.Add(-2 * time.Minute)}, []storage.AuditEvent{e6, e7}},
		{"user since and until", storage.AuditQuery{User: "bob", Since: now.Add(-time.Minute), Until: now}, []storage.AuditEvent{e2}},
		{"user before", storage.AuditQuery{User: "alice", Before: id(1)}, []storage.AuditEvent{e1, e6, e7}},
		{"subject before, same time", storage.AuditQuery{Subject: "bob", Before: id(1)}, []storage.AuditEvent{e2, e6}},
		{"user before another user's event", storage.AuditQuery{User: "alice", Before: id(2)}, []storage.AuditEvent{e1, e6, e7}},
		{"user before is later than until", storage.AuditQuery{User: "bob", Before: id(0), Until: now.Add(-time.Minute)}, []storage.AuditEvent{e6, e8}},
		{"user until is later than before", storage.AuditQuery{User: "bob", Before: id(5), Until: now}, []storage.AuditEvent{e8}},
		{"user before the oldest", storage.AuditQuery{User: "bob", Before: id(7)}, nil},
		{"user and limit", storage.AuditQuery{User: "bob", Limit: 3}, []storage.AuditEvent{e4, e2, e6}},
		{"subject, action and limit", storage.AuditQuery{Subject: "bob", Action: "login", Limit: 1}, []storage.AuditEvent{e4}},
	}
	for _, tt := range tests {
		got, err := s.ListAudit(ctx, tt.q)
		must(t, tt.name, err)
		check(t, tt.name, got, tt.want, ignoreAuditID)
	}

	// Paging with Limit and Before visits every match once, newest first.
	for _, tt := range []struct {
		name string
		q    storage.AuditQuery
		want []storage.AuditEvent
	}{
		{"pages of everything", storage.AuditQuery{Limit: 3}, []storage.AuditEvent{e4, e3, e2, e1, e5, e6, e7, e8}},
		{"pages of one user", storage.AuditQuery{User: "alice", Limit: 1}, []storage.AuditEvent{e3, e1, e6, e7}},
		{"pages of one user, two at a time", storage.AuditQuery{User: "bob", Limit: 2}, []storage.AuditEvent{e4, e2, e6, e8}},
		{"pages of one subject", storage.AuditQuery{Subject: "alice", Limit: 2}, []storage.AuditEvent{e3, e1, e7}},
		{"pages of one user's filtered events", storage.AuditQuery{User: "bob", ActionPrefix: "login", OrgUnitIDs: []string{"root"},
			Outcome: storage.OutcomeSuccess, Since: now.Add(-time.Hour), Limit: 1}, []storage.AuditEvent{e4, e2}},
	} {
		var got []storage.AuditEvent
		for q, pages := tt.q, 0; pages < 10; pages++ {
			page, err := s.ListAudit(ctx, q)
			must(t, tt.name, err)
			if len(page) > q.Limit {
				t.Errorf("%s: got %d events, want at most %d", tt.name, len(page), q.Limit)
			}
			got = append(got, page...)
			if len(page) < q.Limit {
				break
			}
			q.Before = page[len(page)-1].ID
		}
		check(t, tt.name, got, tt.want, ignoreAuditID)
	}

	// An event a user did to themselves is theirs once, however asked for;
	// one with neither actor nor subject is nobody's.
	self := storage.AuditEvent{Time: now.Add(-10 * time.Minute), Actor: "dave", Subject: "dave", OrgUnitID: "root",
		Action: "login.password", Outcome: storage.OutcomeSuccess}
	nobody := storage.AuditEvent{Time: now.Add(-11 * time.Minute), Action: "bootstrap", Outcome: storage.OutcomeSuccess}
	must(t, "AppendAudit", s.AppendAudit(ctx, self))
	must(t, "AppendAudit", s.AppendAudit(ctx, nobody))
	for _, q := range []storage.AuditQuery{{User: "dave"}, {Subject: "dave"}, {User: "dave", Subject: "dave"}, {User: "dave", Limit: 5}} {
		got, err := s.ListAudit(ctx, q)
		must(t, "ListAudit", err)
		check(t, fmt.Sprintf("self-inflicted, %+v", q), got, []storage.AuditEvent{self}, ignoreAuditID)
	}
	got, err := s.ListAudit(ctx, storage.AuditQuery{Since: nobody.Time, Until: self.Time.Add(time.Nanosecond)})
	must(t, "ListAudit", err)
	check(t, "events of nobody and of one user", got, []storage.AuditEvent{self, nobody}, ignoreAuditID)
}
