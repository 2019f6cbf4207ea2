package templates

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuditPage(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 5, 7, 0, time.FixedZone("BST", 3600))
	body := renderAdmin(t, "admin_audit", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminAudit(w, 200, AuditPage{
			Page: adminPage, User: Field{Value: evilInput}, Action: Field{Value: evilInput}, From: Field{Value: "2025-03-01"},
			Units:    []Choice{{Value: "u1", Label: evilInput}, {Value: "u2", Label: "— Ward", Selected: true}},
			Outcomes: []Choice{{Value: "success", Label: "Success"}, {Value: "denied", Label: "Denied", Selected: true}},
			Shown:    true,
			Events: []AuditRow{{
				ID: "e1", Time: at, Actor: evilInput, ActorURL: "/admin/audit?user=" + evilInput, Subject: evilInput, Unit: evilInput,
				Action: evilInput, Outcome: "denied", IP: "192.0.2.1", UserAgent: evilInput, Details: []string{"reason=" + evilInput},
			}, {ID: "e2", Time: at, Actor: "gatehouse", Action: "bootstrap", Outcome: "success"}},
			Older: "/admin/audit?before=e2&outcome=denied", Newest: "/admin/audit?outcome=denied", Export: "/admin/audit.jsonl?outcome=denied",
		})
	})
	for _, want := range []string{
		`<caption class="visually-hidden">Audit events`, `<th scope="col">Time (UTC)</th>`,
		`<time datetime="2025-03-01T08:05:07Z">2025-03-01 08:05:07</time>`, // UTC, whatever zone the event was stored in
		`<option value="u2" selected>— Ward</option>`, `<option value="denied" selected>Denied</option>`,
		`<input id="from" name="from" type="date" value="2025-03-01">`, `<label for="to">To</label>`,
		`<a href="/admin/audit?before=e2&amp;outcome=denied">Older events</a>`, `<a href="/admin/audit?outcome=denied">Newest events</a>`,
		`href="/admin/audit.jsonl?outcome=denied" download>`, `<tr id="event-e2">`, `<td>gatehouse</td>`,
		`href="/admin/audit?user=%3cscript%3ealert%281%29%3c/script%3e"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit page lacks %q:\n%s", want, body)
		}
	}

	refused := renderAdmin(t, "admin_audit", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminAudit(w, 422, AuditPage{
			Page: adminPage, User: Field{Value: "zed", Error: "No user has that username or email"}, To: Field{Value: "soon", Error: evilInput},
			Errors: []FormError{{Field: "user", Msg: "No user has that username or email"}, {Field: "to", Msg: evilInput}},
		})
	})
	for _, want := range []string{
		`<a href="#user">No user has that username or email</a>`, `aria-describedby="user_hint user_error" aria-invalid="true"`,
		`<input id="to" name="to" type="date" value="soon" aria-describedby="to_error" aria-invalid="true">`,
	} {
		if !strings.Contains(refused, want) {
			t.Errorf("the refused audit page lacks %q:\n%s", want, refused)
		}
	}
	if strings.Contains(refused, "<table") || strings.Contains(refused, "No events match") {
		t.Error("the refused audit page shows results")
	}

	empty := renderAdmin(t, "admin_audit", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminAudit(w, 200, AuditPage{Page: adminPage, Shown: true})
	})
	if !strings.Contains(empty, "No events match these filters.") || strings.Contains(empty, `class="pager"`) {
		t.Errorf("the empty audit page:\n%s", empty)
	}
}
