package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// fieldError reports whether err is an InputError for field saying msg.
func fieldError(err error, field, msg string) bool {
	var ie *factors.InputError
	return errors.As(err, &ie) && ie.Field == field && strings.Contains(ie.Msg, msg)
}

// TestCreateAndUpdateApp: a global admin registers a protected app, held
// to checkApp with every problem reported at once; it gets an id, a
// secret hash and nothing an OIDC client has. Another app may not take
// its host and path prefix, and only a global admin may make or change
// one, a refusal audited.
func TestCreateAndUpdateApp(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	global := f.actor["global"]
	bad := storage.Client{Name: " ", MinimumACR: "high", RedirectURIs: []string{"https://evil.example/cb"},
		Forward: &storage.ForwardAuth{Host: "https://wiki.example.org", PathPrefix: "wiki", OrgUnitIDs: []string{"gone"}}}
	if _, err := f.svc.CreateApp(ctx, global, bad); !cmp.Equal(fields(err), []string{"name", "host", "path_prefix", "min_acr", "org_units"}) {
		t.Errorf("a bad app: %v", err)
	}
	in := storage.Client{Name: " Wiki ", MinimumACR: "mfa", ExceptionsAllowed: true, GrantTypes: []string{"client_credentials"}, RedirectURIs: []string{"https://evil.example/cb"},
		Forward: &storage.ForwardAuth{Host: "Wiki.Example.org", PathPrefix: "/wiki/", OrgUnitIDs: []string{"ward", "wales", "ward"}, AppPasswords: true}}
	app, err := f.svc.CreateApp(ctx, global, in)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := f.store.GetClient(ctx, app.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Client{ID: app.ID, Name: "Wiki", MinimumACR: "mfa", ExceptionsAllowed: true, SecretHash: stored.SecretHash, CreatedAt: f.now,
		Forward: &storage.ForwardAuth{Host: "wiki.example.org", PathPrefix: "/wiki/", OrgUnitIDs: []string{"wales", "ward"}, AppPasswords: true}}
	if diff := cmp.Diff(want, stored); diff != "" || len(stored.SecretHash) != 32 {
		t.Errorf("stored app (-want +got):\n%s", diff)
	}

	// Another app on the same host and prefix is refused; on another
	// prefix it is not.
	other := storage.Client{Name: "Files", MinimumACR: "pwd", Forward: &storage.ForwardAuth{Host: "wiki.example.org", PathPrefix: "/wiki/"}}
	if _, err := f.svc.CreateApp(ctx, global, other); !fieldError(err, "host", "Wiki is already registered for wiki.example.org/wiki/") {
		t.Errorf("a second app for wiki.example.org/wiki/: %v", err)
	}
	other.Forward.PathPrefix = "/files/"
	files, err := f.svc.CreateApp(ctx, global, other)
	if err != nil {
		t.Fatal(err)
	}
	move := other
	move.Forward = &storage.ForwardAuth{Host: "wiki.example.org", PathPrefix: "/wiki/"}
	if _, err := f.svc.UpdateApp(ctx, global, files.ID, move); !fieldError(err, "host", "Wiki is already registered") {
		t.Errorf("moving Files onto Wiki's prefix: %v", err)
	}
	// An app keeps its own host and prefix when saved.
	in.Name, in.Forward.OrgUnitIDs = "Wiki 2", nil
	if saved, err := f.svc.UpdateApp(ctx, global, app.ID, in); err != nil || saved.Name != "Wiki 2" || len(saved.Forward.OrgUnitIDs) != 0 ||
		string(saved.SecretHash) != string(stored.SecretHash) || !saved.CreatedAt.Equal(f.now) {
		t.Errorf("saving Wiki: %+v, %v", saved, err)
	}

	// Only a global admin, and never on an OIDC client.
	if err := f.store.CreateClient(ctx, storage.Client{ID: "payroll", Name: "Payroll"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.UpdateApp(ctx, global, "payroll", in); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateApp on an OIDC client: %v, want not found", err)
	}
	if _, err := f.svc.CreateApp(ctx, f.actor["wales-admin"], other); !errors.Is(err, ErrForbidden) {
		t.Errorf("an org admin creating an app: %v, want forbidden", err)
	}
	if _, err := f.svc.UpdateApp(ctx, f.actor["wales-admin"], app.ID, in); !errors.Is(err, ErrForbidden) {
		t.Errorf("an org admin changing an app: %v, want forbidden", err)
	}
	if diff := cmp.Diff([]string{"wales-admin protected_app.updated"}, f.denied(t, app.ID)); diff != "" {
		t.Errorf("denied audit events (-want +got):\n%s", diff)
	}
	events, err := f.store.ListAudit(ctx, storage.AuditQuery{Subject: app.ID, Outcome: storage.OutcomeSuccess})
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]string
	for _, e := range events {
		got = append(got, e.Details)
	}
	wantDetails := []map[string]string{
		{"name": "Wiki -> Wiki 2", "org_units": "wales,ward -> "},
		{"name": "Wiki", "host": "wiki.example.org", "path_prefix": "/wiki/", "min_acr": "mfa", "org_units": "wales,ward", "exceptions_allowed": "true", "app_passwords": "true"},
	}
	if diff := cmp.Diff(wantDetails, got); diff != "" {
		t.Errorf("audit details, newest first (-want +got):\n%s", diff)
	}
}

// TestCheckHostAndPathPrefix: a protected app's host is a host name with
// an optional port, in lower case, and nothing else; its path prefix is
// empty or a path.
func TestCheckHostAndPathPrefix(t *testing.T) {
	for _, tc := range []struct {
		check          func(string) (string, string)
		in, want, fail string
	}{
		{checkHost, "wiki.example.org", "wiki.example.org", ""},
		{checkHost, " Wiki.Example.ORG ", "wiki.example.org", ""},
		{checkHost, "files.example.org:8443", "files.example.org:8443", ""},
		{checkHost, "localhost:8080", "localhost:8080", ""},
		{checkHost, "10.0.0.7", "10.0.0.7", ""},
		{checkHost, "", "", "Enter the host"},
		{checkHost, "https://wiki.example.org", "", "without http:// or https://"},
		{checkHost, "wiki.example.org/wiki", "", "without a path"},
		{checkHost, "wiki.example.org?x", "", "without a path"},
		{checkHost, "user@wiki.example.org", "", "without a user name"},
		{checkHost, "*.example.org", "", "Wildcards are not allowed"},
		{checkHost, "wiki example.org", "", "no spaces"},
		{checkHost, "wiki.example.org.", "", "Enter a host name"},
		{checkHost, "-wiki.example.org", "", "Enter a host name"},
		{checkHost, "wiki_1.example.org", "", "Enter a host name"},
		{checkHost, "[::1]:8080", "", "Enter a host name"},
		{checkHost, "wiki.example.org:", "", "Enter a host name"},
		{checkHost, "wiki.example.org:443", "", "Leave out :443"},
		{checkHost, "wiki.example.org:80", "", "Leave out :80"},
		{checkHost, "wiki.example.org:0", "", "from 1 to 65535"},
		{checkHost, "wiki.example.org:99999", "", "from 1 to 65535"},
		{checkPathPrefix, "", "", ""},
		{checkPathPrefix, "/", "", ""},
		{checkPathPrefix, " /wiki/ ", "/wiki/", ""},
		{checkPathPrefix, "/wiki", "/wiki", ""},
		{checkPathPrefix, "wiki/", "", "Start the path prefix with /"},
		{checkPathPrefix, "/wiki?x=1", "", "without ? or #"},
		{checkPathPrefix, "/wiki/*", "", "Wildcards are not allowed"},
		{checkPathPrefix, "/my wiki", "", "no spaces"},
	} {
		got, problem := tc.check(tc.in)
		switch {
		case tc.fail == "" && (problem != "" || got != tc.want):
			t.Errorf("%q: got %q, %q; want %q", tc.in, got, problem, tc.want)
		case !strings.Contains(problem, tc.fail):
			t.Errorf("%q: problem %q, want one saying %q", tc.in, problem, tc.fail)
		}
	}
}
