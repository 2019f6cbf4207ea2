package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The second-factor step: the dispatcher shows a challenge for the chosen
// (or preferred) method; the answer posts to /login/second-factor. The
// journey, not the factor, owns what every method shares: binding the
// challenge to this sign-in, counting guesses (five per challenge),
// throttling per user and method, single use, audit, and a new session id
// once the factor has passed.

const maxGuesses = 5

// methodOrder is the order a user's own methods are listed and chosen
// from, strongest first; recovery codes come last, as the way out. (New
// methods are offered in OfferOrder.)
var methodOrder = []string{storage.MethodWebAuthn, storage.MethodTOTP, storage.MethodSMS, storage.MethodVoice, storage.MethodEmail, storage.MethodRecovery, storage.MethodPass}

// sends reports whether a method type sends something (a code, a call)
// that costs money and can be aimed at someone else.
func sends(t string) bool {
	return t == storage.MethodEmail || t == storage.MethodSMS || t == storage.MethodVoice
}

// pickMethod returns the method to challenge from the user's usable
// methods: the one the user chose, else the preferred one, else the first
// in methodOrder; only of allowed types when the decision names some.
func pickMethod(u storage.User, methods []storage.Method, chosen string, allowed []string) (storage.Method, bool) {
	ok := func(m storage.Method) bool { return len(allowed) == 0 || slices.Contains(allowed, m.Type) }
	// A temporary access pass was issued because the user's own methods
	// are out of reach: it comes first, unless they choose another.
	pass := ""
	if i := slices.IndexFunc(methods, func(m storage.Method) bool { return m.Type == storage.MethodPass }); i >= 0 {
		pass = methods[i].ID
	}
	for _, id := range []string{chosen, pass, u.PreferredMethod} {
		for _, m := range methods {
			if id != "" && m.ID == id && ok(m) {
				return m, true
			}
		}
	}
	for _, t := range methodOrder {
		for _, m := range methods {
			if m.Type == t && ok(m) {
				return m, true
			}
		}
	}
	return storage.Method{}, false
}

// showChallenge shows the challenge for the request's method to the
// session's user u, starting one (which may send a code) only when none is
// outstanding. msg is an error; status 202 says, without one, that the
// call is not answered yet.
func (h *Handler) showChallenge(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, u storage.User, up userPolicy, allowed []string, status int, msg string) {
	ctx := r.Context()
	methods := up.methods
	m, ok := pickMethod(u, methods, a.MethodID, allowed)
	if !ok {
		h.serverError(w, r, fmt.Errorf("no usable method for user %s", u.ID))
		return
	}
	c, err := h.store.GetChallenge(ctx, a.ChallengeID)
	if err != nil || c.AuthRequestID != a.ID || c.MethodID != m.ID || !h.cfg.Now().Before(c.ExpiresAt) {
		if c, err = h.beginChallenge(w, r, a, u, m); err != nil {
			return
		}
	}
	var p factors.Prompt
	json.Unmarshal(c.Prompt, &p)
	others := 0
	for _, o := range methods {
		if o.ID != m.ID && (len(allowed) == 0 || slices.Contains(allowed, o.Type)) {
			others++
		}
	}
	h.pages.Challenge(w, status, templates.ChallengePage{
		Page:          h.signedInPage(r, "Verify it's you"),
		AuthRequestID: a.ID,
		MethodLabel:   h.factors[m.Type].Label(),
		MethodName:    factors.MethodName(m, h.factors[m.Type].Label()),
		Kind:          p.Kind,
		Message:       p.Message,
		Options:       string(p.Options),
		CanResend:     sends(m.Type),
		OtherMethods:  others > 0,
		RememberFor:   rememberFor(up),
		Error:         msg,
		Waiting:       status == http.StatusAccepted,
	})
}

// rememberFor is the window a user may ask this browser to be remembered
// for, in words, or "" when there is none (or their role forbids it).
func rememberFor(up userPolicy) string {
	if up.org.RememberMFA <= 0 || up.user.Privileged {
		return ""
	}
	return humanDuration(up.org.RememberMFA)
}

// beginChallenge starts a challenge of m for this sign-in and records it on
// the auth request. It has answered the request when err is not nil.
func (h *Handler) beginChallenge(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, u storage.User, m storage.Method) (storage.Challenge, error) {
	ctx := r.Context()
	if sends(m.Type) {
		// Every code sent or call placed is charged, however it was asked
		// for (first view, resend, another method, a retired challenge), so
		// a password alone cannot flood the user's phone.
		if _, err := h.throttle.charge(ctx, "send:"+u.ID, h.cfg.SendThrottle); err != nil {
			var locked errThrottled
			if !errors.As(err, &locked) {
				h.serverError(w, r, err)
				return storage.Challenge{}, err
			}
			h.auditUser(r, u, "mfa.challenge", storage.OutcomeDenied, map[string]string{"method": m.Type, "reason": "send budget spent"})
			h.pages.Challenge(w, http.StatusTooManyRequests, templates.ChallengePage{
				Page: h.signedInPage(r, "Verify it's you"), AuthRequestID: a.ID, MethodLabel: h.factors[m.Type].Label(), MethodName: factors.MethodName(m, h.factors[m.Type].Label()),
				Kind: "wait", OtherMethods: true,
				Error: fmt.Sprintf("We've sent several codes already. Wait %s, then try again, or use another method.", humanDuration(locked.until.Sub(h.cfg.Now()))),
			})
			return storage.Challenge{}, err
		}
	}
	now := h.cfg.Now()
	c := storage.Challenge{
		ID: storage.NewID(), UserID: u.ID, AuthRequestID: a.ID, SessionID: a.SessionID,
		MethodID: m.ID, Type: m.Type, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute),
	}
	p, err := h.factors[m.Type].Begin(ctx, u, m, &c)
	if err != nil {
		h.auditUser(r, u, "mfa.challenge", storage.OutcomeFailure, map[string]string{"method": m.Type, "error": err.Error()})
		h.serverError(w, r, fmt.Errorf("begin %s challenge: %w", m.Type, err))
		return c, err
	}
	c.Prompt, _ = json.Marshal(p)
	started := h.recorded(r, userEvent(u, "mfa.challenge", storage.OutcomeSuccess, map[string]string{"method": m.Type, "method_id": m.ID, "auth_request": a.ID}))
	if err := h.store.Atomically(ctx, all(
		func(tx storage.Tx) error { return tx.CreateChallenge(c) },
		func(tx storage.Tx) error {
			_, err := tx.UpdateAuthRequest(a.ID, func(a storage.AuthRequest) (storage.AuthRequest, error) {
				a.ChallengeID, a.MethodID = c.ID, m.ID
				return a, nil
			})
			return err
		},
		started,
	)); err != nil {
		h.serverError(w, r, err)
		return c, err
	}
	return c, nil
}

const msgWrongAnswer = "That didn't work. Check and try again."

// postSecondFactor checks an answer to the outstanding challenge.
func (h *Handler) postSecondFactor(w http.ResponseWriter, r *http.Request) {
	a, ok := h.formRequest(w, r, StepSecondFactor)
	if !ok {
		return
	}
	ctx := r.Context()
	sess, u, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if sess == nil || sess.ID != a.SessionID {
		h.restart(w, r, a)
		return
	}
	c, err := h.store.GetChallenge(ctx, a.ChallengeID)
	if err != nil || c.AuthRequestID != a.ID || !h.cfg.Now().Before(c.ExpiresAt) {
		// No live challenge for this sign-in: show a fresh one.
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	}
	up, err := h.loadPolicy(ctx, u)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(up.methods, func(m storage.Method) bool { return m.ID == c.MethodID })
	if i < 0 {
		// Gone, or no longer allowed by the user's org unit.
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	}
	m := up.methods[i]
	key := "mfa:" + u.ID + ":" + m.Type
	details := map[string]string{"method": m.Type, "method_id": m.ID, "auth_request": a.ID}
	if m.Type == storage.MethodVoice && !c.Approved {
		// Continue before answering the call is not a guess.
		h.showChallenge(w, r, a, u, up, nil, http.StatusAccepted, "")
		return
	}
	// With the right answer, in one transaction with the challenge's end:
	// the method's use recorded, the audit, a new session id now that the
	// second factor has passed (claiming this authentication's methods
	// only: a factor from an earlier one is not claimed with this
	// auth_time), and the journey moved on.
	var res factors.Result
	var newSess storage.Session
	passed := func(tx storage.Tx) error {
		now := h.cfg.Now()
		acr, amr := policy.ProofOf(m.Type, res.AMR)
		var start func(storage.Tx) error
		newSess, start = h.newSession(r, sess, u.ID, proof{amr: amr, acr: string(acr), authTime: now, mfaAt: now})
		writes := []func(storage.Tx) error{
			func(tx storage.Tx) error { _, err := tx.UpdateMethod(m.ID, res.Apply); return err },
			start,
			func(tx storage.Tx) error {
				_, err := move(tx, a, EvFactorPassed, func(a *storage.AuthRequest) { a.SessionID, a.ChallengeID, a.MethodID = newSess.ID, "", "" })
				return err
			},
			h.recorded(r, userEvent(u, "mfa.verify", storage.OutcomeSuccess, details)),
		}
		if m.Type == storage.MethodRecovery {
			writes = append(writes, h.recorded(r, userEvent(u, "mfa.recovery_code_used", storage.OutcomeSuccess, details)))
		}
		return all(writes...)(tx)
	}
	err = h.check(r, answer{user: u, c: c, key: key, action: "mfa.verify", details: details, passed: passed,
		verify: func(ctx context.Context, c storage.Challenge) (err error) {
			resp := factors.Response{Code: r.PostFormValue("code"), WebAuthn: []byte(r.PostFormValue("webauthn"))}
			res, err = h.factors[m.Type].Verify(ctx, u, m, c, resp)
			return err
		}})
	var locked errThrottled
	switch {
	case errors.Is(err, errAdvanced):
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	case errors.As(err, &locked):
		h.showChallenge(w, r, a, u, up, nil, http.StatusTooManyRequests,
			fmt.Sprintf("Too many failed attempts. Wait %s and try again, or use another method.", humanDuration(locked.until.Sub(h.cfg.Now()))))
		return
	case errors.Is(err, errOutOfGuesses):
		// The next view starts a new challenge (sending a new code).
		h.showChallenge(w, r, a, u, up, nil, http.StatusUnauthorized, "Too many wrong answers for that code. We've started a new check.")
		return
	case errors.Is(err, factors.ErrNotReady):
		h.showChallenge(w, r, a, u, up, nil, http.StatusAccepted, "")
		return
	case userError(err):
		h.showChallenge(w, r, a, u, up, nil, http.StatusUnauthorized, msgWrongAnswer)
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	if err := h.setSessionCookie(w, r, newSess); err != nil {
		h.serverError(w, r, err)
		return
	}
	if r.PostFormValue("remember") == "on" && rememberFor(up) != "" {
		d, err := h.rememberMFA(r, u.ID, up.org.RememberMFA)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		h.auditUser(r, u, "mfa.device_remembered", storage.OutcomeSuccess, with(with(details, "device", d.ID), "until", d.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
}

// with is a copy of the audit details m with k set to v: m stays as it
// was, for the next event.
func with(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[k] = v
	return out
}

// showMethods lists the user's other methods ("use another method").
func (h *Handler) showMethods(w http.ResponseWriter, r *http.Request) {
	a, ok := h.authRequestFor(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	sess, u, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if stepOf(a) != StepSecondFactor || sess == nil || sess.ID != a.SessionID {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	}
	up, err := h.loadPolicy(r.Context(), u)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	var list []templates.MethodChoice
	for _, t := range methodOrder {
		for _, m := range up.methods {
			if m.Type == t {
				label := h.factors[t].Label()
				c := templates.MethodChoice{ID: m.ID, Label: label, Name: factors.MethodName(m, label), Target: otp.Mask(m.Target), Current: m.ID == a.MethodID}
				if t == storage.MethodRecovery {
					c.Name = "" // one set per user: its name says nothing more
				}
				list = append(list, c)
			}
		}
	}
	h.pages.Methods(w, http.StatusOK, templates.MethodsPage{
		Page: h.signedInPage(r, "Choose a way to verify"), AuthRequestID: a.ID, Methods: list, Helpdesk: h.cfg.Helpdesk,
	})
}

// postMethod switches the sign-in to another of the user's methods.
func (h *Handler) postMethod(w http.ResponseWriter, r *http.Request) {
	a, ok := h.formRequest(w, r, StepSecondFactor)
	if !ok {
		return
	}
	up, err := h.loadUserPolicy(r.Context(), a.UserID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(up.methods, func(m storage.Method) bool { return m.ID == r.PostFormValue("method") })
	if i < 0 {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	}
	m := up.methods[i]
	if _, ok := h.advance(w, r, a, EvRechallenge, func(a *storage.AuthRequest) { a.MethodID, a.ChallengeID = m.ID, "" }); ok {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
	}
}

// postResend sends a new code (or places a new call) by retiring the
// outstanding challenge; beginChallenge keeps to the send budget.
func (h *Handler) postResend(w http.ResponseWriter, r *http.Request) {
	a, ok := h.formRequest(w, r, StepSecondFactor)
	if !ok {
		return
	}
	sess, _, err := h.currentSession(r)
	if err != nil || sess == nil || sess.ID != a.SessionID {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	}
	// The new challenge's send is charged to the send budget there.
	if err := h.store.DeleteChallenge(r.Context(), a.ChallengeID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	if _, ok := h.advance(w, r, a, EvRechallenge, func(a *storage.AuthRequest) { a.ChallengeID = "" }); ok {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
	}
}
