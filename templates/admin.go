package templates

import "net/http"

// The admin pages share the layout (with Page.Admin set) and these
// building blocks: a confirmation step for anything destructive, and a
// notice page for results shown once (a one-time password, a secret).

// Field is a form field's value and its error, for pages that show a form
// again with an error summary linking to each field.
type Field struct{ Value, Error string }

// FormError is one entry of a form's error summary.
type FormError struct{ Field, Msg string }

// AdminHomePage is the admin start page.
type AdminHomePage struct {
	Page
	PendingRequests  int
	ActiveExceptions int
	Sections         []NavLink
}

// AdminConfirmPage asks "Are you sure?" before a destructive action: a
// form posting Fields (and confirm=yes) to Action.
type AdminConfirmPage struct {
	Page
	Heading, Message string
	Action           string
	Fields           map[string]string
	Confirm          string // the button's label
	Cancel           string // where "Cancel" goes
}

// AdminNoticePage reports a result, with a value shown once (Secret) and
// what to do next.
type AdminNoticePage struct {
	Page
	Heading, Message string
	SecretLabel      string
	Secret           string
	Next             []string
	Back             NavLink
}

// OrgUnitsPage is the org-unit tree.
type OrgUnitsPage struct {
	Page
	Units []OrgUnitRow
	// Parents are the units a new unit may go under.
	Parents []NavLink
	CanEdit bool
	Notice  string
	Errors  []FormError
	Name    Field
}

// OrgUnitRow is one unit in the tree, Depth levels down.
type OrgUnitRow struct {
	ID, Name, URL string
	Depth         int
	MFA           string // effective setting
	MFAFrom       string // "own setting" or "inherited from X"
	Users         int
}

// OrgUnitPage is one unit's settings: Settings -> Multi-Factor
// Authentication (MFA), rename, move and delete.
type OrgUnitPage struct {
	Page
	ID, Name string
	// NameValue is the name field's value: what was typed, after an error.
	NameValue string
	IsRoot    bool
	CanEdit   bool
	MFA       string // the unit's own setting, inherit included
	Effective string // what applies, and from where
	// Methods are every method type with whether the unit allows it;
	// MethodsOwn is true when the unit sets its own list.
	Methods           []Choice
	MethodsOwn        bool
	InheritedMethods  string
	Regions           Field // comma-separated; empty inherits
	InheritedRegions  string
	Remember          string // "" inherits, else a duration such as 12h
	RememberChoices   []Choice
	InheritedRemember string
	// AppPasswords is "" (inherit), "on" or "off"; InheritedAppPasswords
	// what inheriting gives.
	AppPasswords          string
	InheritedAppPasswords bool
	Affected              int // users the MFA setting applies to
	Parents               []NavLink
	Notice                string
	Errors                []FormError
}

// Choice is one option of a radio group, select or checkbox list.
type Choice struct {
	Value, Label string
	Selected     bool
}

func (t *Templates) AdminHome(w http.ResponseWriter, status int, p AdminHomePage) {
	t.render(w, status, "admin_home", p)
}

func (t *Templates) AdminConfirm(w http.ResponseWriter, status int, p AdminConfirmPage) {
	t.render(w, status, "admin_confirm", p)
}

func (t *Templates) AdminNotice(w http.ResponseWriter, status int, p AdminNoticePage) {
	t.render(w, status, "admin_notice", p)
}

func (t *Templates) OrgUnits(w http.ResponseWriter, status int, p OrgUnitsPage) {
	t.render(w, status, "admin_org_units", p)
}

func (t *Templates) OrgUnit(w http.ResponseWriter, status int, p OrgUnitPage) {
	t.render(w, status, "admin_org_unit", p)
}
