package templates

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUsersPage(t *testing.T) {
	body := renderAdmin(t, "admin_users", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminUsers(w, 200, UsersPage{
			Page: adminPage, Notice: evilInput, Text: evilInput, AllUnits: "All my units", CanCreate: true,
			Units:   []Choice{{Value: "ou1", Label: evilInput, Selected: true}},
			MFA:     []Choice{{Value: "", Label: "On or off"}, {Value: "on", Label: "On", Selected: true}},
			Methods: []Choice{{Value: "", Label: "Any or none"}, {Value: "totp", Label: "Authenticator app"}},
			Rows: []UserRow{{ID: "u1", Username: evilInput, Name: evilInput, Email: evilInput, OrgUnit: evilInput, MFA: true, Disabled: true,
				Methods: []string{"Authenticator app", evilInput}}},
			Next: "/admin/users?cursor=abc&q=%3Cx%3E", First: "/admin/users?q=%3Cx%3E",
		})
	})
	for _, want := range []string{
		`<label for="q">Name, username or email</label>`, `<option value="ou1" selected>`, `<option value="on" selected>On</option>`,
		`<caption class="visually-hidden">Users found (a later page)</caption>`, `<th scope="row"><a href="/admin/users/u1">`,
		`<span class="badge">Disabled</span>`, `<td>On</td>`, `<a href="/admin/users?cursor=abc&amp;q=%3Cx%3E" rel="next">Next page</a>`,
		`<a href="/admin/users?q=%3Cx%3E">First page</a>`, `href="/admin/users/new"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the users page lacks %q:\n%s", want, body)
		}
	}

	for _, tt := range []struct {
		p    UsersPage
		want string
	}{
		{UsersPage{Page: adminPage}, "No users match."},
		{UsersPage{Page: adminPage, Next: "/admin/users?cursor=x"}, `rel="next">Look further</a>`},
	} {
		body := renderAdmin(t, "admin_users", func(tp *Templates, w http.ResponseWriter) { tp.AdminUsers(w, 200, tt.p) })
		if !strings.Contains(body, tt.want) || strings.Contains(body, "<table") || strings.Contains(body, "/admin/users/new") {
			t.Errorf("the users page without results lacks %q, or shows a table or the create link:\n%s", tt.want, body)
		}
	}
}

func TestNewUserPage(t *testing.T) {
	body := renderAdmin(t, "admin_user_new", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminNewUser(w, 422, NewUserPage{
			Page: adminPage, Units: []Choice{{Value: "ou1", Label: evilInput}, {Value: "ou2", Label: "Ward", Selected: true}}, UnitErr: evilInput,
			Fields: []TextField{
				{ID: "username", Label: "Username", Type: "text", Hint: "What they sign in with", MaxLength: 64, Field: Field{Value: evilInput, Error: "That username is taken"}},
				{ID: "email", Label: "Email address (optional)", Type: "email", Field: Field{Value: evilInput}},
			},
			Errors: []FormError{{Field: "username", Msg: "That username is taken"}, {Field: "org_unit", Msg: evilInput}},
		})
	})
	for _, want := range []string{
		`<a href="#username">That username is taken</a>`, `<a href="#org_unit">`, `<label for="username">Username</label>`,
		`id="username" name="username" type="text"`, `maxlength="64"`, `aria-describedby="username_hint username_error" aria-invalid="true"`,
		`<label for="org_unit">Org unit</label>`, `<option value="ou2" selected>Ward</option>`, `action="/admin/users"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the create-user page lacks %q:\n%s", want, body)
		}
	}
}

func TestUserPage(t *testing.T) {
	at := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	full := UserPage{
		Page: adminPage, ID: "u1", Username: evilInput, Name: evilInput, Email: evilInput,
		OrgUnitID: "ou1", OrgUnit: evilInput, Disabled: true, MustChangePassword: true, MFAEnabled: true, Created: at,
		NextSignIn: "challenged for a second factor", NextSignInWhy: evilInput,
		Roles:      []RoleRow{{Label: "Helpdesk", Unit: evilInput, Value: "helpdesk|ou1"}},
		Methods:    []UserMethodRow{{Label: "Text message", Name: evilInput, Target: "••••123", Added: at, Preferred: true}},
		Exceptions: []UserExceptionRow{{State: "In force", Kind: "Short-term", Reason: evilInput, RequestedBy: evilInput, RequestedAt: at, ExpiresAt: at.Add(24 * time.Hour)}},
		SignIns:    []SignInRow{{At: at, Event: "Password", Outcome: "Failed", App: evilInput, IP: "192.0.2.1"}},
		CanEdit:    true, CanResetMFA: true, CanExceptions: true, CanRoles: true,
		Edit:      []TextField{{ID: "display_name", Label: "Name", Type: "text", Field: Field{Value: evilInput, Error: "Enter a name"}}},
		MoveTo:    []Choice{{Value: "ou1", Label: evilInput, Selected: true}, {Value: "ou2", Label: "Ward"}},
		RoleTypes: []Choice{{Value: "org_admin", Label: "Org admin"}},
		RoleUnits: []Choice{{Value: "ou1", Label: evilInput}},
		Notice:    evilInput,
		Errors:    []FormError{{Field: "display_name", Msg: "Enter a name"}},
	}
	body := renderAdmin(t, "admin_user", func(tp *Templates, w http.ResponseWriter) { tp.AdminUser(w, 422, full) })
	for _, want := range []string{
		"At next sign-in this user will be: <strong>challenged for a second factor</strong>, because &lt;script&gt;",
		`<a href="#display_name">Enter a name</a>`, `action="/admin/users/u1"`, `action="/admin/users/u1/move"`,
		`action="/admin/users/u1/roles"`, `action="/admin/users/u1/roles/remove"`, `name="binding" value="helpdesk|ou1"`,
		`<a href="/admin/users/u1/mfa">MFA Settings…</a>`, `<a href="/admin/users/u1/exceptions/new">`, "••••123", "In force",
		"Password", "Failed", "192.0.2.1", "1 Mar 2025 09:00 UTC", `action="/admin/users/u1/enable"`, `action="/admin/users/u1/reset-password"`,
		"This account is disabled", "must choose a new password",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the user page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "/disable") {
		t.Error("a disabled user's page offers Disable")
	}
	// Headings go down one level at a time.
	if i, j := strings.Index(body, "<h1>"), strings.Index(body, "<h3>"); i < 0 || j < i || strings.Index(body, "<h2>") > j {
		t.Error("headings out of order")
	}

	// A helpdesk member sees the user, and none of the changes.
	readOnly := UserPage{Page: adminPage, ID: "u2", Username: "bob", Name: "Bob", OrgUnit: "Ward", NextSignIn: "let through", NextSignInWhy: "x", CanExceptions: true,
		Roles: []RoleRow{{Label: "Helpdesk", Unit: "Ward", Value: "helpdesk|ou1"}}}
	body = renderAdmin(t, "admin_user", func(tp *Templates, w http.ResponseWriter) { tp.AdminUser(w, 200, readOnly) })
	// Only its main content: the header's Sign out is a form too.
	main := body[strings.Index(body, "<main"):]
	for _, unwanted := range []string{"<form", "/mfa", "Reset password", "Remove"} {
		if strings.Contains(main, unwanted) {
			t.Errorf("the read-only user page has %q:\n%s", unwanted, body)
		}
	}
	for _, want := range []string{"No methods registered.", "No exceptions.", "No sign-ins recorded.", "exceptions/new"} {
		if !strings.Contains(body, want) {
			t.Errorf("the read-only user page lacks %q", want)
		}
	}
}

func TestUserMFAPage(t *testing.T) {
	body := renderAdmin(t, "admin_user_mfa", func(tp *Templates, w http.ResponseWriter) {
		tp.AdminUserMFA(w, 422, UserMFAPage{Page: adminPage, ID: "u1", Name: evilInput, MFAEnabled: true, Methods: 2,
			Error: "Tick the box", Errors: []FormError{{Field: "turn_off", Msg: "Tick the box"}}})
	})
	for _, want := range []string{
		`<a href="#turn_off">Tick the box</a>`, `<input type="checkbox" id="turn_off" name="turn_off" value="on" aria-describedby="turn_off_error" aria-invalid="true">`,
		`<label for="turn_off">Turn off MFA for &lt;script&gt;`, `<button type="submit">Disable MFA</button>`, "2 registered methods",
		`action="/admin/users/u1/mfa"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the MFA settings page lacks %q:\n%s", want, body)
		}
	}
}
