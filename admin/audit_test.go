package admin

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// auditTestAuth is an Auth for handlers called directly, past the session
// check.
type auditTestAuth struct{}

func (auditTestAuth) AdminSession(http.ResponseWriter, *http.Request) (storage.User, bool) {
	return storage.User{}, false
}
func (auditTestAuth) CSRFToken(http.ResponseWriter, *http.Request) string { return "tok" }
func (auditTestAuth) ValidCSRF(*http.Request) bool                        { return false }
func (auditTestAuth) NextSignIn(context.Context, string) (policy.Decision, error) {
	return policy.Decision{}, nil
}

// TestAuditQuery: the filters become a query inside the actor's scope; a
// unit outside it, or no org-admin role, is refused and audited.
func TestAuditQuery(t *testing.T) {
	f := newFixture(t)
	pages, err := templates.Parse(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(f.svc, auditTestAuth{}, pages, nil, clientip.Proxies{})
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	tests := []struct {
		name   string
		actor  string
		query  string
		want   storage.AuditQuery
		errs   []string // refused fields
		status int      // when the request is answered: a refusal
	}{
		{name: "global admin, no filters", actor: "global", want: storage.AuditQuery{}},
		{name: "org admin: their subtree", actor: "wales-admin", want: storage.AuditQuery{OrgUnitIDs: []string{"wales", "ward"}}},
		{name: "org admin: a unit in it", actor: "wales-admin", query: "unit=ward", want: storage.AuditQuery{OrgUnitIDs: []string{"ward"}}},
		{name: "global admin: a unit and those below", actor: "global", query: "unit=wales", want: storage.AuditQuery{OrgUnitIDs: []string{"wales", "ward"}}},
		{name: "org admin: another unit", actor: "wales-admin", query: "unit=england", status: http.StatusForbidden},
		{name: "org admin: the unit above", actor: "wales-admin", query: "unit=root", status: http.StatusForbidden},
		{name: "org admin: no such unit", actor: "wales-admin", query: "unit=nowhere", status: http.StatusForbidden},
		{name: "global admin: no such unit", actor: "global", query: "unit=nowhere", errs: []string{"unit"}},
		{name: "helpdesk", actor: "wales-helpdesk", status: http.StatusForbidden},
		{name: "no role", actor: "nobody", status: http.StatusForbidden},
		{name: "user by username", actor: "global", query: "user=Alice", want: storage.AuditQuery{User: "alice"}},
		{name: "unknown user", actor: "global", query: "user=zed", errs: []string{"user"}},
		{name: "exact action", actor: "global", query: "action=mfa.reset", want: storage.AuditQuery{Action: "mfa.reset"}},
		{name: "action prefix", actor: "global", query: "action=exception.", want: storage.AuditQuery{ActionPrefix: "exception."}},
		{name: "outcome", actor: "global", query: "outcome=denied", want: storage.AuditQuery{Outcome: "denied"}},
		{name: "unknown outcome", actor: "global", query: "outcome=maybe", errs: []string{"outcome"}},
		{name: "dates are whole UTC days", actor: "global", query: "from=2026-11-01&to=2026-11-23",
			want: storage.AuditQuery{Since: day("2026-11-01"), Until: day("2026-11-24")}},
		{name: "one day", actor: "global", query: "from=2026-11-23&to=2026-11-23", want: storage.AuditQuery{Since: day("2026-11-23"), Until: day("2026-11-24")}},
		{name: "bad dates", actor: "global", query: "from=yesterday&to=2026-02-30", errs: []string{"from", "to"}},
		{name: "dates the wrong way round", actor: "global", query: "from=2026-11-23&to=2026-11-01", errs: []string{"to"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			rq := &request{w: w, r: httptest.NewRequest(http.MethodGet, "/admin/audit?"+tt.query, nil), actor: f.actor[tt.actor], h: h}
			before, _ := f.store.ListAudit(t.Context(), storage.AuditQuery{Outcome: storage.OutcomeDenied})
			s, errs, ok := h.auditQuery(rq, readAuditFilter(rq.r.URL.Query()), "audit.viewed")
			after, _ := f.store.ListAudit(t.Context(), storage.AuditQuery{Outcome: storage.OutcomeDenied})
			if tt.status != 0 {
				if ok || w.Code != tt.status || len(after) != len(before)+1 || after[0].Action != "audit.viewed" {
					t.Errorf("got ok %v, status %d, %d denied events (was %d); want a refusal %d, audited", ok, w.Code, len(after), len(before), tt.status)
				}
				return
			}
			if !ok {
				t.Fatalf("refused: status %d", w.Code)
			}
			var fields []string
			for _, e := range formErrors(errs...) {
				fields = append(fields, e.Field)
			}
			if diff := cmp.Diff(tt.errs, fields); diff != "" {
				t.Errorf("refused fields (-want +got):\n%s", diff)
			}
			if len(errs) == 0 {
				if diff := cmp.Diff(tt.want, s.query); diff != "" {
					t.Errorf("query (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestAuditFilterValues(t *testing.T) {
	f := readAuditFilter(url.Values{"user": {" alice "}, "action": {"exception."}, "outcome": {""}, "before": {"x"}, "other": {"y"}})
	if got, want := f.values().Encode(), "action=exception.&user=alice"; got != want {
		t.Errorf("values() = %q, want %q: the filters set, trimmed, and nothing else", got, want)
	}
}
