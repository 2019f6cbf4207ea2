package login

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The enrolment step: the org unit prompts for (or requires) MFA and the
// user has no method. The page links to Security info's enrolment, which
// comes back here when done, the new method's first answer counted as the
// sign-in's second factor (see countEnrolment).
// "Not now" is offered only where MFA is prompted, not required.

func (h *Handler) showSetup(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, up userPolicy, d policy.Decision) {
	back := journeyURL(a.ID)
	p := templates.SetupPage{
		Page:          h.signedInPage(r, "Set up multi-factor authentication"),
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

// countEnrolment makes a method set up during a sign-in (the enrolment
// step of the auth request back names, in this browser and session) that
// sign-in's second factor: the user who has just typed its first code is
// not asked for another seconds later, and the token claims that method.
// Never under an MFA exception: someone holding only the password then
// would get acr mfa.
func (h *Handler) countEnrolment(w http.ResponseWriter, r *http.Request, acct account, back string, f factors.Enroller, m storage.Method) error {
	ctx := r.Context()
	a, err := h.store.GetAuthRequest(ctx, strings.TrimPrefix(back, "/login?id="))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get auth request: %w", err)
	}
	now := h.cfg.Now()
	if _, excepted := policy.ActiveException(acct.policy.user.Exceptions, now); excepted ||
		stepOf(a) != StepEnrol || a.SessionID != acct.sess.ID || !h.sameBrowser(r, a) {
		return nil
	}
	acr, amr := policy.ProofOf(m.Type, f.AMR(m))
	sess, err := h.startSession(w, r, acct.user.ID, proof{amr: amr, acr: string(acr), authTime: now, mfaAt: now})
	if err != nil {
		return err
	}
	_, err = h.store.UpdateAuthRequest(ctx, a.ID, func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		to, ok := next(stepOf(cur), EvEnrolled)
		if !ok || cur.SessionID != acct.sess.ID {
			return cur, errAdvanced
		}
		cur.Step, cur.SessionID = string(to), sess.ID
		return cur, nil
	})
	if errors.Is(err, errAdvanced) {
		return nil // another tab moved it on; the dispatcher shows what comes next
	}
	return err
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
