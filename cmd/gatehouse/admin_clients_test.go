package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

var shownSecret = regexp.MustCompile(`<code class="secret">([^<]+)</code>`)

// rpFor is a relying party for a client registered through the admin
// pages, with the secret they showed.
func (e *env) rpFor(t *testing.T, c storage.Client, secret string) *relyingParty {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), e.srv.Client())
	p, err := oidc.NewProvider(ctx, e.issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &relyingParty{
		e: e, client: c, secret: secret, provider: p,
		oauth: &oauth2.Config{
			ClientID: c.ID, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: c.RedirectURIs[0],
			Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess},
		},
		verifier: p.VerifierContext(ctx, &oidc.Config{ClientID: c.ID}),
	}
}

// clientNamed is the stored client with name.
func clientNamed(t *testing.T, e *env, name string) storage.Client {
	t.Helper()
	list, err := e.store.ListClients(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no client named %q", name)
	return storage.Client{}
}

// TestAdminClientPages: a global admin registers a confidential client,
// sees its secret once, and a real relying party signs alice in with it;
// rotating the secret (after a confirmation step) shows a new one and the
// token endpoint refuses the old; the settings can be edited, with
// problems shown against their fields; a public client has no secret; a
// client can be deleted. An org admin is refused everything, and audited.
func TestAdminClientPages(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addUser("alice", alicePassword)
	root := e.withRole(e.addUser("root", alicePassword), storage.RoleGlobalAdmin)
	org := e.withRole(e.addUser("org", alicePassword), storage.RoleOrgAdmin)

	b, _ := e.adminSignIn(t, "root")
	p := b.get(e.issuer + "/admin/clients/new")
	csrf := p.form().Get("csrf")
	if p.status() != http.StatusOK || csrf == "" || !strings.Contains(p.body, `<legend>Client type</legend>`) {
		t.Fatalf("the new-client form: status %d\n%s", p.status(), p.body)
	}
	redirect := "https://" + e.rpHost + "/payroll/callback"
	form := url.Values{
		"csrf": {csrf}, "name": {"Payroll"}, "type": {"confidential"},
		"redirect_uris": {redirect + "\r\n\r\n  " + redirect + "\n"}, "post_logout_uris": {"https://" + e.rpHost + "/payroll/bye"},
		"grants": {provider.GrantAuthorizationCode, provider.GrantRefreshToken}, "min_acr": {"pwd"}, "exceptions": {"yes"},
		"access_token_lifetime": {"15m"}, "refresh_token_lifetime": {"30d"},
	}
	// Problems first: each is shown and linked to its field.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("redirect_uris", "http://evil.example/cb\nhttps://"+e.rpHost+"/*")
	bad.Set("min_acr", "high")
	bad.Set("access_token_lifetime", "soon")
	bad["grants"] = []string{provider.GrantClientCredentials}
	bad.Set("type", "public")
	p = b.post("/admin/clients", bad)
	for _, want := range []string{
		`<a href="#redirect_uris">&#34;http://evil.example/cb&#34;: http is allowed only for localhost and loopback addresses</a>`,
		`wildcards are not allowed</a>`, `<a href="#min_acr">`, `<a href="#access_token_lifetime">`, `<a href="#grants">client_credentials needs a confidential client`,
		`id="type_public" name="type" value="public" checked`,
	} {
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, want) {
			t.Errorf("a bad client: status %d, page lacks %q", p.status(), want)
		}
	}
	if list, _ := e.store.ListClients(ctx); len(list) != 0 {
		t.Fatalf("a bad client was stored: %+v", list)
	}

	// Registered: the secret is shown once, only its hash is kept.
	p = b.post("/admin/clients", form)
	m := shownSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("registering a confidential client: no secret shown (status %d)\n%s", p.status(), p.body)
	}
	secret := m[1]
	c := clientNamed(t, e, "Payroll")
	if !bytes.Equal(c.SecretHash, provider.HashSecret(secret)) || !strings.Contains(p.body, c.ID) {
		t.Errorf("the stored hash is not the shown secret's, or the page lacks the client id %s", c.ID)
	}
	if len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != redirect || c.AccessTokenLifetime != 15*time.Minute ||
		c.RefreshTokenLifetime != 30*24*time.Hour || !c.ExceptionsAllowed || c.MinimumACR != "pwd" {
		t.Errorf("stored client: %+v", c)
	}
	if p = b.get(e.issuer + "/admin/clients/" + c.ID); strings.Contains(p.body, secret) || !strings.Contains(p.body, `value="15m"`) || !strings.Contains(p.body, `value="30d"`) {
		t.Errorf("the client's page shows the secret again, or not its lifetimes:\n%s", p.body)
	}
	if p = b.get(e.issuer + "/admin/clients"); !strings.Contains(p.body, `<a href="/admin/clients/`+c.ID+`">Payroll</a>`) {
		t.Errorf("the clients list lacks Payroll:\n%s", p.body)
	}

	// The same form sent twice (a reload of the page showing the secret)
	// registers one client.
	twice := url.Values{}
	for k, v := range form {
		twice[k] = v
	}
	twice.Set("name", "Rota")
	twice.Set("client_id", b.get(e.issuer+"/admin/clients/new").form().Get("client_id"))
	if p = b.post("/admin/clients", twice); !shownSecret.MatchString(p.body) {
		t.Fatalf("registering Rota: status %d", p.status())
	}
	if p = b.post("/admin/clients", twice); p.status() != http.StatusConflict || !strings.Contains(p.body, "already registered") {
		t.Errorf("the same form again: status %d, want 409", p.status())
	}
	if list, _ := e.store.ListClients(ctx); len(list) != 2 {
		t.Errorf("%d clients after sending one form twice, want Payroll and Rota", len(list))
	}
	if err := e.store.DeleteClient(ctx, twice.Get("client_id")); err != nil {
		t.Fatal(err)
	}

	// A real relying party signs alice in with it.
	rp := e.rpFor(t, c, secret)
	a := rp.authorize()
	if _, err := rp.exchange(a, e.newBrowser().signIn(rp, a, "alice", alicePassword)); err != nil {
		t.Fatalf("code flow with the registered client: %v", err)
	}

	// Rotate: the confirmation step, then a new secret; the old one fails.
	p = b.post("/admin/clients/"+c.ID+"/rotate-secret", url.Values{"csrf": {csrf}})
	if p.form().Get("confirm") != "yes" || shownSecret.MatchString(p.body) {
		t.Fatalf("rotate: want the confirmation step, got status %d\n%s", p.status(), p.body)
	}
	if c2, _ := e.store.GetClient(ctx, c.ID); !bytes.Equal(c2.SecretHash, c.SecretHash) {
		t.Fatal("the secret was rotated before the confirmation")
	}
	p = b.post("/admin/clients/"+c.ID+"/rotate-secret", p.form())
	m = shownSecret.FindStringSubmatch(p.body)
	if m == nil || m[1] == secret {
		t.Fatalf("rotating: no new secret shown (status %d)\n%s", p.status(), p.body)
	}
	a = rp.authorize()
	_, err := rp.exchange(a, e.newBrowser().signIn(rp, a, "alice", alicePassword))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Errorf("the old secret after rotation: %v, want invalid_client", err)
	}
	rp.oauth.ClientSecret = m[1]
	a = rp.authorize()
	if _, err := rp.exchange(a, e.newBrowser().signIn(rp, a, "alice", alicePassword)); err != nil {
		t.Errorf("the new secret after rotation: %v", err)
	}

	// Edit: problems are shown against the field; then saved.
	edit := url.Values{"csrf": {csrf}, "name": {"Payroll 2"}, "redirect_uris": {redirect}, "grants": {provider.GrantAuthorizationCode},
		"min_acr": {"mfa"}, "exceptions": {"no"}, "id_token_lifetime": {"-1h"}}
	if p = b.post("/admin/clients/"+c.ID, edit); p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#id_token_lifetime">A lifetime cannot be negative</a>`) {
		t.Errorf("a negative lifetime: status %d\n%s", p.status(), p.body)
	}
	edit.Set("id_token_lifetime", "")
	if p = b.post("/admin/clients/"+c.ID, edit); !strings.Contains(p.body, "Client saved.") {
		t.Errorf("saving: status %d\n%s", p.status(), p.body)
	}
	if c2, _ := e.store.GetClient(ctx, c.ID); c2.Name != "Payroll 2" || c2.MinimumACR != "mfa" || c2.ExceptionsAllowed || len(c2.GrantTypes) != 1 ||
		!bytes.Equal(c2.SecretHash, provider.HashSecret(m[1])) || !c2.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("after saving: %+v", c2)
	}

	// A public client: no secret, and nothing to rotate.
	pub := url.Values{"csrf": {csrf}, "name": {"SPA"}, "type": {"public"}, "redirect_uris": {"http://localhost:3000/cb"},
		"grants": {provider.GrantAuthorizationCode}, "min_acr": {"pwd"}}
	if p = b.post("/admin/clients", pub); !strings.Contains(p.body, "Client registered") || shownSecret.MatchString(p.body) || strings.Contains(p.body, "rotate-secret") {
		t.Errorf("a public client: status %d\n%s", p.status(), p.body)
	}
	if spa := clientNamed(t, e, "SPA"); !spa.Public() || !spa.ExceptionsAllowed {
		t.Errorf("public client stored as %+v", spa)
	}

	// An org admin is refused every client page, however asked.
	o, _ := e.adminSignIn(t, "org")
	if strings.Contains(o.get(e.issuer+"/admin").body, `href="/admin/clients"`) {
		t.Error("an org admin's navigation offers Clients")
	}
	oCSRF := o.adminCSRF(t)
	for _, tc := range []struct {
		what string
		do   func() page
	}{
		{"list", func() page { return o.get(e.issuer + "/admin/clients") }},
		{"new", func() page { return o.get(e.issuer + "/admin/clients/new") }},
		{"view", func() page { return o.get(e.issuer + "/admin/clients/" + c.ID) }},
		{"create", func() page { return o.post("/admin/clients", pub) }},
		{"edit", func() page { return o.post("/admin/clients/"+c.ID, edit) }},
		{"rotate", func() page {
			return o.post("/admin/clients/"+c.ID+"/rotate-secret", url.Values{"csrf": {oCSRF}, "confirm": {"yes"}})
		}},
		{"delete", func() page {
			return o.post("/admin/clients/"+c.ID+"/delete", url.Values{"csrf": {oCSRF}, "confirm": {"yes"}})
		}},
	} {
		if tc.what == "create" || tc.what == "edit" {
			pub.Set("csrf", oCSRF)
			edit.Set("csrf", oCSRF)
		}
		if p := tc.do(); p.status() != http.StatusForbidden || strings.Contains(p.body, "Payroll") {
			t.Errorf("org admin, %s: status %d, want 403", tc.what, p.status())
		}
	}
	if c2, err := e.store.GetClient(ctx, c.ID); err != nil || !bytes.Equal(c2.SecretHash, provider.HashSecret(m[1])) {
		t.Errorf("the org admin changed the client: %v", err)
	}

	// Delete, after the confirmation step.
	p = b.post("/admin/clients/"+c.ID+"/delete", url.Values{"csrf": {csrf}})
	if p.form().Get("confirm") != "yes" {
		t.Fatalf("delete: want the confirmation step, got status %d", p.status())
	}
	if p = b.post("/admin/clients/"+c.ID+"/delete", p.form()); !strings.Contains(p.body, "Client deleted.") {
		t.Errorf("deleting: status %d\n%s", p.status(), p.body)
	}
	if _, err := e.store.GetClient(ctx, c.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after deleting: %v, want not found", err)
	}

	// The audit log has every change by the global admin, every refusal
	// of the org admin, and no secret.
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range events {
		if strings.HasPrefix(ev.Action, "client.") {
			switch ev.Actor {
			case root.ID:
				count["root "+ev.Action+"/"+ev.Outcome]++
			case org.ID:
				count["org "+ev.Action+"/"+ev.Outcome]++
			}
		}
		for _, v := range ev.Details {
			if strings.Contains(v, secret) || strings.Contains(v, m[1]) {
				t.Errorf("a secret in the audit log: %+v", ev)
			}
		}
	}
	for k, want := range map[string]int{
		"root client.created/success": 3, "root client.updated/success": 1, "root client.secret_rotated/success": 1, "root client.deleted/success": 1,
		"org client.listed/denied": 1, "org client.created/denied": 2, "org client.viewed/denied": 1, "org client.updated/denied": 1,
		"org client.secret_rotated/denied": 1, "org client.deleted/denied": 1,
	} {
		if count[k] != want {
			t.Errorf("audit %s: %d events, want %d (all: %v)", k, count[k], want, count)
		}
	}
}

// TestClientPageCountsExceptionUsers: a client's page says what honouring
// MFA exceptions means (a minimum of mfa is waived for them, phr never)
// and how many people could today sign in to it without a second factor.
func TestClientPageCountsExceptionUsers(t *testing.T) {
	ctx := context.Background()
	e, app, _ := newRequiredAliceEnv(t)
	root := e.withRole(e.addUser("root", alicePassword), storage.RoleGlobalAdmin)
	b, secret := e.adminSignIn(t, "root")
	page := func() string { return b.get(e.issuer + "/admin/clients/" + app.client.ID).body }
	if body := page(); !strings.Contains(body, "Today 0 people have an exception in force: while this app honours exceptions") ||
		!strings.Contains(body, "mfa: a second factor, unless the app honours MFA exceptions") {
		t.Errorf("the client page before any exception:\n%s", body)
	}
	alice := mustUser(t, e, "alice")
	ex, err := e.adminService().RequestException(ctx, admin.Actor{User: root}, admin.ExceptionRequest{UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	if body := page(); !strings.Contains(body, "Today 1 person has an exception in force: while this app honours exceptions") {
		t.Errorf("the client page with one exception in force:\n%s", body)
	}
	e.clock.Advance(ex.ExpiresAt.Sub(e.clock.Now()))
	b.passChallenge(b.submitPassword(b.get(e.issuer+"/admin"), "root", alicePassword), e.totpCode(secret))
	if body := page(); !strings.Contains(body, "Today 0 people have an exception in force") {
		t.Error("the client page counts an expired exception")
	}
}

// TestAdminClientTokenFormat: a global admin registers a client_credentials
// client that takes JWT access tokens (JWT for a client without the grant
// is refused against its field); its page shows the choice. Its token is
// active until the admin revokes its issued tokens, after a confirmation
// step and audited, and one issued after is active; switched to opaque,
// it gets opaque tokens and its JWTs end. An org admin cannot revoke.
func TestAdminClientTokenFormat(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	root := e.withRole(e.addUser("root", alicePassword), storage.RoleGlobalAdmin)
	e.withRole(e.addUser("org", alicePassword), storage.RoleOrgAdmin)
	b, _ := e.adminSignIn(t, "root")
	p := b.get(e.issuer + "/admin/clients/new")
	if !strings.Contains(p.body, `id="access_token_format" name="access_token_format" value="opaque" checked`) ||
		!strings.Contains(p.body, "JWT (RFC 9068; checked offline by APIs, ends only when it expires or with Revoke issued tokens)") {
		t.Fatalf("the new-client form does not offer the access token format, opaque first:\n%s", p.body)
	}
	csrf := p.form().Get("csrf")
	form := url.Values{"csrf": {csrf}, "name": {"Reports job"}, "type": {"confidential"}, "grants": {provider.GrantClientCredentials},
		"min_acr": {"pwd"}, "access_token_format": {"jwt"}}
	bad := url.Values{"csrf": {csrf}, "name": {"Web"}, "type": {"confidential"}, "grants": {provider.GrantAuthorizationCode},
		"redirect_uris": {"https://" + e.rpHost + "/web/callback"}, "min_acr": {"pwd"}, "access_token_format": {"jwt"}}
	if p = b.post("/admin/clients", bad); p.status() != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, `<a href="#access_token_format">jwt applies to client_credentials tokens only`) ||
		!strings.Contains(p.body, `value="jwt" checked`) {
		t.Errorf("JWT for a client without client_credentials: status %d\n%s", p.status(), p.body)
	}
	p = b.post("/admin/clients", form)
	m := shownSecret.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("registering: no secret shown (status %d)\n%s", p.status(), p.body)
	}
	c := clientNamed(t, e, "Reports job")
	if c.AccessTokenFormat != storage.AccessTokenJWT {
		t.Errorf("stored access token format %q, want jwt", c.AccessTokenFormat)
	}
	page := b.get(e.issuer + "/admin/clients/" + c.ID)
	if !strings.Contains(page.body, `id="access_token_format_jwt" name="access_token_format" value="jwt" checked`) ||
		!strings.Contains(page.body, `action="/admin/clients/`+c.ID+`/revoke-tokens"`) || strings.Contains(page.body, "Last revoked") {
		t.Errorf("the client's page does not show JWT chosen and the revoke action:\n%s", page.body)
	}

	rp := &relyingParty{e: e, client: c, secret: m[1]}
	cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: m[1], TokenURL: e.issuer + "/oauth/token"}
	token := func() string {
		t.Helper()
		tok, err := cc.Token(oidc.ClientContext(ctx, e.srv.Client()))
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	active := func(tok string) bool { return rp.introspect(tok)["active"] == true }
	jwt := token()
	if strings.Count(jwt, ".") != 2 || !active(jwt) {
		t.Fatalf("the client's token %q: want an active JWT", jwt)
	}

	// Revoke issued tokens: a confirmation step first.
	p = b.post("/admin/clients/"+c.ID+"/revoke-tokens", url.Values{"csrf": {csrf}})
	if !strings.Contains(p.body, "Revoke the tokens issued to Reports job?") || !active(jwt) {
		t.Fatalf("revoke: want the confirmation step, the token still active; got status %d\n%s", p.status(), p.body)
	}
	if p = b.confirm(t, p); !strings.Contains(p.body, "Issued tokens revoked") || !strings.Contains(p.body, "Last revoked") {
		t.Errorf("after revoking: status %d\n%s", p.status(), p.body)
	}
	if active(jwt) {
		t.Error("a JWT access token is active after its client's tokens were revoked")
	}
	if got, _ := e.store.GetClient(ctx, c.ID); !got.TokensNotBefore.After(e.clock.Now()) {
		t.Errorf("TokensNotBefore = %v, want the second after %v", got.TokensNotBefore, e.clock.Now())
	}
	e.clock.Advance(time.Second)
	if jwt = token(); !active(jwt) {
		t.Error("a token issued after the revocation is inactive")
	}

	// An org admin may not revoke.
	o, _ := e.adminSignIn(t, "org")
	if p := o.post("/admin/clients/"+c.ID+"/revoke-tokens", url.Values{"csrf": {o.adminCSRF(t)}, "confirm": {"yes"}}); p.status() != http.StatusForbidden || !active(jwt) {
		t.Errorf("an org admin revoking: status %d, want 403 and the token still active", p.status())
	}

	// Back to opaque: opaque tokens, and the JWT ends.
	edit := url.Values{"csrf": {csrf}, "name": {"Reports job"}, "grants": {provider.GrantClientCredentials}, "min_acr": {"pwd"},
		"exceptions": {"yes"}, "access_token_format": {"opaque"}}
	if p = b.post("/admin/clients/"+c.ID, edit); !strings.Contains(p.body, "Client saved.") || !strings.Contains(p.body, `value="opaque" checked`) {
		t.Errorf("saving opaque: status %d\n%s", p.status(), p.body)
	}
	if active(jwt) {
		t.Error("a JWT access token is active after its client went back to opaque")
	}
	if opaque := token(); strings.Count(opaque, ".") != 4 || !active(opaque) {
		t.Errorf("after going back to opaque, the token %q: want an active opaque one", opaque)
	}

	// Audited: the format's changes and the revocation.
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		switch ev.Action {
		case "client.created", "client.updated", "client.tokens_revoked":
			detail := ev.Details["access_token_format"] + ev.Details["not_before"]
			if ev.Action == "client.tokens_revoked" && detail != "" {
				detail = "a time"
			}
			got = append(got, ev.Action+" "+ev.Outcome+" by "+map[bool]string{true: "root", false: "org"}[ev.Actor == root.ID]+": "+detail)
		}
	}
	want := []string{
		"client.updated success by root: jwt -> opaque",
		"client.tokens_revoked denied by org: ",
		"client.tokens_revoked success by root: a time",
		"client.created success by root: jwt",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events, newest first (-want +got):\n%s", diff)
	}
}
