package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Auth is what the admin pages need from the sign-in journey.
type Auth interface {
	// AdminSession returns the signed-in admin (a role, a second factor,
	// active within the idle limit), or answers the request itself.
	AdminSession(w http.ResponseWriter, r *http.Request) (storage.User, bool)
	CSRFToken(w http.ResponseWriter, r *http.Request) string
	ValidCSRF(r *http.Request) bool
	// NextSignIn is what a user will meet at their next sign-in.
	NextSignIn(ctx context.Context, userID string) (policy.Decision, error)
}

// Handler serves the admin pages under /admin. Every request checks the
// session and, for the thing it touches, the actor's role over that
// thing's org unit; every state change is a POST with a form token behind
// net/http's cross-origin protection.
type Handler struct {
	svc    *Service
	store  Store
	auth   Auth
	pages  *templates.Templates
	now    func() time.Time
	logger *slog.Logger
	// methods are the method types Gatehouse offers, for org-unit settings
	// and user filters, in display order with their labels.
	methods []templates.Choice
	// proxies tell the actor's address, as the sign-in journey reads it.
	proxies clientip.Proxies
}

// NewHandler returns the admin pages over svc. methods lists the method
// types on offer (value: type, label: what people call it); proxies are
// the reverse proxies whose X-Forwarded-For gives an actor's address.
func NewHandler(svc *Service, auth Auth, pages *templates.Templates, methods []templates.Choice, proxies clientip.Proxies) *Handler {
	return &Handler{svc: svc, store: svc.store, auth: auth, pages: pages, now: svc.now, logger: svc.logger, methods: methods, proxies: proxies}
}

// request is one admin request that passed the session check.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	actor Actor
	h     *Handler
}

func (rq *request) ctx() context.Context { return rq.r.Context() }

// Register adds the admin routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Refused before the session is looked at: the actor is unknown.
		h.svc.audit(r.Context(), Actor{IP: h.proxies.ClientIP(r), UserAgent: r.UserAgent()}, storage.User{}, "admin.access", storage.OutcomeDenied,
			map[string]string{"path": r.URL.Path, "reason": "cross-origin request"})
		h.pages.Error(w, http.StatusForbidden, templates.ErrorPage{Page: templates.Page{Title: "Request refused"},
			Heading: "Request refused", Message: "This form came from another site. Go back to the admin pages and try again.", Code: "cross_origin"})
	}))
	get := func(path string, fn func(*request)) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			if rq, ok := h.begin(w, r); ok {
				fn(rq)
			}
		})
	}
	post := func(path string, fn func(*request)) {
		mux.Handle("POST "+path, cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				h.pages.Error(w, http.StatusBadRequest, templates.ErrorPage{Page: templates.Page{Title: "Bad request"},
					Heading: "That form could not be read", Message: "Go back and try again.", Code: "bad_form"})
				return
			}
			rq, ok := h.begin(w, r)
			if !ok {
				return
			}
			if !h.auth.ValidCSRF(r) {
				h.svc.audit(r.Context(), rq.actor, storage.User{}, "admin.access", storage.OutcomeDenied,
					map[string]string{"path": r.URL.Path, "reason": "form token missing or wrong"})
				rq.fail(http.StatusForbidden, "This form has expired", "Go back, reload the page and try again.", "csrf")
				return
			}
			fn(rq)
		})))
	}
	get("/admin", h.home)
	h.orgUnitRoutes(get, post)
	h.userRoutes(get, post)
	h.exceptionRoutes(get, post)
	h.clientRoutes(get, post)
	h.appRoutes(get, post)
	h.auditRoutes(get, post)
	h.notificationRoutes(get, post)
}

// begin checks the admin session.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request) (*request, bool) {
	u, ok := h.auth.AdminSession(w, r)
	if !ok {
		return nil, false
	}
	return &request{w: w, r: r, h: h, actor: Actor{User: u, IP: h.proxies.ClientIP(r), UserAgent: r.UserAgent()}}, true
}

// sections are the admin areas, and who may use each.
var sections = []struct {
	label, url string
	roles      []string // nil: global admins only
}{
	{"Org units", "/admin/org-units", []string{storage.RoleOrgAdmin, storage.RoleHelpdesk}},
	{"Users", "/admin/users", []string{storage.RoleOrgAdmin, storage.RoleHelpdesk}},
	{"Exceptions", "/admin/exceptions", []string{storage.RoleOrgAdmin, storage.RoleHelpdesk}},
	{"Clients", "/admin/clients", nil},
	{"Protected apps", "/admin/apps", nil},
	{"Audit log", "/admin/audit", []string{storage.RoleOrgAdmin}},
	{"Notifications", "/admin/notifications", nil},
}

// page is the shared part of an admin page in section current.
func (rq *request) page(title, current string) templates.Page {
	nav := &templates.AdminNav{Name: rq.actor.User.DisplayName, Current: current}
	if nav.Name == "" {
		nav.Name = rq.actor.User.Username
	}
	for _, s := range sections {
		if rq.holds(s.roles...) {
			nav.Links = append(nav.Links, templates.NavLink{Label: s.label, URL: s.url})
		}
	}
	return templates.Page{Title: title, CSRF: rq.h.auth.CSRFToken(rq.w, rq.r), Admin: nav}
}

// holds reports whether the actor is a global admin or holds one of roles
// anywhere.
func (rq *request) holds(roles ...string) bool {
	for _, b := range rq.actor.User.Roles {
		if b.Role == storage.RoleGlobalAdmin || slices.Contains(roles, b.Role) {
			return true
		}
	}
	return false
}

// global reports whether the actor is a global admin.
func (rq *request) global() bool { return rq.holds() }

// allowed checks the actor holds one of roles over org unit ouID; if not
// it audits the refusal, answers 403 and returns false. A crafted URL or
// form for something outside the actor's subtree ends here.
func (rq *request) allowed(ouID, subject, action string, roles ...string) bool {
	ok, err := rq.h.svc.Can(rq.ctx(), rq.actor.User, ouID, roles...)
	if err != nil {
		rq.serverError(err)
		return false
	}
	if !ok {
		rq.forbidden(subject, ouID, action)
	}
	return ok
}

// rights is Service.Can for the actor, worked out once per org unit and
// roles: for pages that check many rows (exceptions, say) against few
// units.
func (rq *request) rights() func(ouID string, roles ...string) (bool, error) {
	memo := map[string]bool{}
	return func(ouID string, roles ...string) (bool, error) {
		key := ouID + " " + strings.Join(roles, " ")
		if ok, done := memo[key]; done {
			return ok, nil
		}
		ok, err := rq.h.svc.Can(rq.ctx(), rq.actor.User, ouID, roles...)
		if err != nil {
			return false, err
		}
		memo[key] = ok
		return ok, nil
	}
}

// forbidden audits and refuses a request outside the actor's scope.
func (rq *request) forbidden(subject, ouID, action string) {
	rq.h.svc.audit(rq.ctx(), rq.actor, storage.User{ID: subject, OrgUnitID: ouID}, action, storage.OutcomeDenied,
		map[string]string{"path": rq.r.URL.Path, "reason": "outside the actor's scope"})
	rq.fail(http.StatusForbidden, "You can't do that here", "That is outside the part of the organisation you look after.", "forbidden")
}

// fail shows an error page with the admin navigation.
func (rq *request) fail(status int, heading, msg, code string) {
	rq.h.pages.Error(rq.w, status, templates.ErrorPage{Page: rq.page(heading, ""), Heading: heading, Message: msg, Code: code})
}

// serverError logs err and shows a generic page; not-found errors become
// a 404.
func (rq *request) serverError(err error) {
	if errors.Is(err, storage.ErrNotFound) {
		rq.fail(http.StatusNotFound, "Not found", "It may have been deleted. Go back and try again.", "not_found")
		return
	}
	if errors.Is(err, ErrForbidden) {
		why := errOutside.Why
		if r := (*Refusal)(nil); errors.As(err, &r) {
			why = r.Why
		}
		rq.fail(http.StatusForbidden, "You can't do that here", why, "forbidden")
		return
	}
	rq.h.logger.ErrorContext(rq.ctx(), "admin request", "path", rq.r.URL.Path, "err", err)
	if errors.Is(err, storage.ErrUnavailable) {
		rq.w.Header().Set("Retry-After", "5")
		rq.fail(http.StatusServiceUnavailable, "Unavailable for a moment", "The admin pages cannot reach the database. Try again shortly.", "storage_unavailable")
		return
	}
	rq.fail(http.StatusInternalServerError, "Something went wrong", "Try again in a moment. If it keeps happening, tell your administrator.", "server_error")
}

// redirect sends the browser to url after a POST.
func (rq *request) redirect(url string) { http.Redirect(rq.w, rq.r, url, http.StatusSeeOther) }

// confirmed reports whether a destructive form was confirmed; if not, it
// shows the "Are you sure?" step, which posts the same form back.
func (rq *request) confirmed(heading, msg, button, cancel string) bool {
	if rq.r.PostFormValue("confirm") == "yes" {
		return true
	}
	fields := map[string]string{}
	for k, v := range rq.r.PostForm {
		if k != "csrf" && k != "confirm" && len(v) > 0 {
			fields[k] = v[0]
		}
	}
	rq.h.pages.AdminConfirm(rq.w, http.StatusOK, templates.AdminConfirmPage{
		Page: rq.page(heading, ""), Heading: heading, Message: msg, Action: rq.r.URL.Path, Fields: fields, Confirm: button, Cancel: cancel,
	})
	return false
}

func (h *Handler) home(rq *request) {
	pending, err := h.store.ListExceptions(rq.ctx(), storage.ExceptionRequested)
	if err != nil {
		rq.serverError(err)
		return
	}
	active, err := h.store.ListExceptions(rq.ctx(), storage.ExceptionApproved)
	if err != nil {
		rq.serverError(err)
		return
	}
	p := templates.AdminHomePage{Page: rq.page("Admin", "")}
	now := h.now()
	// Counted by each user's current org unit, as the exceptions page
	// lists them; expired exceptions (approved is their stored state for
	// good) are skipped before their users are loaded.
	who := &people{h: h, rq: rq, users: map[string]*storage.User{}}
	can := rq.rights()
	count := func(list []storage.Exception, roles ...string) (int, error) {
		n := 0
		for _, e := range list {
			if e.StateAt(now) != e.State {
				continue
			}
			u, err := who.get(e.UserID)
			if err != nil {
				return 0, err
			}
			if u == nil {
				continue
			}
			if ok, err := can(u.OrgUnitID, roles...); err != nil {
				return 0, err
			} else if ok {
				n++
			}
		}
		return n, nil
	}
	if p.PendingRequests, err = count(pending, storage.RoleOrgAdmin); err != nil {
		rq.serverError(err)
		return
	}
	if p.ActiveExceptions, err = count(active, storage.RoleOrgAdmin, storage.RoleHelpdesk); err != nil {
		rq.serverError(err)
		return
	}
	p.Sections = p.Admin.Links
	h.pages.AdminHome(rq.w, http.StatusOK, p)
}
