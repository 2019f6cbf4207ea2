package templates

import (
	"net/http"
	"time"
)

// AppsPage lists the protected apps.
type AppsPage struct {
	Page
	Notice string
	Apps   []AppRow
}

// AppRow is one protected app in the list.
type AppRow struct {
	ID, Name, Host, PathPrefix, MinimumACR string
	// Units name the org units whose people may use the app; none: everyone.
	Units                    []string
	Exceptions, AppPasswords bool
}

// AppPage registers a protected app (no ID) or edits one.
type AppPage struct {
	Page
	ID string
	// Name is the stored name, for the heading: the form's is in Fields.
	Name      string
	CreatedAt time.Time
	// Fields are the name, host and path prefix.
	Fields []TextField
	ACRs   []Choice
	// Units are every org unit, in tree order, selected where the app
	// lets in its people.
	Units                    []UnitChoice
	Exceptions, AppPasswords bool
	Notice                   string
	Errors                   []FormError
}

// UnitChoice is an org unit to tick, Depth levels down the tree.
type UnitChoice struct {
	Choice
	Depth int
}

func (t *Templates) AdminApps(w http.ResponseWriter, status int, p AppsPage) {
	t.render(w, status, "admin_apps", p)
}

func (t *Templates) AdminApp(w http.ResponseWriter, status int, p AppPage) {
	t.render(w, status, "admin_app", p)
}
