package templates

import (
	"net/http"
	"time"
)

// ExceptionFormPage grants a user a short-term exception, or asks for a
// long-term one: two forms, each with its own reasons.
type ExceptionFormPage struct {
	Page
	UserID, UserName, Username string
	// Active describes the user's exception in force, if any.
	Active string
	// Kind is the form that was sent back with errors: short_term or
	// long_term.
	Kind         string
	ShortReasons []Choice
	LongReasons  []Choice
	// ShortNote and LongNote are each form's note; Evidence the long-term
	// form's evidence. ShortReason and LongReason carry each form's
	// reason error.
	ShortNote, LongNote, Evidence Field
	ShortReason, LongReason       Field
	// Rejected says the long-term request was recorded as rejected.
	Rejected bool
	Errors   []FormError
}

// ExceptionsPage is the approval queue and the exceptions in force (those
// ending soon marked), for the users an admin looks after.
type ExceptionsPage struct {
	Page
	Notice  string
	Errors  []FormError
	Pending []ExceptionRow
	Active  []ExceptionRow
	// Username is the "find a user" form's field.
	Username Field
}

// ExceptionRow is one exception with the names of those involved.
type ExceptionRow struct {
	ID               string
	UserID, UserName string
	Kind, KindLabel  string
	Reason           string // the reason's words
	Note, Evidence   string
	RequestedBy      string
	RequestedAt      time.Time
	DecidedBy        string
	DecidedAt        time.Time
	DecisionNote     string
	ExpiresAt        time.Time
	EndsIn           string // "in 5 hours"
	// EndingSoon marks one in force that ends soon: 48 hours for a
	// short-term exception, 14 days for a long-term one.
	EndingSoon            bool
	CanDecide, OwnRequest bool
}

func (t *Templates) AdminExceptionForm(w http.ResponseWriter, status int, p ExceptionFormPage) {
	t.render(w, status, "admin_exception_new", p)
}

func (t *Templates) AdminExceptions(w http.ResponseWriter, status int, p ExceptionsPage) {
	t.render(w, status, "admin_exceptions", p)
}
