package templates

import (
	"net/http"
	"time"
)

// AppPasswordsSection is the app passwords part of Security info.
type AppPasswordsSection struct {
	Rows []AppPasswordRow
	// CanCreate: the user may make one more (their unit allows them, they
	// hold no role, and they have fewer than Max).
	CanCreate bool
	Max       int
}

// AppPasswordRow is one app password: its name, when it was made, and
// when and from where it last worked.
type AppPasswordRow struct {
	ID, Name   string
	Created    time.Time
	LastUsed   time.Time
	LastUsedIP string
}

// NewAppPasswordPage names a new app password.
type NewAppPasswordPage struct {
	Page
	Name   Field
	Errors []FormError
}

// AppPasswordCreatedPage shows a new app password, once.
type AppPasswordCreatedPage struct {
	Page
	Name, Password string
}

func (t *Templates) NewAppPassword(w http.ResponseWriter, status int, p NewAppPasswordPage) {
	t.render(w, status, "app_password_new", p)
}

func (t *Templates) AppPasswordCreated(w http.ResponseWriter, status int, p AppPasswordCreatedPage) {
	t.render(w, status, "app_password_created", p)
}
