package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The org-unit pages: the tree with each unit's effective MFA setting and
// where it comes from; one unit's settings (Settings -> Multi-Factor
// Authentication), rename, move, and delete when empty.

func (h *Handler) orgUnitRoutes(get, post func(string, func(*request))) {
	get("/admin/org-units", h.showOrgUnits)
	post("/admin/org-units", h.createOrgUnit)
	get("/admin/org-units/{id}", h.showOrgUnit)
	post("/admin/org-units/{id}", h.saveOrgUnit)
	post("/admin/org-units/{id}/move", h.moveOrgUnit)
	post("/admin/org-units/{id}/delete", h.deleteOrgUnit)
}

// tree is the whole org-unit tree, loaded once per request (it is small:
// units, not users).
type tree struct {
	units    map[string]storage.OrgUnit
	children map[string][]string
	root     string
}

func (s *Service) loadTree(ctx context.Context) (tree, error) {
	list, err := s.store.ListOrgUnits(ctx)
	if err != nil {
		return tree{}, fmt.Errorf("list org units: %w", err)
	}
	slices.SortFunc(list, func(a, b storage.OrgUnit) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	t := tree{units: map[string]storage.OrgUnit{}, children: map[string][]string{}}
	for _, ou := range list {
		t.units[ou.ID] = ou
		if ou.ParentID == "" {
			t.root = ou.ID
		} else {
			t.children[ou.ParentID] = append(t.children[ou.ParentID], ou.ID)
		}
	}
	return t, nil
}

// chain is id's unit and its ancestors, nearest first.
func (t tree) chain(id string) []storage.OrgUnit {
	var out []storage.OrgUnit
	for ou, ok := t.units[id]; ok && len(out) < 64; ou, ok = t.units[ou.ParentID] {
		out = append(out, ou)
	}
	return out
}

// walk calls fn for id's unit and every unit below it, depth first, with
// its depth; fn returning false skips that unit's children.
func (t tree) walk(id string, depth int, fn func(ou storage.OrgUnit, depth int) bool) {
	ou, ok := t.units[id]
	if !ok || depth > 64 || !fn(ou, depth) {
		return
	}
	for _, c := range t.children[id] {
		t.walk(c, depth+1, fn)
	}
}

// within reports whether unit id is ancestor or below it.
func (t tree) within(id, ancestor string) bool {
	return slices.ContainsFunc(t.chain(id), func(ou storage.OrgUnit) bool { return ou.ID == ancestor })
}

// visibleRoots are the tops of the subtrees the actor looks after with one
// of roles: the root for a global admin.
func (t tree) visibleRoots(actor storage.User, roles ...string) []string {
	var roots []string
	for _, b := range actor.Roles {
		if b.Role == storage.RoleGlobalAdmin {
			return []string{t.root}
		}
		if slices.Contains(roles, b.Role) {
			if _, ok := t.units[b.OrgUnitID]; ok {
				roots = append(roots, b.OrgUnitID)
			}
		}
	}
	// A subtree inside another one the actor has is shown once, in place.
	return slices.DeleteFunc(slices.Compact(roots), func(id string) bool {
		return slices.ContainsFunc(roots, func(other string) bool { return other != id && t.within(id, other) })
	})
}

// describe is a unit's effective MFA setting and where it comes from.
func (t tree) describe(id string) (setting, from string) {
	p := policy.Effective(t.chain(id))
	from = "inherited from " + p.MFAFrom
	if ou := t.units[id]; p.MFAFromID == id && ou.MFA != "" && ou.MFA != storage.MFAInherit {
		from = "own setting"
	}
	return string(p.MFA), from
}

func (h *Handler) showOrgUnits(rq *request) {
	h.orgUnitsPage(rq, http.StatusOK, orgUnitNotices[rq.r.URL.Query().Get("done")], nil, "")
}

func (h *Handler) orgUnitsPage(rq *request, status int, notice string, errs []templates.FormError, name string) {
	ctx := rq.ctx()
	t, err := h.svc.loadTree(ctx)
	if err != nil {
		rq.serverError(err)
		return
	}
	p := templates.OrgUnitsPage{Page: rq.page("Org units", "Org units"), Notice: notice, Errors: errs, Name: templates.Field{Value: name}}
	for _, e := range errs {
		if e.Field == "name" {
			p.Name.Error = e.Msg
		}
	}
	for _, root := range t.visibleRoots(rq.actor.User, storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		t.walk(root, 0, func(ou storage.OrgUnit, depth int) bool {
			n, err := h.store.CountUsers(ctx, ou.ID)
			if err != nil {
				h.logger.ErrorContext(ctx, "count users", "org_unit", ou.ID, "err", err)
			}
			setting, from := t.describe(ou.ID)
			p.Units = append(p.Units, templates.OrgUnitRow{ID: ou.ID, Name: ou.Name, URL: "/admin/org-units/" + ou.ID,
				Depth: depth, MFA: setting, MFAFrom: from, Users: n})
			return true
		})
	}
	p.Parents = h.editableUnits(rq, t, "")
	p.CanEdit = len(p.Parents) > 0
	h.pages.OrgUnits(rq.w, status, p)
}

// editableUnits are the units the actor may change (org admin over them),
// except exclude's subtree, as choices for a parent.
func (h *Handler) editableUnits(rq *request, t tree, exclude string) []templates.NavLink {
	var out []templates.NavLink
	for _, root := range t.visibleRoots(rq.actor.User, storage.RoleOrgAdmin) {
		t.walk(root, 0, func(ou storage.OrgUnit, depth int) bool {
			if ou.ID == exclude {
				return false
			}
			out = append(out, templates.NavLink{Label: strings.Repeat("— ", depth) + ou.Name, URL: ou.ID})
			return true
		})
	}
	return out
}

// unitName checks a unit name.
func unitName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return s, &factors.InputError{Field: "name", Msg: "Enter a name"}
	case len([]rune(s)) > 100:
		return s, &factors.InputError{Field: "name", Msg: "Use at most 100 characters"}
	}
	return s, nil
}

func (h *Handler) createOrgUnit(rq *request) {
	ctx := rq.ctx()
	parent := rq.r.PostFormValue("parent")
	if _, err := h.store.GetOrgUnit(ctx, parent); errors.Is(err, storage.ErrNotFound) {
		rq.fail(http.StatusBadRequest, "That unit is not possible", "Choose an existing unit to put it in.", "bad_parent")
		return
	} else if err != nil {
		rq.serverError(err)
		return
	}
	if !rq.allowed(parent, "", "org_unit.created", storage.RoleOrgAdmin) {
		return
	}
	name, err := unitName(rq.r.PostFormValue("name"))
	if err != nil {
		h.orgUnitsPage(rq, http.StatusUnprocessableEntity, "", formErrors(err), rq.r.PostFormValue("name"))
		return
	}
	ou := storage.OrgUnit{ID: storage.NewID(), Name: name, ParentID: parent, MFA: storage.MFAInherit, CreatedAt: h.now()}
	// The store refuses a parent deleted meanwhile.
	if err := h.store.CreateOrgUnit(ctx, ou); errors.Is(err, storage.ErrConflict) {
		rq.fail(http.StatusConflict, "That unit is not possible", "The unit you chose was deleted just now. Choose another.", "bad_parent")
		return
	} else if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(ctx, rq.actor, storage.User{OrgUnitID: ou.ID}, "org_unit.created", storage.OutcomeSuccess, map[string]string{"name": name, "parent": parent})
	rq.redirect("/admin/org-units/" + ou.ID + "?done=created")
}

// orgUnit loads the unit named in the path and checks the actor holds one
// of roles over it.
func (h *Handler) orgUnit(rq *request, action string, roles ...string) (storage.OrgUnit, tree, bool) {
	t, err := h.svc.loadTree(rq.ctx())
	if err != nil {
		rq.serverError(err)
		return storage.OrgUnit{}, t, false
	}
	ou, ok := t.units[rq.r.PathValue("id")]
	if !ok {
		rq.serverError(storage.ErrNotFound)
		return ou, t, false
	}
	return ou, t, rq.allowed(ou.ID, "", action, roles...)
}

var rememberChoices = []templates.Choice{
	{Value: "0s", Label: "Ask at every sign-in"},
	{Value: "1h0m0s", Label: "1 hour"},
	{Value: "8h0m0s", Label: "8 hours"},
	{Value: "12h0m0s", Label: "12 hours"},
	{Value: "24h0m0s", Label: "24 hours"},
	{Value: "168h0m0s", Label: "7 days"},
}

var orgUnitNotices = map[string]string{"created": "Org unit created.", "saved": "Settings saved.", "moved": "Org unit moved.", "deleted": "Org unit deleted."}

func (h *Handler) showOrgUnit(rq *request) {
	ou, t, ok := h.orgUnit(rq, "org_unit.viewed", storage.RoleOrgAdmin, storage.RoleHelpdesk)
	if !ok {
		return
	}
	h.orgUnitPage(rq, http.StatusOK, ou, t, orgUnitNotices[rq.r.URL.Query().Get("done")], nil)
}

func (h *Handler) orgUnitPage(rq *request, status int, ou storage.OrgUnit, t tree, notice string, errs []templates.FormError) {
	ctx := rq.ctx()
	canEdit, err := h.svc.Can(ctx, rq.actor.User, ou.ID, storage.RoleOrgAdmin)
	if err != nil {
		rq.serverError(err)
		return
	}
	setting, from := t.describe(ou.ID)
	p := templates.OrgUnitPage{
		Page: rq.page(ou.Name+": settings", "Org units"), ID: ou.ID, Name: ou.Name, IsRoot: ou.ParentID == "",
		CanEdit: canEdit, MFA: string(cmp.Or(ou.MFA, storage.MFAInherit)), Effective: setting + " (" + from + ")",
		MethodsOwn: len(ou.AllowedMethods) > 0, Regions: templates.Field{Value: strings.Join(ou.PhoneRegions, ", ")},
		Notice: notice, Errors: errs,
	}
	if p.IsRoot && p.MFA == string(storage.MFAInherit) {
		p.MFA = string(storage.MFAOptional)
	}
	if ou.RememberMFA != nil {
		p.Remember = ou.RememberMFA.String()
	}
	p.AppPasswords = onOff(ou.AppPasswords)
	parent := policy.Effective(t.chain(ou.ParentID))
	p.InheritedAppPasswords = parent.AppPasswords
	p.InheritedMethods = "every method Gatehouse offers"
	if parent.AllowedMethods != nil {
		p.InheritedMethods = h.methodLabels(parent.AllowedMethods)
	}
	p.InheritedRegions = "the server's default"
	if parent.PhoneRegions != nil {
		p.InheritedRegions = strings.Join(parent.PhoneRegions, ", ")
	}
	p.InheritedRemember = rememberLabel(parent.RememberMFA)
	for _, c := range rememberChoices {
		p.RememberChoices = append(p.RememberChoices, templates.Choice{Value: c.Value, Label: c.Label, Selected: c.Value == p.Remember})
	}
	for _, m := range h.methods {
		p.Methods = append(p.Methods, templates.Choice{Value: m.Value, Label: m.Label,
			Selected: len(ou.AllowedMethods) == 0 || slices.Contains(ou.AllowedMethods, m.Value)})
	}
	p.NameValue = ou.Name
	if len(errs) > 0 {
		// Show what was typed, not what is stored, next to its error.
		f := rq.r.PostForm
		p.NameValue, p.MFA, p.Regions.Value, p.Remember, p.AppPasswords = f.Get("name"), f.Get("mfa"), f.Get("regions"), f.Get("remember"), f.Get("app_passwords")
		p.MethodsOwn = f.Get("methods_mode") == "own"
		for i := range p.Methods {
			p.Methods[i].Selected = slices.Contains(f["methods"], p.Methods[i].Value)
		}
		for i := range p.RememberChoices {
			p.RememberChoices[i].Selected = p.RememberChoices[i].Value == p.Remember
		}
	}
	// The users this unit's MFA setting reaches: its own, and those of
	// units below that inherit it.
	t.walk(ou.ID, 0, func(u storage.OrgUnit, depth int) bool {
		if depth > 0 && u.MFA != "" && u.MFA != storage.MFAInherit {
			return false
		}
		n, err := h.store.CountUsers(ctx, u.ID)
		if err != nil {
			h.logger.ErrorContext(ctx, "count users", "org_unit", u.ID, "err", err)
		}
		p.Affected += n
		return true
	})
	if canEdit && !p.IsRoot {
		p.Parents = h.editableUnits(rq, t, ou.ID)
	}
	h.pages.OrgUnit(rq.w, status, p)
}

func (h *Handler) methodLabels(types []string) string {
	var labels []string
	for _, m := range h.methods {
		if slices.Contains(types, m.Value) {
			labels = append(labels, m.Label)
		}
	}
	return strings.Join(labels, ", ")
}

// saveOrgUnit saves a unit's name and MFA settings.
func (h *Handler) saveOrgUnit(rq *request) {
	ou, t, ok := h.orgUnit(rq, "org_unit.updated", storage.RoleOrgAdmin)
	if !ok {
		return
	}
	next, errs := readOrgUnit(rq.r.PostForm, ou, h.methods)
	if len(errs) == 0 {
		errs = h.checkNotLooser(rq, t, t.withUnit(next), ou.ID)
	}
	if len(errs) > 0 {
		h.orgUnitPage(rq, http.StatusUnprocessableEntity, ou, t, "", formErrors(errs...))
		return
	}
	saved, err := h.store.UpdateOrgUnit(rq.ctx(), ou.ID, func(cur storage.OrgUnit) (storage.OrgUnit, error) {
		cur.Name, cur.MFA, cur.AllowedMethods, cur.PhoneRegions, cur.RememberMFA = next.Name, next.MFA, next.AllowedMethods, next.PhoneRegions, next.RememberMFA
		cur.AppPasswords = next.AppPasswords
		return cur, nil
	})
	if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{OrgUnitID: ou.ID}, "org_unit.updated", storage.OutcomeSuccess, unitChanges(ou, saved))
	if err := h.svc.revokeAppPasswordsIn(rq.ctx(), rq.actor, forbidsAppPasswords(t, t.withUnit(saved), ou.ID)); err != nil {
		rq.serverError(err)
		return
	}
	rq.redirect("/admin/org-units/" + ou.ID + "?done=saved")
}

// readOrgUnit applies the settings form f to ou, reporting the fields it
// cannot read; methods are the method types on offer.
func readOrgUnit(f url.Values, ou storage.OrgUnit, methods []templates.Choice) (storage.OrgUnit, []error) {
	next := ou
	var errs []error
	var err error
	if next.Name, err = unitName(f.Get("name")); err != nil {
		errs = append(errs, err)
	}
	switch s := storage.MFASetting(f.Get("mfa")); s {
	case storage.MFAOptional, storage.MFAPrompted, storage.MFARequired:
		next.MFA = s
	case storage.MFAInherit:
		if ou.ParentID == "" {
			errs = append(errs, &factors.InputError{Field: "mfa", Msg: "The top unit has nothing to inherit from: choose optional, prompted or required"})
		}
		next.MFA = s
	default:
		errs = append(errs, &factors.InputError{Field: "mfa", Msg: "Choose a security policy"})
	}
	next.AllowedMethods = nil
	if f.Get("methods_mode") == "own" {
		for _, m := range f["methods"] {
			if slices.ContainsFunc(methods, func(c templates.Choice) bool { return c.Value == m }) && !slices.Contains(next.AllowedMethods, m) {
				next.AllowedMethods = append(next.AllowedMethods, m)
			}
		}
		if len(next.AllowedMethods) == 0 {
			errs = append(errs, &factors.InputError{Field: "methods", Msg: "Choose at least one method, or inherit the list"})
		}
	}
	next.PhoneRegions = nil
	if raw := strings.TrimSpace(f.Get("regions")); raw != "" {
		if next.PhoneRegions, err = otp.ParseRegions(raw); err != nil {
			errs = append(errs, &factors.InputError{Field: "regions", Msg: "Phone regions: " + err.Error()})
		}
	}
	next.RememberMFA = nil
	if raw := f.Get("remember"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || !slices.ContainsFunc(rememberChoices, func(c templates.Choice) bool { return c.Value == raw }) {
			errs = append(errs, &factors.InputError{Field: "remember", Msg: "Choose how long to remember a device"})
		}
		next.RememberMFA = &d
	}
	switch v := f.Get("app_passwords"); v {
	case "":
		next.AppPasswords = nil
	case "on", "off":
		on := v == "on"
		next.AppPasswords = &on
	default:
		errs = append(errs, &factors.InputError{Field: "app_passwords", Msg: "Choose whether app passwords are allowed"})
	}
	return next, errs
}

// onOff is a setting that may be inherited as the form shows it: "",
// "on" or "off".
func onOff(p *bool) string {
	switch {
	case p == nil:
		return ""
	case *p:
		return "on"
	}
	return "off"
}

// floor is the policy the actor may not loosen anything below: that of
// the nearest unit above id they are not an org admin of, found in the
// tree in hand. ok is false for an actor whose scope reaches the root.
func (t tree) floor(actor storage.User, id string) (p policy.OrgPolicy, from storage.OrgUnit, ok bool) {
	if isGlobal(actor) {
		return p, from, false
	}
	chain := t.chain(t.units[id].ParentID)
	for i, ou := range chain {
		if !slices.ContainsFunc(actor.Roles, func(b storage.RoleBinding) bool {
			return b.Role == storage.RoleOrgAdmin && t.within(ou.ID, b.OrgUnitID)
		}) {
			return policy.Effective(chain[i:]), ou, true
		}
	}
	return p, from, false
}

// withUnit is t with ou in place of the unit with its id, as a change
// would leave it.
func (t tree) withUnit(ou storage.OrgUnit) tree {
	units := maps.Clone(t.units)
	units[ou.ID] = ou
	return tree{units: units, children: t.children, root: t.root}
}

// checkNotLooser refuses a change, from tree before to tree after, that
// leaves unit id's effective policy looser on some setting than what the
// nearest unit outside the actor's scope imposes, where the change made it
// so: the setting was within that bound before, or it got looser still, or
// the bound is another unit now (a move never carries a looseness someone
// else allowed under one bound to another).
// An org admin of a ward cannot undo, there or in a unit they create or
// move below it, what the trust above it requires. Each refused setting
// is one error.
func (h *Handler) checkNotLooser(rq *request, before, after tree, id string) []error {
	floor, from, ok := after.floor(rq.actor.User, id)
	if !ok {
		return nil
	}
	was, is := policy.Effective(before.chain(id)), policy.Effective(after.chain(id))
	var wasBelow []string
	if oldFloor, oldFrom, ok := before.floor(rq.actor.User, id); ok && oldFrom.ID == from.ID {
		wasBelow = was.LooserThan(oldFloor, h.svc.regions)
	}
	loosened := is.LooserThan(was, h.svc.regions)
	var errs []error
	for _, setting := range is.LooserThan(floor, h.svc.regions) {
		if slices.Contains(wasBelow, setting) && !slices.Contains(loosened, setting) {
			continue // as loose as it was, under the same bound: not this change's doing
		}
		var msg string
		switch setting {
		case policy.SettingMFA:
			msg = fmt.Sprintf("%s, above this unit, makes MFA %s; only an admin of %[1]s can make it looser here", floor.MFAFrom, floor.MFA)
		case policy.SettingMethods:
			msg = fmt.Sprintf("%s, above this unit, allows only %s; only an admin of %[1]s can allow more here", from.Name, h.methodLabels(floor.AllowedMethods))
		case policy.SettingRegions:
			msg = fmt.Sprintf("%s, above this unit, accepts phone numbers from %s only; only an admin of %[1]s can accept more here", from.Name, strings.Join(h.svc.phoneRegions(after, from.ID), ", "))
		case policy.SettingRemember:
			msg = fmt.Sprintf("%s, above this unit, remembers a device for at most %s; only an admin of %[1]s can make it longer here", from.Name, rememberLabel(floor.RememberMFA))
		case policy.SettingAppPasswords:
			msg = fmt.Sprintf("%s, above this unit, does not allow app passwords; only an admin of %[1]s can allow them here", from.Name)
		default:
			msg = fmt.Sprintf("%s, above this unit, does not allow this %s; only an admin of %[1]s can", from.Name, setting)
		}
		errs = append(errs, &factors.InputError{Field: setting, Msg: msg})
	}
	return errs
}

// checkMove applies checkNotLooser to every unit that moving id under
// parent takes along.
func (h *Handler) checkMove(rq *request, t tree, id, parent string) []error {
	ou := t.units[id]
	ou.ParentID = parent
	moved := t.withUnit(ou)
	var errs []error
	t.walk(id, 0, func(u storage.OrgUnit, _ int) bool {
		errs = append(errs, h.checkNotLooser(rq, t, moved, u.ID)...)
		return len(errs) == 0
	})
	return errs
}

// rememberLabel is how the settings page words a remember window.
func rememberLabel(d time.Duration) string {
	for _, c := range rememberChoices {
		if c.Value == d.String() {
			return strings.ToLower(c.Label)
		}
	}
	return d.String()
}

// unitChanges lists what changed, before and after, for the audit log.
func unitChanges(before, after storage.OrgUnit) map[string]string {
	d := map[string]string{}
	remember := func(p *time.Duration) string {
		if p == nil {
			return "inherit"
		}
		return p.String()
	}
	for _, c := range []struct{ k, a, b string }{
		{"name", before.Name, after.Name},
		{"mfa", string(before.MFA), string(after.MFA)},
		{"allowed_methods", strings.Join(before.AllowedMethods, ","), strings.Join(after.AllowedMethods, ",")},
		{"phone_regions", strings.Join(before.PhoneRegions, ","), strings.Join(after.PhoneRegions, ",")},
		{"remember_mfa", remember(before.RememberMFA), remember(after.RememberMFA)},
		{"app_passwords", cmp.Or(onOff(before.AppPasswords), "inherit"), cmp.Or(onOff(after.AppPasswords), "inherit")},
	} {
		if c.a != c.b {
			d[c.k] = c.a + " -> " + c.b
		}
	}
	return d
}

func (h *Handler) moveOrgUnit(rq *request) {
	ou, t, ok := h.orgUnit(rq, "org_unit.moved", storage.RoleOrgAdmin)
	if !ok {
		return
	}
	parent := rq.r.PostFormValue("parent")
	if _, exists := t.units[parent]; !exists || ou.ParentID == "" {
		rq.fail(http.StatusBadRequest, "That move is not possible", "Choose an existing unit; the top unit cannot move.", "bad_move")
		return
	}
	if !rq.allowed(parent, "", "org_unit.moved", storage.RoleOrgAdmin) {
		return
	}
	if t.within(parent, ou.ID) {
		rq.fail(http.StatusBadRequest, "That move is not possible", "A unit cannot move under itself or one of its own units.", "bad_move")
		return
	}
	if errs := h.checkMove(rq, t, ou.ID, parent); len(errs) > 0 {
		rq.fail(http.StatusUnprocessableEntity, "That move is not possible", formErrors(errs[0])[0].Msg+".", "bad_move")
		return
	}
	// The store checks the tree again as it writes: a parent deleted, or a
	// move that would make a cycle with another made meanwhile, is refused.
	if _, err := h.store.UpdateOrgUnit(rq.ctx(), ou.ID, func(cur storage.OrgUnit) (storage.OrgUnit, error) {
		cur.ParentID = parent
		return cur, nil
	}); errors.Is(err, storage.ErrConflict) {
		rq.fail(http.StatusConflict, "That move is not possible", "The tree changed just now: the unit you chose was deleted, or moved under this one. Reload and try again.", "bad_move")
		return
	} else if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{OrgUnitID: ou.ID}, "org_unit.moved", storage.OutcomeSuccess, map[string]string{"from": ou.ParentID, "to": parent})
	rq.redirect("/admin/org-units/" + ou.ID + "?done=moved")
}

func (h *Handler) deleteOrgUnit(rq *request) {
	ou, _, ok := h.orgUnit(rq, "org_unit.deleted", storage.RoleOrgAdmin)
	if !ok {
		return
	}
	if ou.ParentID == "" {
		rq.fail(http.StatusBadRequest, "The top unit cannot be deleted", "Every user belongs somewhere.", "bad_delete")
		return
	}
	if !rq.confirmed("Delete "+ou.Name+"?", "The unit is removed for good. Only an empty unit (no users, no units below it) can be deleted.", "Delete "+ou.Name, "/admin/org-units/"+ou.ID) {
		return
	}
	err := h.store.DeleteOrgUnit(rq.ctx(), ou.ID)
	if errors.Is(err, storage.ErrNotEmpty) {
		rq.fail(http.StatusConflict, ou.Name+" is not empty", "Move its users and units elsewhere first.", "not_empty")
		return
	}
	if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{OrgUnitID: ou.ID}, "org_unit.deleted", storage.OutcomeSuccess, map[string]string{"name": ou.Name})
	rq.redirect("/admin/org-units?done=deleted")
}

// formErrors turns refused fields into an error summary.
func formErrors(errs ...error) []templates.FormError {
	var out []templates.FormError
	for _, err := range errs {
		var ie *factors.InputError
		if errors.As(err, &ie) {
			out = append(out, templates.FormError{Field: ie.Field, Msg: ie.Msg})
		}
	}
	return out
}

// phoneRegions are the regions whose numbers an org unit accepts: its
// own or inherited setting, else the server's default.
func (s *Service) phoneRegions(t tree, ouID string) []string {
	if r := policy.Effective(t.chain(ouID)).PhoneRegions; len(r) > 0 {
		return r
	}
	return s.regions
}

// forbidsAppPasswords are the units in id's subtree that allowed app
// passwords in before and do not in after.
func forbidsAppPasswords(before, after tree, id string) []string {
	var ids []string
	after.walk(id, 0, func(ou storage.OrgUnit, _ int) bool {
		if policy.Effective(before.chain(ou.ID)).AppPasswords && !policy.Effective(after.chain(ou.ID)).AppPasswords {
			ids = append(ids, ou.ID)
		}
		return true
	})
	return ids
}

// revokeAppPasswordsIn revokes the app passwords of the users of units, a
// page of users a write; the unit change's audit event says why.
func (s *Service) revokeAppPasswordsIn(ctx context.Context, a Actor, units []string) error {
	q := storage.UserQuery{OrgUnitIDs: units, Limit: 100}
	for len(units) > 0 {
		page, err := s.store.SearchUsers(ctx, q)
		if err != nil {
			return fmt.Errorf("search users: %w", err)
		}
		if err := s.store.Atomically(ctx, func(tx storage.Tx) error {
			for _, u := range page.Users {
				if err := tx.DeleteUserAppPasswords(u.ID); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("revoke app passwords: %w", err)
		}
		if q.Cursor = page.Next; q.Cursor == "" {
			return nil
		}
	}
	return nil
}
