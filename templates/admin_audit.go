package templates

import (
	"net/http"
	"time"
)

// AuditPage is the audit log: a filter form and one page of events,
// newest first.
type AuditPage struct {
	Page
	Errors []FormError
	// The filters as typed. User is a username or email address; Action
	// an action, or the start of one ending in a dot; From and To dates
	// (yyyy-mm-dd, UTC days).
	User, Action, From, To Field
	// Units are the org units the admin may filter by, indented by depth
	// (the selected one Selected); Outcomes the outcomes, likewise.
	Units    []Choice
	Outcomes []Choice
	// Shown is false when the filters were refused: no table then.
	Shown  bool
	Events []AuditRow
	// Older is the next page's URL, "" on the last page; Newest the first
	// page's, "" on it. Export is the JSON Lines download of every match.
	Older, Newest, Export string
}

// AuditRow is one event, with names where they could be found.
type AuditRow struct {
	ID   string
	Time time.Time
	// Actor and Subject are usernames, or the stored id when no user has
	// it; their URLs filter the log by that user ("" when not a user).
	Actor, ActorURL     string
	Subject, SubjectURL string
	Unit                string // the org unit's name, or its id if it is gone
	Action, Outcome     string
	IP, UserAgent       string
	Details             []string // key=value, by key
}

func (t *Templates) AdminAudit(w http.ResponseWriter, status int, p AuditPage) {
	t.render(w, status, "admin_audit", p)
}
