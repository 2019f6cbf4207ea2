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
	formats := []Choice{{Value: "opaque", Label: "Opaque"}, {Value: "jwt", Label: "JWT", Selected: true}}
	form := ClientPage{
		Page: adminPage, New: true, Type: "public", Name: Field{Value: evilInput, Error: "Enter a name"},
		RedirectURIs: Field{Value: evilInput, Error: evilInput}, Grants: grants, GrantsError: "Choose one", ACRs: acrs, Lifetimes: lifetimes,
		TokenFormats: formats, TokenFormatError: evilInput,
		Errors: []FormError{{Field: "name", Msg: "Enter a name"}, {Field: "redirect_uris", Msg: evilInput}, {Field: "grants", Msg: "Choose one"},
			{Field: "access_token_lifetime", Msg: "Enter a lifetime"}, {Field: "access_token_format", Msg: evilInput}},
	}
	body := renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 422, form) })
	for _, want := range []string{
		`<form method="post" action="/admin/clients" novalidate>`, `<legend>Client type</legend>`, `id="type_public" name="type" value="public" checked`,
		`id="min_acr_mfa" name="min_acr" value="mfa" checked`, `<a href="#access_token_lifetime">Enter a lifetime</a>`,
		`id="access_token_lifetime_error"`, `value="30d"`, `id="exceptions_no" name="exceptions" value="no" checked`,
		`id="access_token_format" name="access_token_format" value="opaque">`, `id="access_token_format_jwt" name="access_token_format" value="jwt" checked`,
		`id="access_token_format_error"`, `aria-describedby="access_token_format_hint access_token_format_error"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the new-client form lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "rotate-secret") || strings.Contains(body, "revoke-tokens") {
		t.Error("the new-client form offers to rotate a secret or revoke tokens")
	}

	form.New, form.ID, form.Type, form.Errors, form.Exceptions, form.CreatedAt = false, "c1", "confidential", nil, true, time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	body = renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 200, form) })
	for _, want := range []string{`action="/admin/clients/c1"`, `action="/admin/clients/c1/rotate-secret"`, `action="/admin/clients/c1/delete"`,
		`action="/admin/clients/c1/revoke-tokens"`, "<code>c1</code>", "2 Jan 2025 03:04 UTC"} {
		if !strings.Contains(body, want) {
			t.Errorf("the client settings page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Last revoked") {
		t.Error("a client that never revoked its tokens says when it last did")
	}
	form.TokensNotBefore = time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
	if body = renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 200, form) }); !strings.Contains(body, "Last revoked 3 Feb 2025 04:05 UTC.") {
		t.Errorf("the client settings page does not say when its tokens were last revoked:\n%s", body)
	}
	if strings.Contains(body, `name="type"`) {
		t.Error("an existing client's type can be changed from its page")
	}
	form.Type = "public"
	if body = renderAdmin(t, "admin_client", func(tp *Templates, w http.ResponseWriter) { tp.AdminClient(w, 200, form) }); strings.Contains(body, "rotate-secret") {
		t.Error("a public client is offered a secret rotation")
	}
}
