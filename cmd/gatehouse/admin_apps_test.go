package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// forwardAuth asks Gatehouse, as the proxy in front of a protected app
// does, whether a request for rawURL may through: its status, and the
// Basic challenge it sends, if any.
func (e *env) forwardAuth(t *testing.T, rawURL string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+login.ForwardPath, nil)
	req.Header.Set("X-Original-URL", rawURL)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// appNamed is the stored protected app with name.
func appNamed(t *testing.T, e *env, name string) storage.Client {
	t.Helper()
	c := clientNamed(t, e, name)
	if c.Forward == nil {
		t.Fatalf("%s is an OIDC client, not a protected app", name)
	}
	return c
}

// TestAdminProtectedAppPages: a global admin registers a protected app,
// its problems shown against their fields first, and the proxy's
// forward-auth then knows it; another app may not take its host and path
// prefix. It is listed with its settings, never among the clients, and
// the client and app pages each refuse the other kind. It can be edited
// and, after a confirmation step, deleted. An org admin is refused every
// page, and every change and refusal is audited.
func TestAdminProtectedAppPages(t *testing.T) {
	ctx := context.Background()
	e := newSeededEnv(t, nil, func(c *Config) { c.TrustedProxies = list{"127.0.0.1"} })
	e.addOrgUnits(storage.OrgUnit{ID: "wales", Name: "Wales"}, storage.OrgUnit{ID: "england", Name: "England"})
	root := e.withRole(e.addUser("root", alicePassword), storage.RoleGlobalAdmin)
	org := e.withRole(e.addUser("org", alicePassword), storage.RoleOrgAdmin)
	payroll := e.addRP("payroll", false).client
	const wikiPage = "https://wiki.example.org/wiki/Main_Page"
	if status, _ := e.forwardAuth(t, wikiPage); status != http.StatusForbidden {
		t.Fatalf("forward-auth before the app is registered: status %d, want 403", status)
	}

	b, _ := e.adminSignIn(t, "root")
	p := b.get(e.issuer + "/admin/apps")
	if p.status() != http.StatusOK || !strings.Contains(p.body, `<a href="/admin/apps" aria-current="page">Protected apps</a>`) ||
		!strings.Contains(p.body, "No protected apps are registered yet.") {
		t.Fatalf("the protected apps page: status %d\n%s", p.status(), p.body)
	}
	p = b.get(e.issuer + "/admin/apps/new")
	csrf := p.form().Get("csrf")
	if p.status() != http.StatusOK || csrf == "" || !strings.Contains(p.body, `<span aria-hidden="true">— </span><input type="checkbox" id="org_units_wales" name="org_units" value="wales">`) {
		t.Fatalf("the new-app form: status %d\n%s", p.status(), p.body)
	}
	form := url.Values{"csrf": {csrf}, "name": {"Wiki"}, "host": {" Wiki.Example.org "}, "path_prefix": {"/wiki/"}, "min_acr": {"mfa"},
		"org_units": {"wales"}, "exceptions": {"yes"}, "app_passwords": {"yes"}}

	// Problems first: each is shown, linked to its field, and the form
	// keeps what was typed.
	bad := url.Values{"csrf": {csrf}, "host": {"https://wiki.example.org/wiki"}, "path_prefix": {"wiki/"}, "min_acr": {"high"}, "org_units": {"gone"}}
	p = b.post("/admin/apps", bad)
	for _, want := range []string{
		`<a href="#name">Enter a name`, `<a href="#host">Enter the host alone, without http:// or https://</a>`, `<a href="#path_prefix">Start the path prefix with /`,
		`<a href="#min_acr">Choose pwd, mfa or phr</a>`, `<a href="#org_units">Choose org units from the list`, `value="https://wiki.example.org/wiki"`, `value="wiki/"`,
	} {
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, want) {
			t.Errorf("a bad app: status %d, page lacks %q", p.status(), want)
		}
	}
	for _, host := range []string{"wiki.example.org:443", "*.example.org", "alice@wiki.example.org", "wiki example.org"} {
		bad.Set("host", host)
		if p = b.post("/admin/apps", bad); p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#host">`) {
			t.Errorf("host %q: status %d, want 422 with the host's error", host, p.status())
		}
	}
	if list, _ := e.store.ListClients(ctx); len(list) != 1 {
		t.Fatalf("a bad app was stored: %+v", list)
	}

	// Registered: the proxy's forward-auth knows it, and, as it takes app
	// passwords, challenges a program that is not a browser.
	if p = b.post("/admin/apps", form); !strings.Contains(p.body, "Protected app registered.") || !strings.Contains(p.body, "<h1>Wiki</h1>") {
		t.Fatalf("registering: status %d\n%s", p.status(), p.body)
	}
	app := appNamed(t, e, "Wiki")
	want := storage.ForwardAuth{Host: "wiki.example.org", PathPrefix: "/wiki/", OrgUnitIDs: []string{"wales"}, AppPasswords: true}
	if diff := cmp.Diff(want, *app.Forward); diff != "" || app.MinimumACR != "mfa" || !app.ExceptionsAllowed || len(app.SecretHash) == 0 ||
		len(app.GrantTypes) != 0 || len(app.RedirectURIs) != 0 {
		t.Errorf("stored app %+v (-want +got forward):\n%s", app, diff)
	}
	if status, challenge := e.forwardAuth(t, wikiPage); status != http.StatusUnauthorized || !strings.HasPrefix(challenge, `Basic realm="Wiki"`) {
		t.Errorf("forward-auth for the registered app: status %d, challenge %q; want 401 with a Basic challenge", status, challenge)
	}
	if p = b.get(e.issuer + "/admin/apps"); !strings.Contains(p.body, `<a href="/admin/apps/`+app.ID+`">Wiki</a>`) ||
		!strings.Contains(p.body, "<code>wiki.example.org/wiki/</code>") || !strings.Contains(p.body, "<td>Wales</td>") {
		t.Errorf("the protected apps list lacks Wiki:\n%s", p.body)
	}

	// Another app may not take its host and path prefix.
	twin := url.Values{"csrf": {csrf}, "name": {"Wiki copy"}, "host": {"wiki.example.org"}, "path_prefix": {"/wiki/"}, "min_acr": {"pwd"}}
	if p = b.post("/admin/apps", twin); p.status() != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, `<a href="#host">Wiki is already registered for wiki.example.org/wiki/`) {
		t.Errorf("a second app for wiki.example.org/wiki/: status %d\n%s", p.status(), p.body)
	}

	// The client pages know nothing of it, nor the app pages of a client.
	if p = b.get(e.issuer + "/admin/clients"); strings.Contains(p.body, "Wiki") || !strings.Contains(p.body, "App payroll") {
		t.Errorf("the clients page shows the protected app, or not the client:\n%s", p.body)
	}
	if p = b.get(e.issuer + "/admin/apps"); strings.Contains(p.body, "payroll") {
		t.Errorf("the protected apps page shows a client:\n%s", p.body)
	}
	for _, tc := range []struct {
		what string
		do   func() page
	}{
		{"the client page of an app", func() page { return b.get(e.issuer + "/admin/clients/" + app.ID) }},
		{"saving an app as a client", func() page {
			return b.post("/admin/clients/"+app.ID, url.Values{"csrf": {csrf}, "name": {"Wiki"}, "redirect_uris": {"https://wiki.example.org/cb"}, "grants": {"authorization_code"}, "min_acr": {"pwd"}})
		}},
		{"rotating an app's secret", func() page {
			return b.post("/admin/clients/"+app.ID+"/rotate-secret", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
		}},
		{"deleting an app as a client", func() page {
			return b.post("/admin/clients/"+app.ID+"/delete", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
		}},
		{"the app page of a client", func() page { return b.get(e.issuer + "/admin/apps/" + payroll.ID) }},
		{"saving a client as an app", func() page {
			return b.post("/admin/apps/"+payroll.ID, url.Values{"csrf": {csrf}, "name": {"Payroll"}, "host": {"payroll.example.org"}, "min_acr": {"pwd"}})
		}},
		{"deleting a client as an app", func() page {
			return b.post("/admin/apps/"+payroll.ID+"/delete", url.Values{"csrf": {csrf}, "confirm": {"yes"}})
		}},
	} {
		if p := tc.do(); p.status() != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", tc.what, p.status())
		}
	}
	if c, err := e.store.GetClient(ctx, payroll.ID); err != nil || c.Forward != nil || c.Name != payroll.Name {
		t.Errorf("the client after the app pages were used on it: %+v, %v", c, err)
	}

	// Edit: a problem shown against its field, then saved.
	edit := url.Values{"csrf": {csrf}, "name": {"Wiki 2"}, "host": {"*.example.org"}, "path_prefix": {""}, "min_acr": {"pwd"}}
	if p = b.post("/admin/apps/"+app.ID, edit); p.status() != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, `<a href="#host">Wildcards are not allowed`) || !strings.Contains(p.body, "<h1>Wiki</h1>") {
		t.Errorf("a wildcard host: status %d\n%s", p.status(), p.body)
	}
	edit.Set("host", "wiki.example.org")
	if p = b.post("/admin/apps/"+app.ID, edit); !strings.Contains(p.body, "Protected app saved.") || !strings.Contains(p.body, `value="Wiki 2"`) {
		t.Errorf("saving: status %d\n%s", p.status(), p.body)
	}
	saved, err := e.store.GetClient(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	want = storage.ForwardAuth{Host: "wiki.example.org"}
	if diff := cmp.Diff(want, *saved.Forward); diff != "" || saved.Name != "Wiki 2" || saved.MinimumACR != "pwd" || saved.ExceptionsAllowed ||
		string(saved.SecretHash) != string(app.SecretHash) || !saved.CreatedAt.Equal(app.CreatedAt) {
		t.Errorf("after saving: %+v (-want +got forward):\n%s", saved, diff)
	}
	if status, challenge := e.forwardAuth(t, "https://wiki.example.org/anything"); status != http.StatusUnauthorized || challenge != "" {
		t.Errorf("forward-auth for the whole host, without app passwords: status %d, challenge %q; want 401, none", status, challenge)
	}

	// An org admin is refused every page, however asked.
	o, _ := e.adminSignIn(t, "org")
	if strings.Contains(o.get(e.issuer+"/admin").body, `href="/admin/apps"`) {
		t.Error("an org admin's navigation offers Protected apps")
	}
	oCSRF := o.adminCSRF(t)
	for _, v := range []url.Values{form, edit} {
		v.Set("csrf", oCSRF)
	}
	form.Set("host", "other.example.org")
	for _, tc := range []struct {
		what string
		do   func() page
	}{
		{"list", func() page { return o.get(e.issuer + "/admin/apps") }},
		{"new", func() page { return o.get(e.issuer + "/admin/apps/new") }},
		{"view", func() page { return o.get(e.issuer + "/admin/apps/" + app.ID) }},
		{"create", func() page { return o.post("/admin/apps", form) }},
		{"edit", func() page { return o.post("/admin/apps/"+app.ID, edit) }},
		{"delete", func() page {
			return o.post("/admin/apps/"+app.ID+"/delete", url.Values{"csrf": {oCSRF}, "confirm": {"yes"}})
		}},
	} {
		if p := tc.do(); p.status() != http.StatusForbidden || strings.Contains(p.body, "Wiki") {
			t.Errorf("org admin, %s: status %d, want 403", tc.what, p.status())
		}
	}
	if list, _ := e.store.ListClients(ctx); len(list) != 2 {
		t.Errorf("%d clients and apps after the org admin tried, want 2", len(list))
	}

	// Delete, after the confirmation step: the proxy is then refused.
	p = b.post("/admin/apps/"+app.ID+"/delete", url.Values{"csrf": {csrf}})
	if !strings.Contains(p.body, "Delete Wiki 2?") {
		t.Fatalf("delete: want the confirmation step, got status %d\n%s", p.status(), p.body)
	}
	if _, err := e.store.GetClient(ctx, app.ID); err != nil {
		t.Fatal("the app was deleted before the confirmation")
	}
	if p = b.confirm(t, p); !strings.Contains(p.body, "Protected app deleted.") {
		t.Errorf("deleting: status %d\n%s", p.status(), p.body)
	}
	if _, err := e.store.GetClient(ctx, app.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after deleting: %v, want not found", err)
	}
	if status, _ := e.forwardAuth(t, wikiPage); status != http.StatusForbidden {
		t.Errorf("forward-auth after the app was deleted: status %d, want 403", status)
	}

	// The audit log has every change by the global admin, with what
	// changed, and every refusal of the org admin.
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	details := map[string]map[string]string{}
	for _, ev := range events {
		if !strings.HasPrefix(ev.Action, "protected_app.") {
			continue
		}
		who := map[string]string{root.ID: "root", org.ID: "org"}[ev.Actor]
		count[who+" "+ev.Action+"/"+ev.Outcome]++
		if who == "root" {
			details[ev.Action] = ev.Details
		}
	}
	if diff := cmp.Diff(map[string]int{
		"root protected_app.created/success": 1, "root protected_app.updated/success": 1, "root protected_app.deleted/success": 1,
		"org protected_app.listed/denied": 1, "org protected_app.created/denied": 2, "org protected_app.viewed/denied": 1,
		"org protected_app.updated/denied": 1, "org protected_app.deleted/denied": 1,
	}, count); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]map[string]string{
		"protected_app.created": {"name": "Wiki", "host": "wiki.example.org", "path_prefix": "/wiki/", "min_acr": "mfa", "org_units": "wales",
			"exceptions_allowed": "true", "app_passwords": "true"},
		"protected_app.updated": {"name": "Wiki -> Wiki 2", "path_prefix": "/wiki/ -> ", "min_acr": "mfa -> pwd", "org_units": "wales -> ",
			"exceptions_allowed": "true -> false", "app_passwords": "true -> false"},
		"protected_app.deleted": {"name": "Wiki 2", "host": "wiki.example.org", "path_prefix": ""},
	}, details); diff != "" {
		t.Errorf("audit details (-want +got):\n%s", diff)
	}
}

// TestCLIApps: `gatehouse app add` registers a protected app by the admin
// pages' rules, each problem naming its flag, audited as the cli; `app
// list` lists it, and `client list` does not.
func TestCLIApps(t *testing.T) {
	ctx := context.Background()
	dir := startedDataDir(t, func(ctx context.Context, store storage.Storage, root storage.OrgUnit) {
		if err := store.CreateOrgUnit(ctx, storage.OrgUnit{ID: "wales", Name: "Wales", ParentID: root.ID}); err != nil {
			t.Fatal(err)
		}
	})
	data := "--data-dir=" + dir
	cfg := defaultConfig()

	out, err := gatehouse(t, ctx, "app", "add", data, "--name", "Wiki", "--host", "Wiki.Example.org", "--path-prefix", "/wiki/",
		"--min-acr", "mfa", "--org-unit", "Wales", "--exceptions", "--app-passwords")
	m := regexp.MustCompile(`app_id: (\S+)`).FindStringSubmatch(out)
	if err != nil || m == nil || !strings.Contains(out, "forward-auth for wiki.example.org/wiki/: "+cfg.Issuer+"/forward-auth") {
		t.Fatalf("app add: %v\n%s", err, out)
	}
	id := m[1]
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--host", "https://wiki.example.org/wiki", "--path-prefix", "wiki", "--min-acr", "high"},
			[]string{"--name: Enter a name", "--host: Enter the host alone, without http://", "--path-prefix: Start the path prefix with /", "--min-acr: Choose pwd, mfa or phr"}},
		{[]string{"--name", "Copy", "--host", "wiki.example.org", "--path-prefix", "/wiki/"}, []string{"--host: Wiki is already registered for wiki.example.org/wiki/"}},
		{[]string{"--name", "Files", "--host", "files.example.org", "--org-unit", "nowhere"}, []string{`--org-unit: no org unit "nowhere"`}},
	} {
		_, err := gatehouse(t, ctx, append([]string{"app", "add", data}, tc.args...)...)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("app add %q: err = %v, want it to contain %q", tc.args, err, want)
			}
		}
	}
	if out, err := gatehouse(t, ctx, "client", "add", data, "--id", "payroll", "--name", "Payroll", "--redirect-uri", "https://payroll.example/cb"); err != nil {
		t.Fatalf("client add: %v\n%s", err, out)
	}
	out, err = gatehouse(t, ctx, "app", "list", data)
	if err != nil || !regexp.MustCompile(id+` +Wiki +wiki\.example\.org +/wiki/ +mfa`).MatchString(out) || strings.Contains(out, "payroll") {
		t.Errorf("app list: %v\n%s", err, out)
	}
	if out, err = gatehouse(t, ctx, "client", "list", data); err != nil || strings.Contains(out, id) || !strings.Contains(out, "payroll") {
		t.Errorf("client list: %v\n%s", err, out)
	}

	store, err := bbolt.Open(filepath.Join(dir, "gatehouse.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	app, err := store.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.ForwardAuth{Host: "wiki.example.org", PathPrefix: "/wiki/", OrgUnitIDs: []string{"wales"}, AppPasswords: true}
	if diff := cmp.Diff(want, *app.Forward); diff != "" || app.MinimumACR != "mfa" || !app.ExceptionsAllowed || len(app.SecretHash) == 0 {
		t.Errorf("stored app %+v (-want +got forward):\n%s", app, diff)
	}
	if list, _ := store.ListClients(ctx); len(list) != 2 {
		t.Errorf("%d clients and apps, want Wiki and Payroll: refused apps were stored", len(list))
	}
	events, _ := store.ListAudit(ctx, storage.AuditQuery{Subject: id, Action: "protected_app.created"})
	if len(events) != 1 || events[0].Actor != "cli" || events[0].Details["host"] != "wiki.example.org" {
		t.Errorf("audit of app add: %+v", events)
	}
}
