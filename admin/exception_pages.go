package admin

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The exception pages: a form to grant a user a short-term exception or
// ask for a long-term one; the approval queue, the exceptions in force
// (with revoke), those ending soon marked. Every request is checked against
// the user's current org unit; the Service checks again, and audits.

func (h *Handler) exceptionRoutes(get, post func(string, func(*request))) {
	get("/admin/exceptions", h.showExceptions)
	get("/admin/exceptions/new", h.findExceptionUser)
	get("/admin/users/{id}/exceptions/new", h.showExceptionForm)
	post("/admin/users/{id}/exceptions", h.requestException)
	post("/admin/exceptions/{id}/approve", func(rq *request) { h.decideException(rq, true) })
	post("/admin/exceptions/{id}/reject", func(rq *request) { h.decideException(rq, false) })
	post("/admin/exceptions/{id}/revoke", h.revokeException)
}

// How close to its end an exception in force is listed as ending soon.
const (
	shortTermEndingSoon = 48 * time.Hour
	longTermEndingSoon  = 14 * 24 * time.Hour
)

var exceptionNotices = map[string]string{
	"granted":   "Short-term exception granted: the user can sign in without a second factor for the next 24 hours.",
	"requested": "Long-term exception requested: another admin must approve it.",
	"approved":  "Exception approved: it lasts 180 days.",
	"rejected":  "Request rejected.",
	"revoked":   "Exception revoked: the user will be asked for a second factor at their next sign-in.",
}

// kindLabel is the words for an exception kind.
func kindLabel(kind string) string {
	k, _ := policy.KindOf(kind)
	return k.Label
}

func (h *Handler) showExceptions(rq *request) {
	h.exceptionsPage(rq, http.StatusOK, exceptionNotices[rq.r.URL.Query().Get("done")], nil, "")
}

// people loads users once per request, for names and org units.
type people struct {
	h     *Handler
	rq    *request
	users map[string]*storage.User
}

// get is the user with id, or nil if there is none.
func (p *people) get(id string) (*storage.User, error) {
	if u, ok := p.users[id]; ok {
		return u, nil
	}
	u, err := p.h.store.GetUser(p.rq.ctx(), id)
	if errors.Is(err, storage.ErrNotFound) {
		p.users[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get user: %w", err)
	}
	p.users[id] = &u
	return &u, nil
}

// displayName is how a user is shown: display name, else username.
func displayName(u storage.User) string { return cmp.Or(u.DisplayName, u.Username) }

// name is how the user with id is shown, or says they were removed.
func (p *people) name(id string) string {
	if id == "" {
		return ""
	}
	if u, err := p.get(id); err == nil && u != nil {
		return displayName(*u)
	}
	return "a removed user (" + id + ")"
}

// exceptionsPage lists the exceptions of users the actor looks after.
func (h *Handler) exceptionsPage(rq *request, status int, notice string, errs []templates.FormError, username string) {
	ctx := rq.ctx()
	if !rq.holds(storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		rq.forbidden("", "", "exception.listed")
		return
	}
	pending, err := h.store.ListExceptions(ctx, storage.ExceptionRequested)
	if err != nil {
		rq.serverError(err)
		return
	}
	approved, err := h.store.ListExceptions(ctx, storage.ExceptionApproved)
	if err != nil {
		rq.serverError(err)
		return
	}
	who := &people{h: h, rq: rq, users: map[string]*storage.User{}}
	can := rq.rights()
	// rows are the exceptions in list whose user (by their current org
	// unit) the actor looks after.
	now := h.now()
	rows := func(list []storage.Exception) ([]templates.ExceptionRow, error) {
		var out []templates.ExceptionRow
		for _, e := range list {
			if e.StateAt(now) != e.State {
				continue // expired: approved is its stored state for good
			}
			u, err := who.get(e.UserID)
			if err != nil {
				return nil, err
			}
			if u == nil {
				continue
			}
			see, err := can(u.OrgUnitID, storage.RoleOrgAdmin, storage.RoleHelpdesk)
			if err != nil {
				return nil, err
			}
			if !see {
				continue // outside the actor's scope
			}
			decide, err := can(u.OrgUnitID, storage.RoleOrgAdmin)
			if err != nil {
				return nil, err
			}
			out = append(out, templates.ExceptionRow{
				ID: e.ID, UserID: u.ID, UserName: displayName(*u), Kind: e.Kind, KindLabel: kindLabel(e.Kind),
				Reason: policy.ReasonLabel(e.Reason), Note: e.Note, Evidence: e.Evidence,
				RequestedBy: who.name(e.RequestedBy), RequestedAt: e.RequestedAt,
				DecidedBy: who.name(e.DecidedBy), DecidedAt: e.DecidedAt, DecisionNote: e.DecisionNote,
				ExpiresAt: e.ExpiresAt, EndsIn: endsIn(e.ExpiresAt.Sub(now)),
				CanDecide: decide && u.ID != rq.actor.User.ID, OwnRequest: e.RequestedBy == rq.actor.User.ID,
			})
		}
		return out, nil
	}
	p := templates.ExceptionsPage{Page: rq.page("MFA exceptions", "Exceptions"), Notice: notice, Errors: errs,
		Username: templates.Field{Value: username}}
	for _, e := range errs {
		if e.Field == "username" {
			p.Username.Error = e.Msg
		}
	}
	if p.Pending, err = rows(pending); err != nil {
		rq.serverError(err)
		return
	}
	if p.Active, err = rows(approved); err != nil {
		rq.serverError(err)
		return
	}
	// The queue oldest first; exceptions in force by when they end.
	slices.SortFunc(p.Pending, func(a, b templates.ExceptionRow) int { return a.RequestedAt.Compare(b.RequestedAt) })
	slices.SortFunc(p.Active, func(a, b templates.ExceptionRow) int { return a.ExpiresAt.Compare(b.ExpiresAt) })
	for i, r := range p.Active {
		soon := shortTermEndingSoon
		if r.Kind == storage.ExceptionLongTerm {
			soon = longTermEndingSoon
		}
		p.Active[i].EndingSoon = r.ExpiresAt.Sub(now) <= soon
	}
	h.pages.AdminExceptions(rq.w, status, p)
}

// endsIn says how long is left, roughly: "in 5 hours".
func endsIn(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "in 1 " + unit
		}
		return fmt.Sprintf("in %d %ss", n, unit)
	}
	switch {
	case d < time.Minute:
		return "in less than a minute"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour")
	}
	return plural(int(d/(24*time.Hour)), "day")
}

// findExceptionUser finds a user by username, from the exceptions page,
// and goes on to their exception form.
func (h *Handler) findExceptionUser(rq *request) {
	raw := strings.TrimSpace(rq.r.URL.Query().Get("username"))
	if raw == "" {
		h.exceptionsPage(rq, http.StatusUnprocessableEntity, "", []templates.FormError{{Field: "username", Msg: "Enter a username"}}, raw)
		return
	}
	u, err := storage.User{}, storage.ErrNotFound
	if norm, nerr := storage.NormalizeUsername(raw); nerr == nil {
		u, err = h.store.GetUserByUsername(rq.ctx(), norm)
	}
	if errors.Is(err, storage.ErrNotFound) {
		h.exceptionsPage(rq, http.StatusNotFound, "", []templates.FormError{{Field: "username", Msg: "No user has that username"}}, raw)
		return
	}
	if err != nil {
		rq.serverError(err)
		return
	}
	if !rq.allowed(u.OrgUnitID, u.ID, "exception.viewed", storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		return
	}
	rq.redirect("/admin/users/" + u.ID + "/exceptions/new")
}

// exceptionUser loads the user named in the path and checks the actor
// looks after them, by their current org unit; a refusal is audited as
// action.
func (h *Handler) exceptionUser(rq *request, action string) (storage.User, bool) {
	u, err := h.store.GetUser(rq.ctx(), rq.r.PathValue("id"))
	if err != nil {
		rq.serverError(err)
		return u, false
	}
	if !rq.allowed(u.OrgUnitID, u.ID, action, storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		return u, false
	}
	if u.ID == rq.actor.User.ID {
		if rq.r.Method == http.MethodPost {
			h.svc.audit(rq.ctx(), rq.actor, u, action, storage.OutcomeDenied, map[string]string{"reason": "self-service"})
		}
		rq.fail(http.StatusForbidden, "You can't make an exception for yourself", "Exceptions are never self-service: ask a colleague on the helpdesk or an admin.", "self_service")
		return u, false
	}
	return u, true
}

func (h *Handler) showExceptionForm(rq *request) {
	u, ok := h.exceptionUser(rq, "exception.viewed")
	if !ok {
		return
	}
	h.exceptionForm(rq, http.StatusOK, u, ExceptionRequest{}, nil, false)
}

// exceptionForm shows the form for u, with what was sent (req) and what
// was wrong with it.
func (h *Handler) exceptionForm(rq *request, status int, u storage.User, req ExceptionRequest, errs []error, rejected bool) {
	p := templates.ExceptionFormPage{
		Page:   rq.page("MFA exception for "+displayName(u), "Exceptions"),
		UserID: u.ID, UserName: displayName(u), Username: u.Username, Kind: req.Kind, Rejected: rejected,
	}
	active, err := h.svc.activeException(rq.ctx(), u.ID)
	if err != nil {
		rq.serverError(err)
		return
	}
	if active != nil {
		next := "Revoke it first to make another."
		if (storage.Exception{Kind: storage.ExceptionLongTerm}).Replaces(*active) {
			next = "A long-term exception may still be asked for: once approved, it replaces this one."
		}
		p.Active = fmt.Sprintf("%s already has a %s exception (%s) until %s. %s",
			displayName(u), strings.ToLower(kindLabel(active.Kind)), policy.ReasonLabel(active.Reason), active.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"), next)
	}
	short := req.Kind != storage.ExceptionLongTerm
	choices := func(reasons []policy.Reason, mine bool) []templates.Choice {
		var out []templates.Choice
		for _, r := range reasons {
			out = append(out, templates.Choice{Value: r.Code, Label: r.Label, Selected: mine && r.Code == req.Reason})
		}
		return out
	}
	shortKind, _ := policy.KindOf(storage.ExceptionShortTerm)
	longKind, _ := policy.KindOf(storage.ExceptionLongTerm)
	p.ShortReasons, p.LongReasons = choices(shortKind.Reasons, short), choices(longKind.Reasons, !short)
	prefix := "short"
	if short {
		p.ShortNote.Value = req.Note
	} else {
		prefix = "long"
		p.LongNote.Value, p.Evidence.Value = req.Note, req.Evidence
	}
	// Each refused field links to its place in the form that was sent.
	fields := map[string]*templates.Field{
		"short_reason": &p.ShortReason, "short_note": &p.ShortNote,
		"long_reason": &p.LongReason, "long_note": &p.LongNote, "long_evidence": &p.Evidence,
	}
	for _, fe := range formErrors(errs...) {
		key := prefix + "_" + fe.Field
		switch fe.Field {
		case "kind":
			fe.Field = prefix // the form's heading
		case "evidence":
			fe.Field = "evidence"
		default:
			fe.Field = key
		}
		if f, ok := fields[key]; ok {
			f.Error = fe.Msg
		}
		p.Errors = append(p.Errors, fe)
	}
	h.pages.AdminExceptionForm(rq.w, status, p)
}

func (h *Handler) requestException(rq *request) {
	u, ok := h.exceptionUser(rq, "exception.requested")
	if !ok {
		return
	}
	f := rq.r.PostForm
	req := ExceptionRequest{UserID: u.ID, Kind: f.Get("kind"), Reason: f.Get("reason"), Note: f.Get("note"), Evidence: f.Get("evidence")}
	e, err := h.svc.RequestException(rq.ctx(), rq.actor, req)
	var ie *factors.InputError
	switch {
	case errors.Is(err, ErrEvidenceRequired):
		h.exceptionForm(rq, http.StatusUnprocessableEntity, u, req, []error{err}, true)
	case errors.As(err, &ie):
		h.exceptionForm(rq, http.StatusUnprocessableEntity, u, req, []error{err}, false)
	case err != nil:
		rq.serverError(err)
	case e.State == storage.ExceptionApproved:
		rq.redirect("/admin/exceptions?done=granted#active")
	default:
		rq.redirect("/admin/exceptions?done=requested#pending")
	}
}

func (h *Handler) decideException(rq *request, approve bool) {
	id := rq.r.PathValue("id")
	e, err := h.svc.DecideException(rq.ctx(), rq.actor, id, approve, rq.r.PostFormValue("note"))
	var ie *factors.InputError
	switch {
	case errors.As(err, &ie):
		h.exceptionsPage(rq, http.StatusConflict, "", []templates.FormError{{Field: "exception-" + id, Msg: ie.Msg}}, "")
	case err != nil:
		rq.serverError(err) // refusals outside the actor's scope were audited by the service
	case e.State == storage.ExceptionApproved:
		rq.redirect("/admin/exceptions?done=approved#active")
	default:
		rq.redirect("/admin/exceptions?done=rejected#pending")
	}
}

func (h *Handler) revokeException(rq *request) {
	ctx := rq.ctx()
	id := rq.r.PathValue("id")
	e, u, err := h.svc.exceptionAndUser(ctx, id)
	if err != nil {
		rq.serverError(err)
		return
	}
	// The scope check comes before the confirmation step: a crafted form
	// for another subtree is refused at once.
	if !rq.allowed(u.OrgUnitID, u.ID, "exception.revoked", storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		return
	}
	if e.StateAt(h.now()) != storage.ExceptionApproved {
		h.exceptionsPage(rq, http.StatusConflict, "", []templates.FormError{{Field: "active", Msg: "That exception is no longer in force."}}, "")
		return
	}
	name := displayName(u)
	if !rq.confirmed("Revoke "+name+"'s exception?",
		name+" will be asked for a second factor again at their next sign-in. The exception cannot be restored: a new one would be needed.",
		"Revoke the exception", "/admin/exceptions#active") {
		return
	}
	_, err = h.svc.RevokeException(ctx, rq.actor, id, rq.r.PostFormValue("note"))
	var ie *factors.InputError
	switch {
	case errors.As(err, &ie):
		h.exceptionsPage(rq, http.StatusConflict, "", []templates.FormError{{Field: "active", Msg: ie.Msg}}, "")
	case err != nil:
		rq.serverError(err)
	default:
		rq.redirect("/admin/exceptions?done=revoked#active")
	}
}
