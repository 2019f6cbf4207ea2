package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// seededEvent is the mark ("n=s2") the audit test puts in each event's
// details, to find it on a page.
var seededEvent = regexp.MustCompile(`<code>n=([sb]\d+)</code>`)

// seeded lists the marked events on a page, in the order shown.
func seeded(p page) []string {
	var out []string
	for _, m := range seededEvent.FindAllStringSubmatch(p.body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestAdminAuditLog: a global admin filters the audit log by user (as
// username or email), action, outcome and date, pages back through it and
// downloads it as JSON Lines; an org admin sees only their subtree's events
// and is refused another unit's; the helpdesk is refused the log.
func TestAdminAuditLog(t *testing.T) {
	ctx := context.Background()
	e, _ := newAliceEnv(t)
	root, _ := findOrgUnit(ctx, e.store, "")
	for _, ou := range []storage.OrgUnit{
		{ID: "wales", Name: "Wales", ParentID: root.ID}, {ID: "ward", Name: "Ward 9", ParentID: "wales"}, {ID: "england", Name: "England", ParentID: root.ID},
	} {
		if err := e.store.CreateOrgUnit(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	in := func(u storage.User, ouID string, roles ...storage.RoleBinding) storage.User {
		u, err := e.store.UpdateUser(ctx, u.ID, func(u storage.User) (storage.User, error) {
			u.OrgUnitID, u.Roles = ouID, roles
			return u, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	boss := e.withRole(e.addUser("boss", alicePassword), storage.RoleGlobalAdmin)
	walesAdmin := in(e.addUser("wales-admin", alicePassword), "wales", storage.RoleBinding{Role: storage.RoleOrgAdmin, OrgUnitID: "wales"})
	e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	dai := in(e.addUser("dai", alicePassword), "ward")
	eve := in(e.addUser("eve", alicePassword), "england")

	// Marked events: s1-s5 around 11 January 2024 (UTC), and 560 bulk
	// events in February, one in five in Ward 9 and the rest in England.
	day := time.Date(2024, 1, 11, 0, 0, 0, 0, time.UTC)
	for i, ev := range []storage.AuditEvent{
		{Time: day.Add(-time.Second), Actor: dai.ID, Subject: dai.ID, OrgUnitID: "ward", Action: "mfa.method_added", Outcome: storage.OutcomeSuccess},
		{Time: day, Actor: boss.ID, Subject: dai.ID, OrgUnitID: "ward", Action: "exception.approved", Outcome: storage.OutcomeSuccess},
		{Time: day.Add(12 * time.Hour), Actor: dai.ID, Subject: eve.ID, OrgUnitID: "england", Action: "exception.requested", Outcome: storage.OutcomeDenied},
		{Time: day.Add(24*time.Hour - time.Second), Actor: eve.ID, Subject: eve.ID, OrgUnitID: "england", Action: "login.password", Outcome: storage.OutcomeFailure, IP: "<b>192.0.2.9</b>"},
		{Time: day.Add(24 * time.Hour), Actor: "gatehouse", Action: "keys.rotated", Outcome: storage.OutcomeSuccess}, // no org unit
	} {
		ev.Details = map[string]string{"n": fmt.Sprint("s", i+1), "why": "<i>seeded</i>"}
		if err := e.store.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	const bulk = 560
	var wardBulk []string // newest first
	for i := range bulk {
		ev := storage.AuditEvent{Time: time.Date(2024, 2, 1, 0, 0, i, 0, time.UTC), Actor: "loader", OrgUnitID: "england",
			Action: "bulk.event", Outcome: storage.OutcomeSuccess, Details: map[string]string{"n": fmt.Sprint("b", i)}}
		if i%5 == 0 {
			ev.OrgUnitID = "ward"
			wardBulk = append([]string{ev.Details["n"]}, wardBulk...)
		}
		if err := e.store.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	b, _ := e.adminSignIn(t, "boss")
	t.Run("global admin filters", func(t *testing.T) {
		tests := []struct {
			query string
			want  []string
		}{
			{"user=dai", []string{"s3", "s2", "s1"}},
			{"user=" + url.QueryEscape("Dai@Example.org"), []string{"s3", "s2", "s1"}},
			{"user=dai&from=2024-01-11&to=2024-01-11", []string{"s3", "s2"}},
			{"user=eve", []string{"s4", "s3"}},
			{"action=exception.", []string{"s3", "s2"}},
			{"action=exception", nil},
			{"action=login.password&to=2024-12-31", []string{"s4"}},
			{"outcome=denied&from=2024-01-01&to=2024-01-31", []string{"s3"}},
			{"from=2024-01-11&to=2024-01-11", []string{"s4", "s3", "s2"}},
			{"from=2024-01-12&to=2024-01-12", []string{"s5"}},
			{"unit=wales&to=2024-01-31", []string{"s2", "s1"}},
			{"unit=england&to=2024-01-31", []string{"s4", "s3"}},
		}
		for _, tt := range tests {
			p := b.get(e.issuer + "/admin/audit?" + tt.query)
			if p.status() != http.StatusOK {
				t.Errorf("%s: status %d", tt.query, p.status())
				continue
			}
			if diff := cmp.Diff(tt.want, seeded(p)); diff != "" {
				t.Errorf("%s: events (-want +got):\n%s", tt.query, diff)
			}
		}
		// Names, not ids; the unit's name; what people typed, escaped.
		p := b.get(e.issuer + "/admin/audit?user=eve&action=login.password")
		for _, want := range []string{`<a href="/admin/audit?user=eve">eve</a>`, "<td>England</td>", "&lt;b&gt;192.0.2.9&lt;/b&gt;", "<code>why=&lt;i&gt;seeded&lt;/i&gt;</code>",
			`<time datetime="2024-01-11T23:59:59Z">2024-01-11 23:59:59</time>`, `<option value="ward">— — Ward 9</option>`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("the audit page lacks %q:\n%s", want, p.body)
			}
		}
	})

	t.Run("refused filters", func(t *testing.T) {
		for query, field := range map[string]string{"user=zed": "user", "from=2024-13-01": "from", "from=2024-02-01&to=2024-01-01": "to", "outcome=maybe": "outcome"} {
			p := b.get(e.issuer + "/admin/audit?" + query)
			if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<div class="error-summary"`) || !strings.Contains(p.body, `<a href="#`+field+`">`) {
				t.Errorf("%s: status %d, want 422 with an error summary linked to #%s", query, p.status(), field)
			}
			if strings.Contains(p.body, "<table") {
				t.Errorf("%s: results shown for refused filters", query)
			}
		}
	})

	t.Run("paging", func(t *testing.T) {
		var got []string
		next, pages := "/admin/audit?action=bulk.event&unit=ward", 0
		for ; next != "" && pages < 5; pages++ {
			p := b.get(e.issuer + next)
			rows := seeded(p)
			if len(rows) > 50 {
				t.Errorf("page %d: %d events, want at most 50", pages+1, len(rows))
			}
			if newest := strings.Contains(p.body, ">Newest events</a>"); newest != (pages > 0) {
				t.Errorf("page %d: a link to the newest events: %v", pages+1, newest)
			}
			got = append(got, rows...)
			next = ""
			if m := regexp.MustCompile(`<a href="([^"]+)">Older events</a>`).FindStringSubmatch(p.body); m != nil {
				next = htmlUnescape(m[1])
				if !strings.Contains(next, "action=bulk.event") || !strings.Contains(next, "unit=ward") {
					t.Errorf("the older events link %q drops the filters", next)
				}
			}
		}
		if pages != 3 {
			t.Errorf("%d pages of %d events, want 3", pages, len(wardBulk))
		}
		if diff := cmp.Diff(wardBulk, got); diff != "" {
			t.Errorf("paging through Ward 9's bulk events (-want +got):\n%s", diff)
		}
	})

	export := func(t *testing.T, b *browser, query string) []storage.AuditEvent {
		t.Helper()
		p := b.get(e.issuer + "/admin/audit.jsonl?" + query)
		if p.status() != http.StatusOK {
			t.Fatalf("export %s: status %d", query, p.status())
		}
		h := p.resp.Header
		if h.Get("Content-Type") != "application/x-ndjson" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment; filename=") {
			t.Errorf("export %s: Content-Type %q, Content-Disposition %q", query, h.Get("Content-Type"), h.Get("Content-Disposition"))
		}
		var events []storage.AuditEvent
		sc := bufio.NewScanner(strings.NewReader(p.body))
		for sc.Scan() {
			var ev storage.AuditEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("export %s: line %d is not a JSON event: %v", query, len(events)+1, err)
			}
			if n := len(events); n > 0 && ev.ID >= events[n-1].ID {
				t.Errorf("export %s: line %d is not older than the one before", query, n+1)
			}
			events = append(events, ev)
		}
		return events
	}

	t.Run("export", func(t *testing.T) {
		events := export(t, b, "action=bulk.event")
		if len(events) != bulk {
			t.Errorf("exported %d bulk events, want %d", len(events), bulk)
		}
		for _, ev := range events {
			if ev.Action != "bulk.event" {
				t.Errorf("exported an event the filter does not match: %+v", ev)
				break
			}
		}
		if got := export(t, b, "user=dai&from=2024-01-11&to=2024-01-11"); len(got) != 2 || got[0].Details["n"] != "s3" || got[1].Details["n"] != "s2" || got[1].Actor != boss.ID {
			t.Errorf("exported dai's events on 11 January: %+v", got)
		}
		done, _ := e.store.ListAudit(ctx, storage.AuditQuery{Action: "audit.exported", User: boss.ID, Limit: 2})
		if len(done) != 2 || done[1].Details["action"] != "bulk.event" || done[0].Subject != dai.ID || done[0].Details["user"] != "dai" || done[0].Details["from"] != "2024-01-11" {
			t.Errorf("the downloads were audited as %+v", done)
		}
	})

	t.Run("org admin", func(t *testing.T) {
		wb, _ := e.adminSignIn(t, "wales-admin")
		p := wb.get(e.issuer + "/admin/audit?action=bulk.event")
		if diff := cmp.Diff(wardBulk[:50], seeded(p)); diff != "" {
			t.Errorf("the Wales admin's bulk events (-want +got):\n%s", diff)
		}
		if strings.Contains(p.body, ">England</option>") || !strings.Contains(p.body, `<option value="ward">— Ward 9</option>`) {
			t.Errorf("the Wales admin's unit choices:\n%s", p.body)
		}
		for query, want := range map[string][]string{
			"user=dai":                      {"s2", "s1"}, // not what dai did in England
			"from=2024-01-12&to=2024-01-12": nil,          // no org unit: global admins only
		} {
			if diff := cmp.Diff(want, seeded(wb.get(e.issuer+"/admin/audit?"+query))); diff != "" {
				t.Errorf("the Wales admin's %s (-want +got):\n%s", query, diff)
			}
		}
		events := export(t, wb, "action=bulk.event")
		if len(events) != len(wardBulk) {
			t.Errorf("the Wales admin exported %d bulk events, want Ward 9's %d", len(events), len(wardBulk))
		}
		for _, ev := range events {
			if ev.OrgUnitID != "ward" {
				t.Errorf("the Wales admin exported an event from %q", ev.OrgUnitID)
				break
			}
		}
		// Another unit's events: refused, however asked, and audited.
		for _, path := range []string{"/admin/audit?unit=england", "/admin/audit.jsonl?unit=england", "/admin/audit?unit=" + root.ID} {
			if p := wb.get(e.issuer + path); p.status() != http.StatusForbidden || strings.Contains(p.body, "n=b") {
				t.Errorf("%s as the Wales admin: status %d, want 403", path, p.status())
			}
		}
		denied, _ := e.store.ListAudit(ctx, storage.AuditQuery{User: walesAdmin.ID, ActionPrefix: "audit.", Outcome: storage.OutcomeDenied})
		var got []string
		for _, ev := range denied {
			got = append(got, ev.Action+" "+ev.OrgUnitID)
		}
		if diff := cmp.Diff([]string{"audit.viewed " + root.ID, "audit.exported england", "audit.viewed england"}, got); diff != "" {
			t.Errorf("the Wales admin's refusals were audited as (-want +got):\n%s", diff)
		}
	})

	t.Run("helpdesk", func(t *testing.T) {
		hb, _ := e.adminSignIn(t, "hd")
		if p := hb.get(e.issuer + "/admin"); strings.Contains(p.body, `href="/admin/audit"`) {
			t.Error("the helpdesk is offered the audit log")
		}
		for _, path := range []string{"/admin/audit", "/admin/audit.jsonl"} {
			if p := hb.get(e.issuer + path); p.status() != http.StatusForbidden {
				t.Errorf("%s as the helpdesk: status %d, want 403", path, p.status())
			}
		}
		if denied, _ := e.store.ListAudit(ctx, storage.AuditQuery{ActionPrefix: "audit.", Outcome: storage.OutcomeDenied, Limit: 2}); len(denied) != 2 || denied[0].Action != "audit.exported" || denied[1].Action != "audit.viewed" {
			t.Errorf("the helpdesk's refusals were audited as %+v", denied)
		}
	})
}
