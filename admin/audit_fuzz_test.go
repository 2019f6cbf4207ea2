package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// FuzzAuditFilter reads a fuzzed audit-log filter form (user, unit,
// action, outcome, dates) and paging cursor as the audit page does, for
// actors of each role, over the fixture's tree and a log of events across
// its units and days. Properties: the filter reads back from the values
// its links carry (readAuditFilter of values, through a query string, is
// the same filter). A request is either refused with a 403 (no org-admin
// role, or a unit outside the actor's subtree), or read as a query: an
// org admin's is always limited to units of their subtree, never to none
// (which would match everything); a unit filter is that unit and those
// below it; dates are whole UTC days. Nothing is a 500. The page of
// events the query and cursor give is exactly the matching events older
// than the cursor, newest first, so never an event outside the actor's
// units.
func FuzzAuditFilter(f *testing.F) {
	fx, h, fs := newFuzzHandler(f, nil)
	ctx := f.Context()
	day := func(d int) time.Time { return time.Date(2026, 11, d, 9, 30, 0, 0, time.UTC) }
	for i, e := range []storage.AuditEvent{
		{Actor: "global", Subject: "alice", OrgUnitID: "ward", Action: "mfa.reset", Outcome: storage.OutcomeSuccess},
		{Actor: "alice", Subject: "alice", OrgUnitID: "ward", Action: "login.password", Outcome: storage.OutcomeFailure},
		{Actor: "wales-admin", Subject: "alice", OrgUnitID: "ward", Action: "exception.requested", Outcome: storage.OutcomeSuccess},
		{Actor: "wales-admin-2", Subject: "alice", OrgUnitID: "ward", Action: "exception.approved", Outcome: storage.OutcomeSuccess},
		{Actor: "england-admin", Subject: "alice", OrgUnitID: "ward", Action: "mfa.reset", Outcome: storage.OutcomeDenied},
		{Actor: "england-admin", Subject: "nobody", OrgUnitID: "england", Action: "user.created", Outcome: storage.OutcomeSuccess},
		{Actor: "global", OrgUnitID: "root", Action: "org_unit.updated", Outcome: storage.OutcomeSuccess},
		{Actor: "global", OrgUnitID: "wales", Action: "org_unit.updated", Outcome: storage.OutcomeSuccess},
		{Actor: "global", Action: "client.created", Outcome: storage.OutcomeSuccess},
		{Action: "admin.access", Outcome: storage.OutcomeDenied},
		{Actor: "gone-user", Subject: "gone-user", OrgUnitID: "gone-unit", Action: "user.deleted", Outcome: storage.OutcomeSuccess},
		{Actor: "alice", Subject: "alice", OrgUnitID: "ward", Action: "exception.", Outcome: storage.OutcomeSuccess},
	} {
		e.Time = day(1 + 2*i)
		if err := fx.store.AppendAudit(ctx, e); err != nil {
			f.Fatal(err)
		}
	}
	events, err := fx.store.ListAudit(ctx, storage.AuditQuery{})
	if err != nil {
		f.Fatal(err)
	}
	// The fixture's tree, written out: what each actor may read.
	subtree := map[string][]string{"root": {"root", "wales", "ward", "england"}, "wales": {"wales", "ward"}, "ward": {"ward"}, "england": {"england"}}
	actors := []struct {
		name  string
		units []string // nil: every event; refused without an org-admin role
		admin bool
	}{
		{"global", nil, true}, {"wales-admin", subtree["wales"], true}, {"england-admin", subtree["england"], true},
		{"wales-helpdesk", nil, false}, {"nobody", nil, false},
	}

	for _, s := range []struct {
		user, unit, action, outcome, from, to, before string
		actor                                         uint8
	}{
		{"", "", "", "", "", "", "", 0},
		{"", "", "", "", "", "", "", 1},
		{"alice", "ward", "mfa.reset", "success", "2026-11-01", "2026-11-30", "", 1},
		{" Alice ", "", "exception.", "", "", "", events[3].ID, 0},
		{"", "england", "", "", "", "", "", 1},
		{"", "root", "", "", "", "", "", 1},
		{"", "nowhere", "", "", "", "", "", 0},
		{"", "gone-unit", "", "", "", "", "", 0},
		{"", "", "", "", "", "", events[0].ID, 2},
		{"", "", "", "", "", "", "ffffffffffffffffffffffffffffffff", 0},
		{"", "", "", "", "", "", "00", 0},
		{"", "", "", "", "", "", "ZZ", 1},
		{"", "", "", "", "", "", strings.ToUpper(events[5].ID), 0},
		{"alice@", "", "", "", "", "", "", 0},
		{"gone-user", "", "", "", "", "", "", 0},
		{"", "", "", "maybe", "yesterday", "2026-02-30", "", 0},
		{"", "", "", "", "2026-11-23", "2026-11-01", "", 0},
		{"", "", "", "", "0000-01-01", "9999-12-31", "", 1},
		{"", "", strings.Repeat("x", 101), "", "", "", "", 0},
		{"", "", "", "", "", "", "", 3},
		{"", "", "", "", "", "", "", 4},
		{"\x00", "\x00", "\x00", "\x00", "\x00", "\x00", "\x00", 0},
	} {
		f.Add(s.user, s.unit, s.action, s.outcome, s.from, s.to, s.before, s.actor)
	}
	f.Fuzz(func(t *testing.T, user, unit, action, outcome, from, to, before string, who uint8) {
		in := url.Values{"user": {user}, "unit": {unit}, "action": {action}, "outcome": {outcome}, "from": {from}, "to": {to}}
		flt := readAuditFilter(in)
		kept, err := url.ParseQuery(flt.values().Encode())
		if err != nil || readAuditFilter(flt.values()) != flt || readAuditFilter(kept) != flt {
			t.Fatalf("filter %+v reads back as %+v (or through a link as %+v, %v)", flt, readAuditFilter(flt.values()), readAuditFilter(kept), err)
		}

		a := actors[int(who)%len(actors)]
		fs.audited = nil
		w := httptest.NewRecorder()
		rq := &request{w: w, r: httptest.NewRequest(http.MethodGet, "/admin/audit", nil), actor: fx.actor[a.name], h: h}
		s, errs, ok := h.auditQuery(rq, flt, "audit.viewed")
		if !ok {
			outside := flt.Unit != "" && a.units != nil && !slices.Contains(a.units, flt.Unit)
			if w.Code != http.StatusForbidden || (a.admin && !outside) {
				t.Fatalf("%s, filter %+v: refused with %d", a.name, flt, w.Code)
			}
			if n := len(fs.audited); n == 0 || fs.audited[n-1].Action != "audit.viewed" || fs.audited[n-1].Outcome != storage.OutcomeDenied {
				t.Fatalf("%s, filter %+v: refused, not audited", a.name, flt)
			}
			return
		}
		q := s.query
		switch {
		case !a.admin:
			t.Fatalf("%s, with no org-admin role, read the log", a.name)
		case a.units != nil && (len(q.OrgUnitIDs) == 0 || slices.ContainsFunc(q.OrgUnitIDs, func(id string) bool { return !slices.Contains(a.units, id) })):
			t.Fatalf("%s, filter %+v: units %q", a.name, flt, q.OrgUnitIDs)
		}
		if len(errs) > 0 {
			return // the form again, with the errors
		}
		if flt.Unit != "" && !slices.Equal(slices.Sorted(slices.Values(q.OrgUnitIDs)), slices.Sorted(slices.Values(subtree[flt.Unit]))) {
			t.Fatalf("unit %q became units %q", flt.Unit, q.OrgUnitIDs)
		}
		for _, d := range []time.Time{q.Since, q.Until} {
			if !d.IsZero() && (d.Location() != time.UTC || !d.Equal(d.Truncate(24*time.Hour))) {
				t.Fatalf("dates %q to %q: bound %v is not a UTC midnight", flt.From, flt.To, d)
			}
		}
		if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
			t.Fatalf("dates %q to %q: %v to %v is empty", flt.From, flt.To, q.Since, q.Until)
		}

		q.Before, q.Limit = before, auditPageSize+1 // as showAudit asks
		got, err := h.store.ListAudit(rq.ctx(), q)
		if err != nil {
			t.Fatalf("%s, filter %+v, before %q: %v", a.name, flt, before, err)
		}
		var want []storage.AuditEvent
		for _, e := range events {
			if (before == "" || e.ID < before) && matchesAudit(e, q) && len(want) < q.Limit {
				want = append(want, e)
			}
		}
		if !slices.EqualFunc(got, want, func(a, b storage.AuditEvent) bool { return a.ID == b.ID }) {
			t.Fatalf("%s, query %+v: %d events, want %d", a.name, q, len(got), len(want))
		}
		for _, e := range got {
			if a.units != nil && !slices.Contains(a.units, e.OrgUnitID) {
				t.Fatalf("%s, filter %+v: saw event %s in unit %q", a.name, flt, e.ID, e.OrgUnitID)
			}
		}
	})
}

// matchesAudit is storage.AuditQuery's rule, written out, for the fields
// the audit page sets.
func matchesAudit(e storage.AuditEvent, q storage.AuditQuery) bool {
	return (len(q.OrgUnitIDs) == 0 || slices.Contains(q.OrgUnitIDs, e.OrgUnitID)) &&
		(q.User == "" || e.Actor == q.User || e.Subject == q.User) &&
		(q.Action == "" || e.Action == q.Action) && strings.HasPrefix(e.Action, q.ActionPrefix) &&
		(q.Outcome == "" || e.Outcome == q.Outcome) &&
		!e.Time.Before(q.Since) && (q.Until.IsZero() || e.Time.Before(q.Until))
}

// newFuzzHandler is the fixture's admin handler, offering methods, over a
// fuzzStore.
func newFuzzHandler(f *testing.F, methods []templates.Choice) (*fixture, *Handler, *fuzzStore) {
	fx := newFixture(f)
	pages, err := templates.Parse(slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	fs := &fuzzStore{Store: fx.store}
	fx.svc.store = fs
	return fx, NewHandler(fx.svc, auditTestAuth{}, pages, methods, clientip.Proxies{}), fs
}

// fuzzStore is the fixture's store as the fuzz targets give it to the
// handlers: audit events are kept here, not written (a refusal audited
// in every run would grow the log, and slow every run after it), and the
// users each search returns are recorded.
type fuzzStore struct {
	Store
	audited []storage.AuditEvent
	found   []storage.User
}

func (s *fuzzStore) AppendAudit(_ context.Context, e storage.AuditEvent) error {
	s.audited = append(s.audited, e)
	return nil
}

func (s *fuzzStore) SearchUsers(ctx context.Context, q storage.UserQuery) (storage.UserPage, error) {
	p, err := s.Store.SearchUsers(ctx, q)
	s.found = append(s.found, p.Users...)
	return p, err
}
