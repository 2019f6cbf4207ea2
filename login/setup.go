package login

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
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

func (h *Handler) showSetup(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, up userPolicy, d policy.Decision, proved bool) {
	back := journeyURL(a.ID)
	p := templates.SetupPage{
		Page:          h.signedInPage(r, "Set up multi-factor authentication"),
		AuthRequestID: a.ID,
		Required:      d.Outcome == policy.RequireEnrolment,
		Proved:        proved,
	}
	p.Methods = h.toAdd(up.org, func(t string) string { return securityPath + "/add/" + t + "?return=" + url.QueryEscape(back) })
	h.pages.Setup(w, http.StatusOK, p)
}

// defaultOffer is the order methods are offered to add in, by default: an
// authenticator app first, as NHSmail recommends (it works without signal
// and sends nothing that could be intercepted or cost money), then a
// security key or passkey, then the methods that need a phone line or a
// mailbox.
var defaultOffer = []string{storage.MethodTOTP, storage.MethodWebAuthn, storage.MethodSMS, storage.MethodVoice, storage.MethodEmail}

// OfferOrder is the order methods are offered to add in: the types listed
// first, in their order, then the rest in the default order. The first a
// user's org unit allows is the one recommended. An unknown or repeated
// type is an error.
func OfferOrder(listed []string) ([]string, error) {
	order := make([]string, 0, len(defaultOffer))
	for _, t := range listed {
		switch {
		case !slices.Contains(defaultOffer, t):
			return nil, fmt.Errorf("%q is not a method type: the types are %s", t, strings.Join(defaultOffer, ", "))
		case slices.Contains(order, t):
			return nil, fmt.Errorf("%q is listed twice", t)
		}
		order = append(order, t)
	}
	for _, t := range defaultOffer {
		if !slices.Contains(order, t) {
			order = append(order, t)
		}
	}
	return order, nil
}

// toAdd lists the methods a user under org may add, in the offer order,
// the first one recommended; addURL says where each is added.
func (h *Handler) toAdd(org policy.OrgPolicy, addURL func(t string) string) []templates.MethodType {
	var out []templates.MethodType
	for _, t := range h.offerOrder {
		if f := h.enroller(org, t); f != nil {
			out = append(out, templates.MethodType{Type: t, Label: f.Label(), Description: f.Description(), URL: addURL(t), Recommended: len(out) == 0})
		}
	}
	return out
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
