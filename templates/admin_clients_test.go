package templates

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClientsPage(t *testing.T) {
	body := renderAdmin(t, "admin_clients", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminClients(w, 200, ClientsPage{Page: adminPage, Notice: evilInput, Clients: []ClientRow{
			{ID: "c1", Name: evilInput, RedirectURIs: []string{evilInput}, MinimumACR: "mfa", Exceptions: true},
			{ID: "c2", Name: "SPA", Public: true},
		}})
	})
	for _, want := range []string{`<a href="/admin/clients/c1">`, "<td>Confidential</td>", "<td>Public</td>", `href="/admin/clients/new"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the clients page lacks %q:\n%s", want, body)
		}
	}
}

func TestClientPage(t *testing.T) {
	lifetimes := []Lifetime{
		{ID: "access_token_lifetime", Label: "Access token", Field: Field{Value: evilInput, Error: "Enter a lifetime"}},
		{ID: "id_token_lifetime", Label: "ID token"},
		{ID: "refresh_token_lifetime", Label: "Refresh token", Field: Field{Value: "30d"}},
	}
	grants := []Choice{{Value: "authorization_code", Label: "authorization_code", Selected: true}, {Value: "client_credentials", Label: evilInput}}
	acrs := []Choice{{Value: "pwd", Label: "pwd"}, {Value: "mfa", Label: "mfa", Selected: true}}
	form := ClientPage{
		Page: adminPage, New: true, Type: "public", Name: Field{Value: evilInput, Error: "Enter a name"},
		RedirectURIs: Field{Value: evilInput, Error: evilInput}, Grants: grants, GrantsError: "Choose one", ACRs: acrs, Lifetimes: lifetimes,
		Errors: []FormError{{Field: "name", Msg: "Enter a name"}, {Field: "redirect_uris", Msg: evilInput}, {Field: "grants", Msg: "Choose one"},
			{Field: "access_token_lifetime", Msg: "Enter a lifetime"}},
	}
	body := renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 422, form) })
	for _, want := range []string{
		`<form method="post" action="/admin/clients" novalidate>`, `<legend>Client type</legend>`, `id="type_public" name="type" value="public" checked`,
		`id="min_acr_mfa" name="min_acr" value="mfa" checked`, `<a href="#access_token_lifetime">Enter a lifetime</a>`,
		`id="access_token_lifetime_error"`, `value="30d"`, `id="exceptions_no" name="exceptions" value="no" checked`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the new-client form lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "rotate-secret") {
		t.Error("the new-client form offers to rotate a secret")
	}

	form.New, form.ID, form.Type, form.Errors, form.Exceptions, form.CreatedAt = false, "c1", "confidential", nil, true, time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	body = renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 200, form) })
	for _, want := range []string{`action="/admin/clients/c1"`, `action="/admin/clients/c1/rotate-secret"`, `action="/admin/clients/c1/delete"`, "<code>c1</code>", "2 Jan 2025 03:04 UTC"} {
		if !strings.Contains(body, want) {
			t.Errorf("the client settings page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, `name="type"`) {
		t.Error("an existing client's type can be changed from its page")
	}
	form.Type = "public"
	if body = renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 200, form) }); strings.Contains(body, "rotate-secret") {
		t.Error("a public client is offered a secret rotation")
	}
}
