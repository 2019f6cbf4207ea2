package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Protected apps are web apps behind a reverse proxy that asks Gatehouse's
// forward-auth endpoint (login/forward.go) whether to let each request
// through. One is a storage.Client with Forward set, no redirect URIs, no
// grants and the hash of a secret no one was shown, so the token endpoint
// can never authenticate as it. Only global admins manage them, on these
// pages or the command line, both through CreateApp and UpdateApp, which
// hold every app to one standard (checkApp). The client pages never show
// a protected app, nor these pages an OIDC client.

func (h *Handler) appRoutes(get, post func(string, func(*request))) {
	get("/admin/apps", h.showApps)
	get("/admin/apps/new", h.newApp)
	post("/admin/apps", h.createApp)
	get("/admin/apps/{id}", h.showApp)
	post("/admin/apps/{id}", h.saveApp)
	post("/admin/apps/{id}/delete", h.deleteApp)
}

var appNotices = map[string]string{
	"created": "Protected app registered.",
	"saved":   "Protected app saved.",
	"deleted": "Protected app deleted.",
}

// ListClients lists the OIDC clients or, with apps, the protected apps,
// by name.
func (s *Service) ListClients(ctx context.Context, apps bool) ([]storage.Client, error) {
	list, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	list = slices.DeleteFunc(list, func(c storage.Client) bool { return (c.Forward != nil) != apps })
	slices.SortFunc(list, func(a, b storage.Client) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// CreateApp registers protected app c for a, a global admin: its name,
// minimum acr, exceptions and Forward, checked by checkApp, with a new id
// and a secret hash no secret was shown for.
func (s *Service) CreateApp(ctx context.Context, a Actor, c storage.Client) (storage.Client, error) {
	if err := s.globalOnly(ctx, a, "", "protected_app.created"); err != nil {
		return c, err
	}
	c, err := s.checkApp(ctx, c)
	if err != nil {
		return c, err
	}
	app := storage.Client{ID: storage.RandomString(12), Name: c.Name, MinimumACR: c.MinimumACR, ExceptionsAllowed: c.ExceptionsAllowed,
		Forward: c.Forward, CreatedAt: s.now()}
	_, app.SecretHash = provider.NewSecret()
	if err := s.store.CreateClient(ctx, app); errors.Is(err, storage.ErrAlreadyExists) {
		return c, errAppTaken
	} else if err != nil {
		return c, fmt.Errorf("create protected app: %w", err)
	}
	s.audit(ctx, a, storage.User{ID: app.ID}, "protected_app.created", storage.OutcomeSuccess, appChanges(storage.Client{}, app))
	return app, nil
}

// UpdateApp gives protected app id the settings of next that CreateApp
// takes, checked as it checks them.
func (s *Service) UpdateApp(ctx context.Context, a Actor, id string, next storage.Client) (storage.Client, error) {
	if err := s.globalOnly(ctx, a, id, "protected_app.updated"); err != nil {
		return next, err
	}
	if c, err := s.store.GetClient(ctx, id); err != nil || c.Forward == nil {
		return next, fmt.Errorf("get protected app: %w", cmp.Or(err, storage.ErrNotFound))
	}
	next.ID = id
	next, err := s.checkApp(ctx, next)
	if err != nil {
		return next, err
	}
	var before storage.Client
	saved, err := s.store.UpdateClient(ctx, id, func(cur storage.Client) (storage.Client, error) {
		if cur.Forward == nil {
			return cur, storage.ErrNotFound // an OIDC client
		}
		before = cur
		cur.Name, cur.MinimumACR, cur.ExceptionsAllowed, cur.Forward = next.Name, next.MinimumACR, next.ExceptionsAllowed, next.Forward
		return cur, nil
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return next, errAppTaken
	}
	if err != nil {
		return next, fmt.Errorf("update protected app: %w", err)
	}
	s.audit(ctx, a, storage.User{ID: id}, "protected_app.updated", storage.OutcomeSuccess, appChanges(before, saved))
	return saved, nil
}

// errAppTaken refuses a host and path prefix another app took meanwhile
// (checkApp says which app holds one already).
var errAppTaken = &factors.InputError{Field: "host", Msg: "Another app was registered for this host and path prefix just now: reload to see it"}

// globalOnly refuses, and audits, an actor who is not a global admin.
func (s *Service) globalOnly(ctx context.Context, a Actor, subject, action string) error {
	if !a.User.Disabled && slices.ContainsFunc(a.User.Roles, func(b storage.RoleBinding) bool { return b.Role == storage.RoleGlobalAdmin }) {
		return nil
	}
	s.audit(ctx, a, storage.User{ID: subject}, action, storage.OutcomeDenied, map[string]string{"reason": "not a global admin"})
	return errOutside
}

// checkApp reports every problem with protected app c's settings at once,
// as joined *factors.InputError, and returns them tidied: the name
// trimmed, the host in lower case, each unit once. No other app may have
// its host and path prefix.
func (s *Service) checkApp(ctx context.Context, c storage.Client) (storage.Client, error) {
	var errs []error
	refuse := func(field, msg string) { errs = append(errs, &factors.InputError{Field: field, Msg: msg}) }
	c.Name = strings.TrimSpace(c.Name)
	switch {
	case c.Name == "":
		refuse("name", "Enter a name: people see it when they sign in to the app")
	case utf8.RuneCountInString(c.Name) > provider.MaxClientNameLength:
		refuse("name", fmt.Sprintf("Use at most %d characters", provider.MaxClientNameLength))
	}
	f := storage.ForwardAuth{}
	if c.Forward != nil {
		f = *c.Forward
	}
	var problem string
	if f.Host, problem = checkHost(f.Host); problem != "" {
		refuse("host", problem)
	}
	if f.PathPrefix, problem = checkPathPrefix(f.PathPrefix); problem != "" {
		refuse("path_prefix", problem)
	}
	if policy.ACR(c.MinimumACR).Rank() < 0 {
		refuse("min_acr", "Choose pwd, mfa or phr")
	}
	f.OrgUnitIDs = slices.Compact(slices.Sorted(slices.Values(f.OrgUnitIDs)))
	for _, id := range f.OrgUnitIDs {
		if _, err := s.store.GetOrgUnit(ctx, id); errors.Is(err, storage.ErrNotFound) {
			refuse("org_units", "Choose org units from the list: one of these no longer exists")
			break
		} else if err != nil {
			return c, fmt.Errorf("get org unit: %w", err)
		}
	}
	c.Forward = &f
	apps, err := s.ListClients(ctx, true)
	if err != nil {
		return c, err
	}
	for _, other := range apps {
		if other.ID != c.ID && strings.EqualFold(other.Forward.Host, f.Host) && other.Forward.PathPrefix == f.PathPrefix {
			refuse("host", fmt.Sprintf("%s is already registered for %s%s: change its settings, or choose another host or path prefix", other.Name, f.Host, f.PathPrefix))
		}
	}
	return c, errors.Join(errs...)
}

// hostPattern is a host name (or IPv4 address) in lower case, with an
// optional port.
var hostPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$`)

// checkHost reads a protected app's host as browsers reach it, which is
// how forward-auth finds the app: a host name and, only where it is not
// the scheme's, a port; nothing else. problem says what is wrong, if
// anything.
func checkHost(s string) (host, problem string) {
	host = strings.ToLower(strings.TrimSpace(s))
	switch {
	case host == "":
		return host, "Enter the host people reach the app at, such as wiki.example.org"
	case strings.Contains(host, "://"):
		return host, "Enter the host alone, without http:// or https://"
	case strings.ContainsAny(host, "/?#"):
		return host, "Enter the host alone, without a path: a path goes in Path prefix"
	case strings.Contains(host, "@"):
		return host, "Enter the host alone, without a user name"
	case strings.Contains(host, "*"):
		return host, "Wildcards are not allowed: register each host"
	case strings.IndexFunc(host, unicode.IsSpace) >= 0:
		return host, "A host has no spaces"
	case len(host) > 253 || !hostPattern.MatchString(host):
		return host, "Enter a host name such as wiki.example.org, with a port such as :8443 if it needs one"
	}
	if _, port, ok := strings.Cut(host, ":"); ok {
		switch n, _ := strconv.Atoi(port); {
		case n == 80 || n == 443:
			// Browsers leave the scheme's own port out of the address, so
			// an app registered with it would never be found.
			return host, "Leave out :" + port + ": browsers never send it"
		case n < 1 || n > 65535:
			return host, "A port is a number from 1 to 65535"
		}
	}
	return host, ""
}

// checkPathPrefix reads a protected app's path prefix: empty (or /) for
// the whole host, else a path; problem as checkHost's.
func checkPathPrefix(s string) (prefix, problem string) {
	switch p := strings.TrimSpace(s); {
	case p == "/":
		return "", "" // the whole host, as empty is
	case p == "":
		return "", ""
	case !strings.HasPrefix(p, "/"):
		return p, "Start the path prefix with /, such as /wiki/"
	case strings.ContainsAny(p, "?#"):
		return p, "Enter a path alone, without ? or #"
	case strings.Contains(p, "*"):
		return p, "Wildcards are not allowed: the prefix already covers every path that starts with it"
	case strings.IndexFunc(p, unicode.IsSpace) >= 0:
		return p, "A path prefix has no spaces"
	case len(p) > 200:
		return p, "Use at most 200 characters"
	default:
		return p, ""
	}
}

// appChanges lists what changed, as clientChanges does for a client.
func appChanges(before, after storage.Client) map[string]string {
	forward := func(c storage.Client) storage.ForwardAuth {
		if c.Forward == nil {
			return storage.ForwardAuth{}
		}
		return *c.Forward
	}
	b, a := forward(before), forward(after)
	return changes(before.ID == "",
		change{"name", before.Name, after.Name},
		change{"host", b.Host, a.Host},
		change{"path_prefix", b.PathPrefix, a.PathPrefix},
		change{"min_acr", before.MinimumACR, after.MinimumACR},
		change{"org_units", strings.Join(b.OrgUnitIDs, ","), strings.Join(a.OrgUnitIDs, ",")},
		change{"exceptions_allowed", strconv.FormatBool(before.ExceptionsAllowed), strconv.FormatBool(after.ExceptionsAllowed)},
		change{"app_passwords", strconv.FormatBool(b.AppPasswords), strconv.FormatBool(a.AppPasswords)},
	)
}

func (h *Handler) showApps(rq *request) {
	if !rq.globalAllowed("", "protected_app.listed") {
		return
	}
	apps, err := h.svc.ListClients(rq.ctx(), true)
	if err != nil {
		rq.serverError(err)
		return
	}
	t, err := h.svc.loadTree(rq.ctx())
	if err != nil {
		rq.serverError(err)
		return
	}
	p := templates.AppsPage{Page: rq.page("Protected apps", "Protected apps"), Notice: appNotices[rq.r.URL.Query().Get("done")]}
	for _, c := range apps {
		row := templates.AppRow{ID: c.ID, Name: c.Name, Host: c.Forward.Host, PathPrefix: c.Forward.PathPrefix, MinimumACR: c.MinimumACR,
			Exceptions: c.ExceptionsAllowed, AppPasswords: c.Forward.AppPasswords}
		for _, id := range c.Forward.OrgUnitIDs {
			row.Units = append(row.Units, cmp.Or(t.units[id].Name, "a deleted unit"))
		}
		p.Apps = append(p.Apps, row)
	}
	h.pages.AdminApps(rq.w, http.StatusOK, p)
}

func (h *Handler) newApp(rq *request) {
	if !rq.globalAllowed("", "protected_app.created") {
		return
	}
	h.appPage(rq, http.StatusOK, storage.Client{MinimumACR: string(policy.ACRPassword), Forward: &storage.ForwardAuth{}}, "", nil, "")
}

// appPage shows the form for c: a new app where c has no id, else the
// app named stored.
func (h *Handler) appPage(rq *request, status int, c storage.Client, stored string, errs []error, notice string) {
	t, err := h.svc.loadTree(rq.ctx())
	if err != nil {
		rq.serverError(err)
		return
	}
	title := "Register a protected app"
	if c.ID != "" {
		title = stored + ": protected app settings"
	}
	f := c.Forward
	p := templates.AppPage{
		Page: rq.page(title, "Protected apps"), ID: c.ID, Name: stored, CreatedAt: c.CreatedAt,
		ACRs: chosen(acrChoices, c.MinimumACR), Exceptions: c.ExceptionsAllowed, AppPasswords: f.AppPasswords,
		Notice: notice, Errors: formErrors(errs...),
		Fields: []templates.TextField{
			{ID: "name", Label: "Name", Type: "text", Hint: "People see it when they sign in to the app.", MaxLength: provider.MaxClientNameLength,
				Autocomplete: "off", Field: templates.Field{Value: c.Name}},
			{ID: "host", Label: "Host", Type: "text", Hint: "The host people reach the app at, such as wiki.example.org, with a port such as :8443 only if it needs one: no https:// and no path.",
				MaxLength: 260, Autocomplete: "off", Field: templates.Field{Value: f.Host}},
			{ID: "path_prefix", Label: "Path prefix (optional)", Type: "text", Hint: "Only paths that start with it, such as /wiki/, are this app; empty for the whole host. Where several apps share a host, the longest prefix that fits decides.",
				MaxLength: 200, Autocomplete: "off", Field: templates.Field{Value: f.PathPrefix}},
		},
	}
	setFieldErrors(p.Fields, p.Errors)
	t.walk(t.root, 0, func(ou storage.OrgUnit, depth int) bool {
		p.Units = append(p.Units, templates.UnitChoice{Depth: depth,
			Choice: templates.Choice{Value: ou.ID, Label: ou.Name, Selected: slices.Contains(f.OrgUnitIDs, ou.ID)}})
		return true
	})
	h.pages.AdminApp(rq.w, status, p)
}

// readApp is the app the form describes.
func readApp(rq *request) storage.Client {
	f := rq.r.PostForm
	return storage.Client{Name: f.Get("name"), MinimumACR: f.Get("min_acr"), ExceptionsAllowed: f.Get("exceptions") == "yes",
		Forward: &storage.ForwardAuth{Host: f.Get("host"), PathPrefix: f.Get("path_prefix"), OrgUnitIDs: f["org_units"], AppPasswords: f.Get("app_passwords") == "yes"}}
}

func (h *Handler) createApp(rq *request) {
	if !rq.globalAllowed("", "protected_app.created") {
		return
	}
	c, err := h.svc.CreateApp(rq.ctx(), rq.actor, readApp(rq))
	switch {
	case isInput(err):
		h.appPage(rq, http.StatusUnprocessableEntity, c, "", inputErrors(err), "")
	case err != nil:
		rq.serverError(err)
	default:
		rq.redirect("/admin/apps/" + c.ID + "?done=created")
	}
}

func (h *Handler) showApp(rq *request) {
	if c, ok := h.loadClient(rq, "protected_app.viewed", true); ok {
		h.appPage(rq, http.StatusOK, c, c.Name, nil, appNotices[rq.r.URL.Query().Get("done")])
	}
}

func (h *Handler) saveApp(rq *request) {
	c, ok := h.loadClient(rq, "protected_app.updated", true)
	if !ok {
		return
	}
	next, err := h.svc.UpdateApp(rq.ctx(), rq.actor, c.ID, readApp(rq))
	switch {
	case isInput(err):
		next.CreatedAt = c.CreatedAt
		h.appPage(rq, http.StatusUnprocessableEntity, next, c.Name, inputErrors(err), "")
	case err != nil:
		rq.serverError(err)
	default:
		rq.redirect("/admin/apps/" + c.ID + "?done=saved")
	}
}

func (h *Handler) deleteApp(rq *request) {
	c, ok := h.loadClient(rq, "protected_app.deleted", true)
	if !ok {
		return
	}
	if !rq.confirmed("Delete "+c.Name+"?", "No one gets through to "+c.Name+" any more, with a sign-in or an app password: the proxy in front of "+c.Forward.Host+c.Forward.PathPrefix+" is refused, unless another app is registered for a shorter prefix of that host.",
		"Delete "+c.Name, "/admin/apps/"+c.ID) {
		return
	}
	if err := h.store.DeleteClient(rq.ctx(), c.ID); err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{ID: c.ID}, "protected_app.deleted", storage.OutcomeSuccess,
		map[string]string{"name": c.Name, "host": c.Forward.Host, "path_prefix": c.Forward.PathPrefix})
	rq.redirect("/admin/apps?done=deleted")
}
