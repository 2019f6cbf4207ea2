package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The audit log: events filtered by user, org unit, action, outcome and
// date, a page at a time, newest first, and the same as a JSON Lines
// download. A global admin sees every event; an org admin those in the
// units they look after (an event with no org unit is for global admins
// only); the helpdesk none.

func (h *Handler) auditRoutes(get, post func(string, func(*request))) {
	get("/admin/audit", h.showAudit)
	get("/admin/audit.jsonl", h.exportAudit)
}

const (
	auditPageSize = 50
	// auditExportBatch is how many events the download reads at a time,
	// so a large log is never held in memory.
	auditExportBatch = 500
)

var auditOutcomes = []templates.Choice{
	{Value: storage.OutcomeSuccess, Label: "Success"},
	{Value: storage.OutcomeFailure, Label: "Failure"},
	{Value: storage.OutcomeDenied, Label: "Denied"},
}

// auditFilter is the filter form as sent.
type auditFilter struct {
	User, Unit, Action, Outcome, From, To string
}

func readAuditFilter(v url.Values) auditFilter {
	get := func(k string) string { return strings.TrimSpace(v.Get(k)) }
	return auditFilter{User: get("user"), Unit: get("unit"), Action: get("action"), Outcome: get("outcome"), From: get("from"), To: get("to")}
}

// values are the filters that are set, for links that keep them.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"user": f.User, "unit": f.Unit, "action": f.Action, "outcome": f.Outcome, "from": f.From, "to": f.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// auditScope is what the actor may see of the log, and the query their
// filters make of it.
type auditScope struct {
	tree  tree
	query storage.AuditQuery
	// subject is the user the log is filtered by, if any.
	subject storage.User
}

// auditQuery checks the actor may read the audit log and turns f into a
// query within their scope. Refused fields come back as errs. ok is false
// when the request has been answered: a refusal (403, audited as action)
// or a server error.
func (h *Handler) auditQuery(rq *request, f auditFilter, action string) (s auditScope, errs []error, ok bool) {
	if !rq.holds(storage.RoleOrgAdmin) {
		rq.forbidden("", "", action)
		return s, nil, false
	}
	ctx := rq.ctx()
	var err error
	if s.tree, err = h.svc.loadTree(ctx); err != nil {
		rq.serverError(err)
		return s, nil, false
	}
	// An org admin sees the units they look after; a global admin every
	// event, those outside any unit too (units is nil).
	var units map[string]bool
	if !rq.global() {
		units = map[string]bool{}
		for _, root := range s.tree.visibleRoots(rq.actor.User, storage.RoleOrgAdmin) {
			s.tree.walk(root, 0, func(ou storage.OrgUnit, _ int) bool { units[ou.ID] = true; return true })
		}
		if len(units) == 0 {
			// Every unit the actor's role names is gone: an empty list
			// would match every event.
			rq.forbidden("", "", action)
			return s, nil, false
		}
		s.query.OrgUnitIDs = slices.Sorted(maps.Keys(units))
	}
	if f.Unit != "" {
		_, exists := s.tree.units[f.Unit]
		switch {
		case units != nil && !units[f.Unit]:
			rq.forbidden("", f.Unit, action)
			return s, nil, false
		case !exists:
			errs = append(errs, &factors.InputError{Field: "unit", Msg: "Choose an org unit from the list"})
		default:
			s.query.OrgUnitIDs = nil
			s.tree.walk(f.Unit, 0, func(ou storage.OrgUnit, _ int) bool {
				s.query.OrgUnitIDs = append(s.query.OrgUnitIDs, ou.ID)
				return true
			})
		}
	}
	if f.User != "" {
		s.subject, err = h.auditUser(rq, f.User)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			errs = append(errs, &factors.InputError{Field: "user", Msg: "No user has that username or email"})
		case err != nil:
			rq.serverError(err)
			return s, nil, false
		default:
			s.query.User = s.subject.ID
		}
	}
	switch a := f.Action; {
	case len(a) > 100:
		errs = append(errs, &factors.InputError{Field: "action", Msg: "Use at most 100 characters for the action"})
	case strings.HasSuffix(a, "."):
		s.query.ActionPrefix = a
	default:
		s.query.Action = a
	}
	if f.Outcome != "" && !slices.ContainsFunc(auditOutcomes, func(c templates.Choice) bool { return c.Value == f.Outcome }) {
		errs = append(errs, &factors.InputError{Field: "outcome", Msg: "Choose an outcome from the list"})
	}
	s.query.Outcome = f.Outcome
	// Dates are whole UTC days: From's day onwards, up to the end of To's.
	day := func(field, raw, name string) time.Time {
		if raw == "" {
			return time.Time{}
		}
		d, err := time.Parse(time.DateOnly, raw)
		if err != nil {
			errs = append(errs, &factors.InputError{Field: field, Msg: "Enter the " + name + " date as a real date, such as 2025-03-31"})
		}
		return d
	}
	s.query.Since = day("from", f.From, "start")
	if to := day("to", f.To, "end"); !to.IsZero() {
		s.query.Until = to.AddDate(0, 0, 1)
		if !s.query.Since.IsZero() && to.Before(s.query.Since) {
			errs = append(errs, &factors.InputError{Field: "to", Msg: "The end date must be the same as or after the start date"})
		}
	}
	return s, errs, true
}

// auditUser finds a user by username or email address.
func (h *Handler) auditUser(rq *request, s string) (storage.User, error) {
	if norm, err := storage.NormalizeUsername(s); err == nil {
		u, err := h.store.GetUserByUsername(rq.ctx(), norm)
		if !errors.Is(err, storage.ErrNotFound) {
			return u, err
		}
	}
	if strings.Contains(s, "@") {
		return h.store.GetUserByEmail(rq.ctx(), storage.NormalizeEmail(s))
	}
	return storage.User{}, storage.ErrNotFound
}

// auditPage is the audit page's form, showing f and the errors in errs.
func (h *Handler) auditPage(rq *request, f auditFilter, s auditScope, errs []error) templates.AuditPage {
	p := templates.AuditPage{Page: rq.page("Audit log", "Audit log"), Errors: formErrors(errs...),
		User: templates.Field{Value: f.User}, Action: templates.Field{Value: f.Action},
		From: templates.Field{Value: f.From}, To: templates.Field{Value: f.To}}
	for _, e := range p.Errors {
		switch e.Field {
		case "user":
			p.User.Error = e.Msg
		case "action":
			p.Action.Error = e.Msg
		case "from":
			p.From.Error = e.Msg
		case "to":
			p.To.Error = e.Msg
		}
	}
	for _, root := range s.tree.visibleRoots(rq.actor.User, storage.RoleOrgAdmin) {
		s.tree.walk(root, 0, func(ou storage.OrgUnit, depth int) bool {
			p.Units = append(p.Units, templates.Choice{Value: ou.ID, Label: strings.Repeat("— ", depth) + ou.Name, Selected: ou.ID == f.Unit})
			return true
		})
	}
	for _, c := range auditOutcomes {
		c.Selected = c.Value == f.Outcome
		p.Outcomes = append(p.Outcomes, c)
	}
	return p
}

func (h *Handler) showAudit(rq *request) {
	f := readAuditFilter(rq.r.URL.Query())
	s, errs, ok := h.auditQuery(rq, f, "audit.viewed")
	if !ok {
		return
	}
	p := h.auditPage(rq, f, s, errs)
	if len(errs) > 0 {
		h.pages.AdminAudit(rq.w, http.StatusUnprocessableEntity, p)
		return
	}

	before := rq.r.URL.Query().Get("before")
	q := s.query
	q.Before, q.Limit = before, auditPageSize+1
	events, err := h.store.ListAudit(rq.ctx(), q)
	if err != nil {
		rq.serverError(err)
		return
	}
	link := func(path, before string) string {
		v := f.values()
		if before != "" {
			v.Set("before", before)
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	p.Shown, p.Export = true, link("/admin/audit.jsonl", "")
	if len(events) > auditPageSize {
		events = events[:auditPageSize]
		p.Older = link("/admin/audit", events[len(events)-1].ID)
	}
	if before != "" {
		p.Newest = link("/admin/audit", "")
	}
	who := &people{h: h, rq: rq, users: map[string]*storage.User{}}
	name := func(id string) (string, string, error) {
		if id == "" {
			return "", "", nil
		}
		u, err := who.get(id)
		if err != nil || u == nil {
			return id, "", err
		}
		return u.Username, "/admin/audit?" + url.Values{"user": {u.Username}}.Encode(), nil
	}
	for _, e := range events {
		row := templates.AuditRow{ID: e.ID, Time: e.Time, Action: e.Action, Outcome: e.Outcome, IP: e.IP, UserAgent: e.UserAgent, Unit: e.OrgUnitID}
		if ou, ok := s.tree.units[e.OrgUnitID]; ok {
			row.Unit = ou.Name
		}
		if row.Actor, row.ActorURL, err = name(e.Actor); err == nil {
			row.Subject, row.SubjectURL, err = name(e.Subject)
		}
		if err != nil {
			rq.serverError(err)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(e.Details)) {
			row.Details = append(row.Details, k+"="+e.Details[k])
		}
		p.Events = append(p.Events, row)
	}
	h.pages.AdminAudit(rq.w, http.StatusOK, p)
}

// exportAudit sends every event the filters match as JSON Lines, newest
// first, a batch at a time. It holds the events there were when it began:
// later batches only go further back. The download is audited, with its
// filters, before the first event is sent.
func (h *Handler) exportAudit(rq *request) {
	ctx := rq.ctx()
	f := readAuditFilter(rq.r.URL.Query())
	s, errs, ok := h.auditQuery(rq, f, "audit.exported")
	if !ok {
		return
	}
	if len(errs) > 0 {
		h.pages.AdminAudit(rq.w, http.StatusUnprocessableEntity, h.auditPage(rq, f, s, errs))
		return
	}
	q := s.query
	q.Limit = auditExportBatch
	batch, err := h.store.ListAudit(ctx, q)
	if err != nil {
		rq.serverError(err)
		return
	}
	details := map[string]string{}
	for k, v := range f.values() {
		details[k] = v[0]
	}
	ouID := f.Unit
	if roots := s.tree.visibleRoots(rq.actor.User, storage.RoleOrgAdmin); ouID == "" && len(roots) == 1 {
		ouID = roots[0]
	}
	h.svc.audit(ctx, rq.actor, storage.User{ID: s.subject.ID, OrgUnitID: ouID}, "audit.exported", storage.OutcomeSuccess, details)

	hdr := rq.w.Header()
	hdr.Set("Content-Type", "application/x-ndjson")
	hdr.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gatehouse-audit-%s.jsonl"`, h.now().UTC().Format("20060102T150405Z")))
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	rq.w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(rq.w)
	for {
		for _, e := range batch {
			if err := enc.Encode(e); err != nil {
				return // the client went away
			}
		}
		if len(batch) < q.Limit {
			return
		}
		q.Before = batch[len(batch)-1].ID
		if batch, err = h.store.ListAudit(ctx, q); err != nil {
			// The status is sent: the download ends short, and the log
			// says why.
			h.logger.ErrorContext(ctx, "export audit log", "err", err)
			return
		}
	}
}
