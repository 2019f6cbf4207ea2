package templates

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAppsPage(t *testing.T) {
	body := renderAdmin(t, "admin_apps", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminApps(w, 200, AppsPage{Page: adminPage, Notice: evilInput, Apps: []AppRow{
			{ID: "a1", Name: evilInput, Host: "wiki.example.org", PathPrefix: evilInput, MinimumACR: "mfa", Units: []string{"Wales", evilInput}, Exceptions: true},
			{ID: "a2", Name: "Files", Host: "files.example.org:8443", MinimumACR: "pwd", AppPasswords: true},
		}})
	})
	for _, want := range []string{`<a href="/admin/apps/a1">`, `<code>files.example.org:8443</code>`, "<td>Wales, &lt;script&gt;", "<td>Everyone</td>", `href="/admin/apps/new"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the protected apps page lacks %q:\n%s", want, body)
		}
	}
}

func TestAppPage(t *testing.T) {
	form := AppPage{
		Page:         adminPage,
		Fields:       []TextField{{ID: "name", Label: "Name", Type: "text", Field: Field{Value: evilInput}}, {ID: "host", Label: "Host", Type: "text", Hint: "The host", Field: Field{Value: evilInput, Error: "Enter the host alone"}}},
		ACRs:         []Choice{{Value: "pwd", Label: "pwd"}, {Value: "mfa", Label: evilInput, Selected: true}},
		Units:        []UnitChoice{{Choice: Choice{Value: "root", Label: "Organisation"}}, {Choice: Choice{Value: "wales", Label: evilInput, Selected: true}, Depth: 2}},
		Errors:       []FormError{{Field: "host", Msg: "Enter the host alone"}, {Field: "min_acr", Msg: evilInput}, {Field: "org_units", Msg: "Choose org units"}},
		AppPasswords: true,
	}
	body := renderAdmin(t, "admin_app", func(tp *Templates, w http.ResponseWriter) { tp.AdminApp(w, 422, form) })
	for _, want := range []string{
		`<form method="post" action="/admin/apps" novalidate>`, `<a href="#host">Enter the host alone</a>`, `aria-describedby="host_hint host_error" aria-invalid="true"`,
		`id="min_acr_mfa" name="min_acr" value="mfa" checked`, `aria-describedby="min_acr_error"`,
		`<input type="checkbox" id="org_units" name="org_units" value="root">`,
		`<span aria-hidden="true">— — </span><input type="checkbox" id="org_units_wales" name="org_units" value="wales" checked>`,
		`id="org_units_error"`, `id="exceptions" name="exceptions" value="yes" aria-describedby`, `id="app_passwords" name="app_passwords" value="yes" checked`,
		"Register app",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the new-app form lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "/delete") {
		t.Error("the new-app form offers to delete")
	}
	form.ID, form.Name, form.Errors, form.CreatedAt = "a1", "Wiki", nil, time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	body = renderAdmin(t, "admin_app", func(tp *Templates, w http.ResponseWriter) { tp.AdminApp(w, 200, form) })
	for _, want := range []string{`<h1>Wiki</h1>`, `action="/admin/apps/a1"`, `action="/admin/apps/a1/delete"`, "<code>a1</code>", "2 Jan 2025 03:04 UTC", "Delete Wiki…"} {
		if !strings.Contains(body, want) {
			t.Errorf("the app settings page lacks %q:\n%s", want, body)
		}
	}
}
