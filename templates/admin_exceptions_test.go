package templates

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// renderAdmin renders one admin page and checks what every admin page
// must have: the layout with its navigation, no unescaped input, a label
// for every field, a legend for every fieldset, and error-summary links
// that lead somewhere on the page.
func renderAdmin(t *testing.T, name string, render func(tp *Templates, w http.ResponseWriter)) string {
	t.Helper()
	tp, err := Parse(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	render(tp, w)
	body := w.Body.String()
	if w.Code >= 500 || !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `<main id="main"`) || !strings.Contains(body, `aria-label="Admin sections"`) {
		t.Fatalf("%s: status %d, or the page lacks the admin layout:\n%s", name, w.Code, body)
	}
	if strings.Contains(body, evilInput) {
		t.Errorf("%s: unescaped input in the page", name)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control = %q, want no-store", name, cc)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		if ids[m[1]] {
			t.Errorf("%s: id %q is used twice", name, m[1])
		}
		ids[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`<(?:input|textarea|select)\b[^>]*>`).FindAllString(body, -1) {
		if strings.Contains(m, `type="hidden"`) {
			continue
		}
		id := regexp.MustCompile(` id="([^"]+)"`).FindStringSubmatch(m)
		if id == nil || !strings.Contains(body, `<label for="`+id[1]+`">`) {
			t.Errorf("%s: field without a label: %s", name, m)
		}
	}
	if strings.Count(body, "<fieldset") != strings.Count(body, "<legend>") {
		t.Errorf("%s: a fieldset without a legend", name)
	}
	for _, m := range regexp.MustCompile(`<div class="error-summary"[\s\S]*?</div>`).FindAllString(body, -1) {
		for _, l := range regexp.MustCompile(`href="#([^"]+)"`).FindAllStringSubmatch(m, -1) {
			if !ids[l[1]] {
				t.Errorf("%s: the error summary links to #%s, which is not on the page", name, l[1])
			}
		}
	}
	if strings.Contains(body, "<table") {
		if strings.Count(body, "<table") != strings.Count(body, "<caption") || !strings.Contains(body, `<th scope="col">`) {
			t.Errorf("%s: a table without a caption or column headers", name)
		}
	}
	return body
}

const evilInput = `<script>alert(1)</script>`

var adminPage = Page{Title: "Admin", CSRF: "tok", Admin: &AdminNav{Name: evilInput, Current: "Exceptions", Links: []NavLink{{Label: "Exceptions", URL: "/admin/exceptions"}}}}

func TestExceptionFormPage(t *testing.T) {
	reasons := []Choice{{Value: "phone_lost", Label: "Phone lost or stolen"}, {Value: "other", Label: evilInput, Selected: true}}
	body := renderAdmin(t, "admin_exception_new", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminExceptionForm(w, 422, ExceptionFormPage{
			Page: adminPage, UserID: "u1", UserName: evilInput, Username: evilInput, Active: evilInput,
			ShortReasons: reasons, LongReasons: []Choice{{Value: "accessibility", Label: "Accessibility needs"}},
			ShortNote: Field{Value: evilInput, Error: "Say why"}, ShortReason: Field{Error: evilInput},
			Evidence: Field{Value: evilInput, Error: "Evidence is required"}, Rejected: true,
			Errors: []FormError{{Field: "short_note", Msg: "Say why"}, {Field: "evidence", Msg: evilInput}, {Field: "short", Msg: "already"}},
		})
	})
	for _, want := range []string{
		`<a href="#short_note">Say why</a>`, `action="/admin/users/u1/exceptions"`, `name="kind" value="short_term"`, `name="kind" value="long_term"`,
		`id="short_reason_other" name="reason" value="other" checked`, `aria-describedby="short_note_hint short_note_error" aria-invalid="true"`,
		"recorded as rejected", `<legend>Reason</legend>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the exception form lacks %q:\n%s", want, body)
		}
	}
}

func TestExceptionsPage(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	row := func(id string) ExceptionRow {
		return ExceptionRow{ID: id, UserID: "u-" + id, UserName: evilInput, Kind: "long_term", KindLabel: "Long-term", Reason: evilInput,
			Note: evilInput, Evidence: evilInput, RequestedBy: evilInput, RequestedAt: at, DecidedBy: evilInput, DecidedAt: at,
			ExpiresAt: at.Add(time.Hour), EndsIn: "in 1 hour", CanDecide: true}
	}
	soon := func(id string) ExceptionRow { r := row(id); r.EndingSoon = true; return r }
	own := row("e2")
	own.OwnRequest = true
	body := renderAdmin(t, "admin_exceptions", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminExceptions(w, 409, ExceptionsPage{
			Page: adminPage, Notice: evilInput, Username: Field{Value: evilInput},
			Errors:  []FormError{{Field: "exception-e1", Msg: "Another admin must approve a request you made"}},
			Pending: []ExceptionRow{row("e1"), own}, Active: []ExceptionRow{soon("e3")},
		})
	})
	for _, want := range []string{
		`<h2 id="pending">`, `<tr id="exception-e1">`, `action="/admin/exceptions/e1/approve"`, `formaction="/admin/exceptions/e1/reject"`,
		`action="/admin/exceptions/e3/revoke"`, `<a href="/admin/users/u-e1">`, "You made this request", "1 Mar 2025 10:00 UTC", `<span class="badge">Ending soon</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the exceptions page lacks %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, `<button type="submit">Approve<`); n != 1 {
		t.Errorf("%d Approve buttons, want 1: the requester is not offered one for their own request", n)
	}

	empty := renderAdmin(t, "admin_exceptions", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminExceptions(w, 200, ExceptionsPage{Page: adminPage})
	})
	for _, want := range []string{"No requests are waiting.", "No exceptions are in force."} {
		if !strings.Contains(empty, want) {
			t.Errorf("the empty exceptions page lacks %q", want)
		}
	}
}
