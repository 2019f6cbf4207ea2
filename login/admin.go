package login

import (
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Admin pages use the same sign-in as everything else, with more asked of
// it: a second factor (which no exception or remembered device waives), a
// role, and activity within AdminIdle, after which the password and a
// second factor are asked again.

// AdminIdle is how long an admin session may sit unused.
const AdminIdle = 15 * time.Minute

// AdminSession returns the signed-in admin behind r and marks the session
// active. Otherwise it has answered the request (sent the browser to sign
// in and come back, or refused a user without a role) and ok is false.
func (h *Handler) AdminSession(w http.ResponseWriter, r *http.Request) (u storage.User, ok bool) {
	sess, u, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return u, false
	}
	back := "/admin"
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/admin") {
		back = r.URL.RequestURI()
	}
	if sess == nil {
		h.startInternal(w, r, back, nil, policy.AnySession)
		return u, false
	}
	if len(u.Roles) == 0 {
		h.auditUser(r, u, "admin.access", storage.OutcomeDenied, map[string]string{"path": r.URL.Path, "reason": "no admin role"})
		h.errorPage(w, r, http.StatusForbidden, "You don't have access to this page",
			"The admin pages are for admins and the helpdesk. Go back to the app you were using.", "forbidden")
		return u, false
	}
	now := h.cfg.Now()
	switch {
	case now.Sub(sess.LastSeenAt) > AdminIdle:
		h.startInternal(w, r, back, sess, policy.AdminReauth)
		return u, false
	case !policy.HasMFA(sess.AMR):
		h.startInternal(w, r, back, sess, policy.AdminMFA)
		return u, false
	}
	if _, err := h.store.UpdateSession(r.Context(), sess.ID, func(s storage.Session) (storage.Session, error) {
		s.LastSeenAt = now
		return s, nil
	}); err != nil {
		h.serverError(w, r, err)
		return u, false
	}
	return u, true
}

// CSRFToken is the form token for r's browser, for admin forms.
func (h *Handler) CSRFToken(w http.ResponseWriter, r *http.Request) string {
	return h.csrfToken(h.ensureBrowser(w, r))
}

// ValidCSRF reports whether r's form carries its browser's form token.
func (h *Handler) ValidCSRF(r *http.Request) bool { return h.validCSRF(r) }
