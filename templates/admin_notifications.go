package templates

import "net/http"

// NotificationsPage turns the messages Gatehouse sends on or off, one
// event at a time (global admins only).
type NotificationsPage struct {
	Page
	Notice string
	// Events are the events people are told of: Value the event, Label
	// the message's subject, Selected when it is sent.
	Events []Choice
}

func (t *Templates) AdminNotifications(w http.ResponseWriter, status int, p NotificationsPage) {
	t.render(w, status, "admin_notifications", p)
}
