package login

import (
	"net/http"
	"net/url"
	"regexp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The enrolment step: the org unit prompts for (or requires) MFA and the
// user has no method. The page links to Security info's enrolment, which
// comes back here when done; the dispatcher then challenges the new method.
// "Not now" is offered only where MFA is prompted, not required.

func (h *Handler) showSetup(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, up userPolicy, d policy.Decision) {
	back := journeyURL(a.ID)
	p := templates.SetupPage{
		Page:          templates.Page{Title: "Set up multi-factor authentication", CSRF: h.csrfToken(r)},
		AuthRequestID: a.ID,
		Required:      d.Outcome == policy.RequireEnrolment,
	}
	for _, t := range methodOrder {
		if f, ok := h.factors[t].(factors.Enroller); ok && up.org.Allows(t) {
			p.Methods = append(p.Methods, templates.MethodType{Type: t, Label: f.Label(),
				URL: securityPath + "/add/" + t + "?return=" + url.QueryEscape(back)})
		}
	}
	h.pages.Setup(w, http.StatusOK, p)
}

// postNotNow records "Not now" for this sign-in; the policy lets it count
// only where MFA is prompted.
func (h *Handler) postNotNow(w http.ResponseWriter, r *http.Request) {
	a, ok := h.formRequest(w, r, StepEnrol)
	if !ok {
		return
	}
	if _, ok := h.advance(w, r, a, EvNotNow, func(a *storage.AuthRequest) { a.EnrolmentDeclined = true }); ok {
		h.audit(r, storage.AuditEvent{Actor: a.UserID, Subject: a.UserID, Action: "mfa.enrolment_declined", Outcome: storage.OutcomeSuccess,
			Details: map[string]string{"auth_request": a.ID, "client_id": a.ClientID}})
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
	}
}

// journeyReturn matches the only place enrolment may send the browser
// back to besides Security info: a sign-in in progress.
var journeyReturn = regexp.MustCompile(`^/login\?id=[A-Za-z0-9_-]+$`)

// returnPath is the validated return path of an enrolment form, or "".
func returnPath(r *http.Request) string {
	if v := r.FormValue("return"); journeyReturn.MatchString(v) {
		return v
	}
	return ""
}
