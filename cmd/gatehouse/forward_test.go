package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/factors/apppassword"
	"github.com/gatehouse-id/gatehouse/storage"
)

// nginxConf is the nginx configuration the README gives, as tested: the
// issuer's host proxied to Gatehouse, and each protected app behind
// auth_request. {{...}} are filled in by the test, and by readmeNginx for
// the README.
const nginxConf = `# Gatehouse itself.
server {
    listen {{listen}};
    server_name {{id_host}};
    location / {
        proxy_pass http://{{gatehouse}};
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
}

# A protected app: every request is asked of Gatehouse first.
server {
    listen {{listen}};
    server_name {{app_hosts}};

    location / {
        auth_request /.gatehouse/auth;
        # Who signed in, for the app.
        auth_request_set $gatehouse_user $upstream_http_remote_user;
        auth_request_set $gatehouse_email $upstream_http_remote_email;
        auth_request_set $gatehouse_name $upstream_http_remote_name;
        auth_request_set $gatehouse_groups $upstream_http_remote_groups;
        proxy_set_header Remote-User $gatehouse_user;
        proxy_set_header Remote-Email $gatehouse_email;
        proxy_set_header Remote-Name $gatehouse_name;
        proxy_set_header Remote-Groups $gatehouse_groups;
        # Not signed in: a browser is sent to sign in, a legacy client
        # is asked for an app password.
        auth_request_set $signin_url $upstream_http_location;
        error_page 401 = @signin;
        proxy_pass http://{{app}};
        proxy_set_header Host $http_host;
    }

    location = /.gatehouse/auth {
        internal;
        proxy_pass http://{{gatehouse}}/forward-auth;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    # Where Gatehouse hands a signed-in browser to the app's host.
    location = /.gatehouse/callback {
        proxy_pass http://{{gatehouse}};
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }

    location @signin {
        if ($signin_url = "") {
            return 401;
        }
        return 302 $signin_url;
    }
}
`

// readmeNginx fills nginxConf in as the README shows it.
var readmeNginx = strings.NewReplacer("{{listen}}", "80", "{{id_host}}", "id.example.org", "{{gatehouse}}", "127.0.0.1:8080",
	"{{app}}", "127.0.0.1:3000", "{{app_hosts}}", "wiki.example.org")

// TestREADMENginxConfig: the README's nginx configuration is the one
// TestForwardAuthNginx runs.
func TestREADMENginxConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := "```nginx\n" + readmeNginx.Replace(nginxConf) + "```\n"; !strings.Contains(string(readme), want) {
		t.Errorf("README.md lacks the tested nginx configuration:\n%s", want)
	}
}

// startNginx runs nginx, as an unprivileged process with its own prefix,
// serving conf on listen; it fails the test when nginx is missing on CI,
// and skips it elsewhere.
func startNginx(t *testing.T, conf string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("nginx is not installed (.ci/run installs Debian's nginx-light)")
		}
		t.Skip("nginx is not installed")
	}
	dir, err := os.MkdirTemp("", "gatehouse-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Readable and writable by the unprivileged user nginx runs as.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	main := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 128; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, conf)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	if os.Geteuid() == 0 {
		// CI runs as root: nginx runs as nobody all the same.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		cmd.Wait()
		if t.Failed() {
			for _, f := range []string{"stderr", "error.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("nginx %s:\n%s", f, b)
			}
		}
	})
}

// forwardSite is Gatehouse at id.localhost and protected apps at other
// *.localhost names, all behind one nginx on loopback; browsers reach every
// name through it, each with cookies of its own, as real hosts would.
type forwardSite struct {
	*env
	addr string // nginx's host:port
	port string
}

// newForwardSite starts a tiny app that echoes who nginx says signed in,
// Gatehouse trusting the loopback proxy, and nginx in front of both for
// appHosts.
func newForwardSite(t *testing.T, appHosts ...string) *forwardSite {
	t.Helper()
	// nginx listens on an address of its own, so that no server another
	// test starts meanwhile can take the port it is given.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nginx takes it
	_, port, _ := net.SplitHostPort(addr)
	e := newSeededEnv(t, nil, func(c *Config) {
		c.Issuer = "http://id.localhost:" + port
		c.TrustedProxies = []string{"127.0.0.1/32"}
	})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "app: %s %s user=%q email=%q name=%q groups=%q\n", r.Host, r.URL.RequestURI(),
			r.Header.Get("Remote-User"), r.Header.Get("Remote-Email"), r.Header.Get("Remote-Name"), r.Header.Get("Remote-Groups"))
	}))
	t.Cleanup(app.Close)
	conf := strings.NewReplacer("{{listen}}", addr, "{{id_host}}", "id.localhost", "{{gatehouse}}", e.srv.Listener.Addr().String(),
		"{{app}}", strings.TrimPrefix(app.URL, "http://"), "{{app_hosts}}", strings.Join(appHosts, " ")).Replace(nginxConf)
	startNginx(t, conf)
	s := &forwardSite{env: e, addr: addr, port: port}
	// Wait for nginx to answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := s.browser().client.Get(s.url("id.localhost", "/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "" || !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
				t.Fatalf("%s is answered by %q, not nginx", addr, resp.Header.Get("Server"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx is not listening on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// url is the address of path on host, through nginx.
func (s *forwardSite) url(host, path string) string { return "http://" + host + ":" + s.port + path }

// addApp registers a protected app at host.
func (s *forwardSite) addApp(name, host string, f func(*storage.Client)) storage.Client {
	s.t.Helper()
	c := storage.Client{ID: storage.NewID(), Name: name, MinimumACR: "pwd", CreatedAt: s.clock.Now(),
		Forward: &storage.ForwardAuth{Host: host + ":" + s.port}}
	if f != nil {
		f(&c)
	}
	if err := s.store.CreateClient(context.Background(), c); err != nil {
		s.t.Fatal(err)
	}
	return c
}

// acceptHTML marks every request a browser's, as a real browser's Accept
// header does.
type acceptHTML struct{ http.RoundTripper }

func (a acceptHTML) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Accept") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Accept", "text/html,application/xhtml+xml")
	}
	return a.RoundTripper.RoundTrip(r)
}

// browser is a browser that reaches every host through nginx.
func (s *forwardSite) browser() *browser {
	jar, _ := cookiejar.New(nil)
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.addr)
	}
	return &browser{e: s.env, client: &http.Client{Jar: jar, Transport: acceptHTML{&http.Transport{DialContext: dial}}}}
}

// legacy is a client with no cookies and no browser: a mail program.
func (s *forwardSite) legacy(host, path, username, password string) *http.Response {
	s.t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, s.addr)
	}}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, s.url(host, path), nil)
	if username != "" {
		req.SetBasicAuth(username, password)
	}
	resp, err := client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

var appPasswordShown = regexp.MustCompile(`<code id="app_password">([^<]+)</code>`)

var appEcho = regexp.MustCompile(`app: (\S+) (\S+) user="([^"]*)" email="([^"]*)" name="([^"]*)" groups="([^"]*)"`)

// TestForwardAuthNginx: behind a real nginx with auth_request, on host
// names of their own, a browser with no session is sent to sign in and
// comes back to the URL it asked for, with the user in the app's headers;
// an app whose minimum is mfa asks for the second factor (step-up); an
// app password works over Basic, a wrong or revoked one does not, a role
// holder can have none; a user of a unit the app does not admit gets 403;
// signing out ends the app's cookie too.
func TestForwardAuthNginx(t *testing.T) {
	ctx := context.Background()
	s := newForwardSite(t, "wiki.localhost", "secure.localhost", "payroll.localhost", "elsewhere.localhost")
	root, _ := findOrgUnit(ctx, s.store, "")
	on := true
	if _, err := s.store.UpdateOrgUnit(ctx, root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) { ou.AppPasswords = &on; return ou, nil }); err != nil {
		t.Fatal(err)
	}
	s.addOrgUnits(storage.OrgUnit{ID: "finance", Name: "Finance"}, storage.OrgUnit{ID: "wards", Name: "Wards"})
	s.addApp("Wiki", "wiki.localhost", func(c *storage.Client) { c.Forward.AppPasswords = true })
	s.addApp("Records", "secure.localhost", func(c *storage.Client) { c.MinimumACR = "mfa"; c.ExceptionsAllowed = false })
	s.addApp("Payroll", "payroll.localhost", func(c *storage.Client) { c.Forward.OrgUnitIDs = []string{"finance"} })
	alice := s.placeUser(s.addUser("alice", alicePassword), "wards")
	key := s.addAuthenticatorApp(alice)

	// No session: to sign in, and back at the URL asked for.
	b := s.browser()
	target := s.url("wiki.localhost", "/page/1?a=1&b=two%20words")
	p := b.get(target)
	if !strings.Contains(p.body, `name="password"`) || p.resp.Request.URL.Host != "id.localhost:"+s.port {
		t.Fatalf("an app page with no session: want the sign-in page at id.localhost, got status %d at %s\n%s", p.status(), p.resp.Request.URL, p.body)
	}
	p = b.passChallenge(b.submitPassword(p, "alice", alicePassword), s.totpCode(key))
	m := appEcho.FindStringSubmatch(p.body)
	if m == nil || p.resp.Request.URL.String() != target {
		t.Fatalf("after signing in: want the app at %s, got status %d at %s\n%s", target, p.status(), p.resp.Request.URL, p.body)
	}
	if got := m[2:]; got[0] != "/page/1?a=1&b=two%20words" || got[1] != "alice" || got[2] != "alice@example.org" || got[3] != "User alice" || got[4] != "/Organisation/Wards" {
		t.Errorf("the app saw %q", got)
	}
	for _, c := range b.client.Jar.Cookies(&url.URL{Scheme: "http", Host: "wiki.localhost:" + s.port}) {
		if c.Name == "gatehouse-session" {
			t.Error("the Gatehouse session cookie reached the app's host")
		}
	}
	if p = b.get(s.url("wiki.localhost", "/other")); !strings.Contains(p.body, `app: wiki.localhost:`+s.port+` /other user="alice"`) {
		t.Errorf("a second page: status %d\n%s", p.status(), p.body)
	}

	// Step-up: carol, with MFA off, signs in to the wiki with her password
	// alone; the records app, whose minimum is mfa, asks for her second
	// factor before it lets her in.
	carol := s.placeUser(s.addUser("carol", alicePassword), "wards")
	carolKey := s.addAuthenticatorApp(carol)
	if _, err := s.store.UpdateUser(ctx, carol.ID, func(u storage.User) (storage.User, error) { u.MFAEnabled = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	bc := s.browser()
	p = bc.submitPassword(bc.get(s.url("wiki.localhost", "/")), "carol", alicePassword)
	if !strings.Contains(p.body, `user="carol"`) {
		t.Fatalf("carol at the wiki with a password: status %d\n%s", p.status(), p.body)
	}
	p = bc.get(s.url("secure.localhost", "/chart"))
	if !strings.Contains(p.body, "Verify it's you") {
		t.Fatalf("carol at the records app: want the step-up challenge, got status %d at %s\n%s", p.status(), p.resp.Request.URL, p.body)
	}
	s.clock.Advance(30 * time.Second) // the next code
	if p = bc.passChallenge(p, s.totpCode(carolKey)); !strings.Contains(p.body, `/chart user="carol"`) {
		t.Errorf("after the step-up: status %d at %s\n%s", p.status(), p.resp.Request.URL, p.body)
	}

	// Alice creates an app password on Security info: it works over Basic
	// at the app that takes them, and nowhere else; a wrong one does not,
	// and once revoked, neither does hers.
	p = b.get(s.issuer + "/security/app-passwords/new")
	f := p.form()
	f.Set("name", "Mail on my phone")
	p = b.post("/security/app-passwords", f)
	pw := appPasswordShown.FindStringSubmatch(p.body)
	if pw == nil {
		t.Fatalf("creating an app password: status %d\n%s", p.status(), p.body)
	}
	if r := s.legacy("wiki.localhost", "/dav", "alice", pw[1]); r.StatusCode != http.StatusOK {
		t.Errorf("alice's app password: status %d, want 200", r.StatusCode)
	}
	// Wrong in its last character, whatever that is (one in 32 ends in x).
	wrong := pw[1][:len(pw[1])-1] + "x"
	if strings.EqualFold(wrong, pw[1]) {
		wrong = pw[1][:len(pw[1])-1] + "y"
	}
	for name, c := range map[string][2]string{"wrong": {"alice", wrong}, "none": {"", ""}, "another user": {"carol", pw[1]}} {
		r := s.legacy("wiki.localhost", "/dav", c[0], c[1])
		if r.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), `Basic realm="Wiki"`) || len(r.Header.Values("WWW-Authenticate")) != 1 {
			t.Errorf("%s: status %d, WWW-Authenticate %q; want 401 with one Basic challenge", name, r.StatusCode, r.Header.Values("WWW-Authenticate"))
		}
	}
	if r := s.legacy("secure.localhost", "/dav", "alice", pw[1]); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("an app password where the app takes none: status %d, want 401", r.StatusCode)
	}
	if p := b.get(s.issuer + "/security"); !strings.Contains(p.body, "Mail on my phone") || strings.Contains(p.body, pw[1]) {
		t.Errorf("Security info lists the app password without showing it again: %v", strings.Contains(p.body, pw[1]))
	}
	list, _ := s.store.ListUserAppPasswords(ctx, alice.ID)
	if len(list) != 1 || list[0].LastUsedIP != "127.0.0.1" {
		t.Errorf("alice's app passwords after a use: %+v", list)
	}
	b.securityPost("/security/app-passwords/revoke", url.Values{"app_password": {list[0].ID}})
	if r := s.legacy("wiki.localhost", "/dav", "alice", pw[1]); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked app password: status %d, want 401", r.StatusCode)
	}

	// A role holder can make none, and one made for them anyway is refused.
	dave := s.withRole(s.placeUser(s.addUser("dave", alicePassword), "wards"), storage.RoleHelpdesk)
	daveKey, bd := s.addAuthenticatorApp(dave), s.browser()
	bd.passChallenge(bd.submitPassword(bd.get(s.url("wiki.localhost", "/")), "dave", alicePassword), s.totpCode(daveKey))
	if p := bd.get(s.issuer + "/security/app-passwords/new"); p.status() != http.StatusForbidden {
		t.Errorf("a helpdesk member creating an app password: status %d, want 403", p.status())
	}
	davePW, dp, _ := apppassword.New(dave.ID, "Planted for dave", s.clock.Now())
	if err := s.store.CreateAppPassword(ctx, dp); err != nil {
		t.Fatal(err)
	}
	if r := s.legacy("wiki.localhost", "/dav", "dave", davePW); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("a role holder's app password: status %d, want 401", r.StatusCode)
	}

	// Not this unit's app.
	if p = b.get(s.url("payroll.localhost", "/")); p.status() != http.StatusForbidden {
		t.Errorf("payroll for a user in Wards: status %d, want 403\n%s", p.status(), p.body)
	}
	// No app registered for the host.
	if p = b.get(s.url("elsewhere.localhost", "/")); p.status() != http.StatusForbidden {
		t.Errorf("a host no app is registered for: status %d, want 403", p.status())
	}

	// Signing out at Gatehouse ends the app's cookie too.
	b.signOut(t, "signing out", b.get(s.issuer+"/security"))
	if p = b.get(s.url("wiki.localhost", "/after")); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("the app after signing out: want the sign-in page, got status %d\n%s", p.status(), p.body)
	}
}

// newForwardEnv is Gatehouse trusting the loopback proxy, with a wiki at
// wiki.localhost that takes app passwords, and alice, with an app password
// for it.
func newForwardEnv(tb testing.TB) (e *env, alice storage.User, appPassword string) {
	tb.Helper()
	ctx := context.Background()
	e = newSeededEnv(tb, nil, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	root, _ := findOrgUnit(ctx, e.store, "")
	on := true
	if _, err := e.store.UpdateOrgUnit(ctx, root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) { ou.AppPasswords = &on; return ou, nil }); err != nil {
		tb.Fatal(err)
	}
	if err := e.store.CreateClient(ctx, storage.Client{ID: "wiki", Name: "Wiki", MinimumACR: "pwd", CreatedAt: e.clock.Now(),
		Forward: &storage.ForwardAuth{Host: "wiki.localhost", AppPasswords: true}}); err != nil {
		tb.Fatal(err)
	}
	alice = e.addUser("alice", alicePassword)
	appPassword, ap, _ := apppassword.New(alice.ID, "Mail on my phone", e.clock.Now())
	if err := e.store.CreateAppPassword(ctx, ap); err != nil {
		tb.Fatal(err)
	}
	return e, alice, appPassword
}

// TestForwardAuthBadInput: forward-auth answers only a trusted proxy, and
// what it cannot use (no original URL, a malformed or huge one, a host no
// app is registered for, a malformed Basic header) gets a clear 400, 401
// or 403, never a 500; the sign-in start and the callback refuse what was
// not made for them, so neither is an open redirect; and no password sent
// is logged or audited.
func TestForwardAuthBadInput(t *testing.T) {
	ctx := context.Background()
	untrusted := newEnv(t)
	if p := untrusted.send(untrusted.request("GET", "/forward-auth", "", "", "X-Original-URL", "http://wiki.localhost/")); p.status() != http.StatusForbidden {
		t.Errorf("forward-auth from a peer that is not a trusted proxy: status %d, want 403", p.status())
	}

	e, alice, secret := newForwardEnv(t)
	const wrong = "wrong-password-that-must-not-be-logged"
	basic := func(user, pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw)) }
	for _, c := range []struct {
		name   string
		header []string
		want   int
	}{
		{"no original URL", nil, http.StatusBadRequest},
		{"a relative original URL", []string{"X-Original-URL", "/page"}, http.StatusBadRequest},
		{"another scheme", []string{"X-Original-URL", "ftp://wiki.localhost/"}, http.StatusBadRequest},
		{"a huge original URL", []string{"X-Original-URL", "http://wiki.localhost/" + strings.Repeat("a", 20<<10)}, http.StatusBadRequest},
		{"X-Forwarded-* without a host", []string{"X-Forwarded-Proto", "https", "X-Forwarded-Uri", "/"}, http.StatusBadRequest},
		{"a host no app is registered for", []string{"X-Original-URL", "http://evil.example/"}, http.StatusForbidden},
		// A path that could name one app to Gatehouse and another to the
		// proxy or the app behind it, once resolved.
		{"dot segments", []string{"X-Original-URL", "http://wiki.localhost/open/../admin/"}, http.StatusBadRequest},
		{"encoded dot segments", []string{"X-Original-URL", "http://wiki.localhost/open/%2e%2e/admin/"}, http.StatusBadRequest},
		{"an empty segment", []string{"X-Original-URL", "http://wiki.localhost/open//admin/"}, http.StatusBadRequest},
		{"Basic that is not base64", []string{"X-Original-URL", "http://wiki.localhost/", "Authorization", "Basic !!!"}, http.StatusBadRequest},
		{"Basic without a colon", []string{"X-Original-URL", "http://wiki.localhost/", "Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice"))}, http.StatusBadRequest},
		{"a huge Basic password", []string{"X-Original-URL", "http://wiki.localhost/", "Authorization", basic("alice", strings.Repeat("p", 10<<10))}, http.StatusBadRequest},
		{"a wrong app password", []string{"X-Original-URL", "http://wiki.localhost/", "Authorization", basic("alice", wrong)}, http.StatusUnauthorized},
		{"an account password in place of an app password", []string{"X-Original-URL", "http://wiki.localhost/", "Authorization", basic("alice", alicePassword)}, http.StatusUnauthorized},
		{"X-Forwarded-*", []string{"X-Forwarded-Proto", "http", "X-Forwarded-Host", "wiki.localhost", "X-Forwarded-Uri", "/x", "Authorization", basic("alice", secret)}, http.StatusOK},
	} {
		if p := e.send(e.request("GET", "/forward-auth", "", "", c.header...)); p.status() != c.want {
			t.Errorf("%s: status %d, want %d\n%s", c.name, p.status(), c.want, p.body)
		}
	}
	// Guessing at alice's app passwords soon stops being answered, with
	// when to try again; then not even the right one is checked.
	guess := func(pw string) page {
		return e.send(e.request("GET", "/forward-auth", "", "", "X-Original-URL", "http://wiki.localhost/", "Authorization", basic("alice", pw)))
	}
	refused := 0
	for range 10 {
		if p := guess(wrong); p.status() == http.StatusTooManyRequests && p.resp.Header.Get("Retry-After") != "" {
			refused++
		}
	}
	if refused == 0 {
		t.Error("ten wrong app passwords in a row: none refused with 429")
	}
	if p := guess(secret); p.status() != http.StatusTooManyRequests {
		t.Errorf("the right app password while locked: status %d, want 429", p.status())
	}
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		for _, v := range ev.Details {
			if strings.Contains(v, wrong) || strings.Contains(v, alicePassword) || strings.Contains(v, secret) {
				t.Errorf("audit event %s holds a password: %v", ev.Action, ev.Details)
			}
		}
	}

	for _, rd := range []string{"http://evil.example/", "javascript:alert(1)", "//evil.example/", "http://wiki.localhost@evil.example/", ""} {
		p := e.send(e.request("GET", "/forward-auth/start?rd="+url.QueryEscape(rd), "", ""))
		if p.status() != http.StatusBadRequest || p.resp.Header.Get("Location") != "" {
			t.Errorf("start for %q: status %d, Location %q; want 400 and no redirect", rd, p.status(), p.resp.Header.Get("Location"))
		}
	}
	// A handoff code works once, and only on the host it was made for.
	b := e.newBrowser()
	b.submitPassword(b.get(e.issuer+"/security"), "alice", alicePassword)
	loc := e.handoff(b, "http://wiki.localhost/x")
	if p := e.callback(loc, "wiki.localhost"); p.status() != http.StatusSeeOther || p.resp.Header.Get("Location") != "http://wiki.localhost/x" ||
		!strings.HasPrefix(p.resp.Header.Get("Set-Cookie"), "gatehouse-app-wiki=") {
		t.Errorf("the callback: status %d, Location %q, Set-Cookie %q", p.status(), p.resp.Header.Get("Location"), p.resp.Header.Get("Set-Cookie"))
	}
	if p := e.callback(loc, "wiki.localhost"); p.status() != http.StatusBadRequest {
		t.Errorf("the same code again: status %d, want 400", p.status())
	}
	if p := e.callback(e.handoff(b, "http://wiki.localhost/x"), "evil.localhost"); p.status() != http.StatusBadRequest || p.resp.Header.Get("Set-Cookie") != "" {
		t.Errorf("a code on another host: status %d, Set-Cookie %q; want 400 and none", p.status(), p.resp.Header.Get("Set-Cookie"))
	}
	for _, code := range []string{"", "bogus", strings.Repeat("x", 5000)} {
		if p := e.send(e.request("GET", "/.gatehouse/callback?code="+url.QueryEscape(code), "", "")); p.status() != http.StatusBadRequest {
			t.Errorf("callback with code %.20q: status %d, want 400", code, p.status())
		}
	}
}

// handoff is where the sign-in start sends b, signed in, to go on to rd:
// the callback on rd's host with a handoff code.
func (e *env) handoff(b *browser, rd string) *url.URL {
	e.t.Helper()
	p := b.stepper().get(e.issuer + "/forward-auth/start?rd=" + url.QueryEscape(rd))
	loc := p.location()
	if p.status() != http.StatusSeeOther || loc.Path != "/.gatehouse/callback" {
		e.t.Fatalf("start with a session: status %d, Location %q", p.status(), p.resp.Header.Get("Location"))
	}
	return loc
}

// callback is the handoff callback at loc, asked for of host, as the
// proxy in front of host passes it on.
func (e *env) callback(loc *url.URL, host string) page {
	e.t.Helper()
	req := e.request("GET", loc.RequestURI(), "", "")
	req.Host = host
	return e.send(req)
}

// BenchmarkForwardAuthSession is the proxy asking about a browser's
// request to a protected app: the app cookie unsealed, the session and
// the user read, and the org unit path for Remote-Groups. Reads only.
func BenchmarkForwardAuthSession(b *testing.B) {
	e, _, _ := newForwardEnv(b)
	br := e.newBrowser()
	br.submitPassword(br.get(e.issuer+"/security"), "alice", alicePassword)
	cookie := e.callback(e.handoff(br, "http://wiki.localhost/"), "wiki.localhost").resp.Header.Get("Set-Cookie")
	cookie, _, _ = strings.Cut(cookie, ";")
	benchForward(b, e, "Cookie", cookie)
}

// BenchmarkForwardAuthAppPassword is the proxy asking about a legacy
// client's request with an app password over Basic: the user and their
// app passwords read and one SHA-256, no password hash; its last use is
// written at most every five minutes.
func BenchmarkForwardAuthAppPassword(b *testing.B) {
	e, _, secret := newForwardEnv(b)
	benchForward(b, e, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:"+secret)))
}

func benchForward(b *testing.B, e *env, header, value string) {
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(client.CloseIdleConnections)
	req, _ := http.NewRequest("GET", e.issuer+"/forward-auth", nil)
	req.Header.Set("X-Original-URL", "http://wiki.localhost/page")
	req.Header.Set(header, value)
	for b.Loop() {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Remote-User") != "alice" {
			b.Fatalf("forward-auth: status %d, Remote-User %q", resp.StatusCode, resp.Header.Get("Remote-User"))
		}
	}
	reportRate(b, "req")
}

// TestAppPasswordsRevoked: an MFA reset, a password reset, disabling the
// user, a role granted to them, a move to a unit that forbids app
// passwords, and their unit ceasing to allow them each take the user's
// app passwords away; a move to a unit that allows them keeps them.
func TestAppPasswordsRevoked(t *testing.T) {
	ctx := context.Background()
	e, alice, _ := newForwardEnv(t)
	off := false
	e.addOrgUnits(storage.OrgUnit{ID: "closed", Name: "Closed", AppPasswords: &off}, storage.OrgUnit{ID: "open", Name: "Open"})
	chief := admin.Actor{User: e.withRole(e.addUser("chief", alicePassword), storage.RoleGlobalAdmin)}
	give := func() {
		t.Helper()
		_, p, _ := apppassword.New(alice.ID, "Mail on my phone", e.clock.Now())
		if err := e.store.CreateAppPassword(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	left := func() int {
		t.Helper()
		list, err := e.store.ListUserAppPasswords(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	svc := e.adminService()
	for _, c := range []struct {
		name string
		do   func() error
		keep bool
	}{
		{"a move to a unit that allows them", func() error { _, err := svc.MoveUser(ctx, chief, alice.ID, "open"); return err }, true},
		{"an MFA reset", func() error { return svc.ResetMFA(ctx, chief, alice.ID) }, false},
		{"a password reset", func() error { _, _, err := svc.ResetPassword(ctx, chief, alice.ID); return err }, false},
		{"disabling", func() error {
			if err := svc.SetDisabled(ctx, chief, alice.ID, true); err != nil {
				return err
			}
			return svc.SetDisabled(ctx, chief, alice.ID, false)
		}, false},
		{"a move to a unit that forbids them", func() error { _, err := svc.MoveUser(ctx, chief, alice.ID, "closed"); return err }, false},
		{"their unit forbidding them", func() error {
			if _, err := svc.MoveUser(ctx, chief, alice.ID, "open"); err != nil {
				return err
			}
			give()
			b, _ := e.adminSignIn(t, "chief")
			p := b.post("/admin/org-units/open", url.Values{"csrf": {b.adminCSRF(t)}, "name": {"Open"}, "mfa": {"inherit"}, "app_passwords": {"off"}})
			if !strings.Contains(p.body, "Settings saved.") {
				t.Fatalf("forbidding app passwords in Open: status %d\n%s", p.status(), p.body)
			}
			return nil
		}, false},
		{"a role", func() error {
			return svc.GrantRole(ctx, chief, alice.ID, storage.RoleBinding{Role: storage.RoleHelpdesk, OrgUnitID: "open"})
		}, false},
	} {
		if left() == 0 {
			give()
		}
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := left(); (n > 0) != c.keep {
			t.Errorf("after %s alice has %d app passwords; keep them: %v", c.name, n, c.keep)
		}
	}
}

// TestForwardAuthExceptions: an exception in force stands in for the
// second factor of an app that asks for mfa and honours exceptions, and
// never for one that asks for phr, as in the sign-in journey.
func TestForwardAuthExceptions(t *testing.T) {
	ctx := context.Background()
	e, alice, _ := newForwardEnv(t)
	for id, acr := range map[string]string{"records": "mfa", "vault": "phr"} {
		if err := e.store.CreateClient(ctx, storage.Client{ID: id, Name: id, MinimumACR: acr, ExceptionsAllowed: true, CreatedAt: e.clock.Now(),
			Forward: &storage.ForwardAuth{Host: id + ".localhost"}}); err != nil {
			t.Fatal(err)
		}
	}
	now := e.clock.Now()
	if err := e.store.CreateException(ctx, storage.Exception{ID: "ex", UserID: alice.ID, Kind: storage.ExceptionShortTerm, Reason: "phone_lost",
		State: storage.ExceptionApproved, RequestedAt: now, DecidedAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b := e.newBrowser()
	b.submitPassword(b.get(e.issuer+"/security"), "alice", alicePassword)
	cookie, _, _ := strings.Cut(e.callback(e.handoff(b, "http://records.localhost/"), "records.localhost").resp.Header.Get("Set-Cookie"), ";")
	if p := e.send(e.request("GET", "/forward-auth", "", "", "X-Original-URL", "http://records.localhost/", "Cookie", cookie)); p.status() != http.StatusOK {
		t.Errorf("an mfa app honouring exceptions, with a password and an exception: status %d, want 200", p.status())
	}
	if p := b.stepper().get(e.issuer + "/forward-auth/start?rd=" + url.QueryEscape("http://vault.localhost/")); p.location().Path != "/login" {
		t.Errorf("a phr app: want the sign-in journey, got status %d, Location %q", p.status(), p.resp.Header.Get("Location"))
	}
}

// TestForwardAuthHoldsTheUsersPolicy: forward-auth asks of a session what
// the journey asks of a sign-in, not just the app's minimum. A session made
// by a correct password whose second factor (required by the user's unit)
// is still to come is not handed to an app whose minimum is pwd; the
// sign-in goes on instead. And an app cookie won while the unit asked for
// no second factor stops working when the unit comes to require one.
func TestForwardAuthHoldsTheUsersPolicy(t *testing.T) {
	e, _, _ := newForwardEnv(t)
	start := func(b *browser) page {
		return b.stepper().get(e.issuer + "/forward-auth/start?rd=" + url.QueryEscape("http://wiki.localhost/"))
	}

	b := e.newBrowser()
	b.submitPassword(b.get(e.issuer+"/security"), "alice", alicePassword)
	cookie, _, _ := strings.Cut(e.callback(e.handoff(b, "http://wiki.localhost/"), "wiki.localhost").resp.Header.Get("Set-Cookie"), ";")
	ask := func() int {
		return e.send(e.request("GET", "/forward-auth", "", "", "X-Original-URL", "http://wiki.localhost/", "Cookie", cookie)).status()
	}
	if got := ask(); got != http.StatusOK {
		t.Fatalf("a password, in a unit asking nothing more: status %d, want 200", got)
	}

	e.setRootMFA(storage.MFARequired)
	if got := ask(); got == http.StatusOK {
		t.Error("the app cookie still passes after the unit came to require a second factor")
	}
	late := e.newBrowser()
	if p := late.submitPassword(late.get(e.issuer+"/security"), "alice", alicePassword); p.status() >= 400 {
		t.Fatalf("password: status %d", p.status())
	}
	if p := start(late); p.location().Path == "/.gatehouse/callback" {
		t.Errorf("a password whose required second factor is still to come was handed to the app: %s", p.resp.Header.Get("Location"))
	}
}

// TestForwardAuthHTTPSIssuer: with an https issuer, a sign-in is never
// handed to an app over plain http, where the handoff code and the app
// cookie would cross the network in the clear: a start link naming
// http:// is refused, one naming https:// goes on to sign in.
func TestForwardAuthHTTPSIssuer(t *testing.T) {
	ctx := context.Background()
	e := newSeededEnv(t, nil, func(c *Config) {
		c.Issuer = strings.Replace(c.Issuer, "http://", "https://", 1) // behind a TLS proxy
		c.TrustedProxies = []string{"127.0.0.1/32"}
	})
	if err := e.store.CreateClient(ctx, storage.Client{ID: "wiki", Name: "Wiki", MinimumACR: "pwd", CreatedAt: e.clock.Now(),
		Forward: &storage.ForwardAuth{Host: "wiki.localhost"}}); err != nil {
		t.Fatal(err)
	}
	for rd, want := range map[string]int{"http://wiki.localhost/": http.StatusBadRequest, "https://wiki.localhost/": http.StatusSeeOther} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/forward-auth/start?rd="+url.QueryEscape(rd), nil)
		if p := e.send(req); p.status() != want {
			t.Errorf("start for %s: status %d, want %d", rd, p.status(), want)
		}
	}
}

// TestForwardAuthAppsSharingAHost: two apps on one host, told apart by
// path prefix, each keep their own app cookie, so a browser signed in to
// both goes between them without signing in again.
func TestForwardAuthAppsSharingAHost(t *testing.T) {
	e, _, _ := newForwardEnv(t)
	if err := e.store.CreateClient(context.Background(), storage.Client{ID: "wiki-admin", Name: "Wiki admin", MinimumACR: "pwd", CreatedAt: e.clock.Now(),
		Forward: &storage.ForwardAuth{Host: "wiki.localhost", PathPrefix: "/admin/"}}); err != nil {
		t.Fatal(err)
	}
	b := e.newBrowser()
	b.submitPassword(b.get(e.issuer+"/security"), "alice", alicePassword)
	var cookies []string
	for _, rd := range []string{"http://wiki.localhost/page", "http://wiki.localhost/admin/page"} {
		c, _, _ := strings.Cut(e.callback(e.handoff(b, rd), "wiki.localhost").resp.Header.Get("Set-Cookie"), ";")
		cookies = append(cookies, c)
	}
	for _, orig := range []string{"http://wiki.localhost/page", "http://wiki.localhost/admin/page"} {
		if p := e.send(e.request("GET", "/forward-auth", "", "", "X-Original-URL", orig, "Cookie", strings.Join(cookies, "; "))); p.status() != http.StatusOK {
			t.Errorf("%s with both apps' cookies: status %d, want 200", orig, p.status())
		}
	}
}
