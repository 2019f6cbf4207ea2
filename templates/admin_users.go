package templates

import (
	"net/http"
	"time"
)

// UsersPage is the user search: the filters, one page of results and the
// links to the next page and back to the first.
type UsersPage struct {
	Page
	Notice string
	Text   string
	// Units are the org units the admin may filter by, indented by depth;
	// AllUnits names the choice that filters by none.
	Units    []Choice
	AllUnits string
	MFA      []Choice
	Methods  []Choice
	Rows     []UserRow
	// Next and First are links; empty when there is no next page, or when
	// this is the first.
	Next, First string
	CanCreate   bool
}

// UserRow is one user in the search results.
type UserRow struct {
	ID, Username, Name, Email, OrgUnit string
	MFA, Disabled                      bool
	Methods                            []string // labels
}

// TextField is one text input of an admin form: its id is also its name.
type TextField struct {
	ID, Label, Type string
	Hint            string
	Autocomplete    string
	MaxLength       int
	Field
}

// NewUserPage creates a user.
type NewUserPage struct {
	Page
	Fields  []TextField
	Units   []Choice
	UnitErr string
	Errors  []FormError
}

// UserPage is one user: what their next sign-in will be, methods, a
// temporary access pass, exceptions, recent sign-ins, details, org unit
// and roles, and the forms the admin may use.
type UserPage struct {
	Page
	ID, Username, Name string
	Email              string
	OrgUnitID, OrgUnit string
	Disabled           bool
	MustChangePassword bool
	// OneTimePasswordExpires is when the one-time password stops working,
	// with MustChangePassword; OneTimePasswordExpired once it has.
	OneTimePasswordExpires time.Time
	OneTimePasswordExpired bool
	MFAEnabled             bool
	Created                time.Time
	PasswordChanged        time.Time
	// NextSignIn is what the user will meet at their next sign-in, and
	// NextSignInWhy why.
	NextSignIn, NextSignInWhy string
	Roles                     []RoleRow
	Methods                   []UserMethodRow
	// Pass is the user's temporary access pass in force, if any; CanHelp
	// says the admin may do what the helpdesk does for a lost device (issue
	// or revoke a pass, remove one method), and PassLifetimes are the
	// choices of how long a pass lasts.
	Pass          *PassRow
	CanHelp       bool
	PassLifetimes []Choice
	Exceptions    []UserExceptionRow
	SignIns       []SignInRow
	// Notices are the newest notices sent to the user.
	Notices []NoticeRow
	// What the admin may do here.
	CanEdit, CanResetMFA, CanExceptions, CanRoles bool
	// Self is set on the admin's own page: no disabling themselves.
	Self bool
	// Edit is the details form; MoveTo the units the user may move to.
	Edit      []TextField
	MoveTo    []Choice
	RoleTypes []Choice
	RoleUnits []Choice
	Notice    string
	Errors    []FormError
}

// PassRow is a temporary access pass in force.
type PassRow struct {
	Expires  time.Time
	Reusable bool
}

// RoleRow is one role a user holds; Value identifies it to the remove
// form.
type RoleRow struct {
	Label, Unit, Value string
}

// UserMethodRow is one of a user's methods, as an admin sees it: never a
// secret, and only a masked target. Phone says which of the user's
// phones a text or call method's number is: "Alternate phone
// (landline)".
type UserMethodRow struct {
	ID                         string
	Label, Name, Phone, Target string
	Added, LastUsed            time.Time
	Preferred                  bool
}

// UserExceptionRow is one of a user's MFA exceptions.
type UserExceptionRow struct {
	State, Kind, Reason    string
	RequestedBy, DecidedBy string
	RequestedAt, ExpiresAt time.Time
}

// SignInRow is one recent sign-in step from the audit log.
type SignInRow struct {
	At                      time.Time
	Event, Outcome, App, IP string
}

// NoticeRow is one notice to a user: when it was made, what it said, to
// whom, and how sending it went.
type NoticeRow struct {
	At                    time.Time
	Subject, To, Delivery string
}

// UserMFAPage is a user's MFA settings: the switch to turn MFA off,
// which removes every method.
type UserMFAPage struct {
	Page
	ID, Name   string
	MFAEnabled bool
	Methods    int
	Error      string
	Errors     []FormError
}

func (t *Templates) AdminUsers(w http.ResponseWriter, status int, p UsersPage) {
	t.render(w, status, "admin_users", p)
}

func (t *Templates) AdminNewUser(w http.ResponseWriter, status int, p NewUserPage) {
	t.render(w, status, "admin_user_new", p)
}

func (t *Templates) AdminUser(w http.ResponseWriter, status int, p UserPage) {
	t.render(w, status, "admin_user", p)
}

func (t *Templates) AdminUserMFA(w http.ResponseWriter, status int, p UserMFAPage) {
	t.render(w, status, "admin_user_mfa", p)
}
