package login

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/storage"
)

// A voice call is answered on the phone, not on the page, so the page
// asks whether it has been: a script polls one of these endpoints and
// submits the page's form once the call is answered with #. They only
// read: the answer is checked, counted and throttled by the form post,
// as a Continue by hand would be. Each answers only the browser and
// session the call belongs to; anyone else gets a 404 saying nothing.

// Call states, as the status endpoints report them.
const (
	callWaiting  = "waiting"  // ringing, or answered without # yet
	callAnswered = "answered" // # was pressed: submit the form
	callEnded    = "ended"    // expired, or no longer this page's call
)

type callStatus struct {
	Status string `json:"status,omitempty"`
}

// callState is what c's page should hear of it.
func (h *Handler) callState(c storage.Challenge) string {
	switch {
	case c.Type != storage.MethodVoice || !h.cfg.Now().Before(c.ExpiresAt):
		return callEnded
	case c.Approved:
		return callAnswered
	}
	return callWaiting
}

// signInCallStatus answers the challenge page of a sign-in (?id=) at its
// second factor: the state of the call it is waiting on.
func (h *Handler) signInCallStatus(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, err := h.store.GetAuthRequest(ctx, r.URL.Query().Get("id"))
	if errors.Is(err, storage.ErrNotFound) || err == nil && (!h.sameBrowser(r, a) || h.cfg.Now().After(a.ExpiresAt)) {
		callUnknown(w)
		return
	}
	if err != nil {
		h.statusError(w, r, err)
		return
	}
	sess, _, err := h.currentSession(r)
	if err != nil {
		h.statusError(w, r, err)
		return
	}
	if sess == nil || sess.ID != a.SessionID {
		callUnknown(w)
		return
	}
	state := callEnded
	if stepOf(a) == StepSecondFactor && a.ChallengeID != "" {
		c, err := h.store.GetChallenge(ctx, a.ChallengeID)
		switch {
		case err == nil && c.AuthRequestID == a.ID:
			state = h.callState(c)
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.statusError(w, r, err)
			return
		}
	}
	writeCallStatus(w, http.StatusOK, state)
}

// enrolCallStatus answers the page adding a voice call method
// (?challenge=): the state of its first call.
func (h *Handler) enrolCallStatus(w http.ResponseWriter, r *http.Request) {
	sess, _, err := h.currentSession(r)
	if err != nil {
		h.statusError(w, r, err)
		return
	}
	if sess == nil {
		callUnknown(w)
		return
	}
	c, err := h.store.GetChallenge(r.Context(), r.URL.Query().Get("challenge"))
	if errors.Is(err, storage.ErrNotFound) || err == nil && (c.AuthRequestID != "" || c.SessionID != sess.ID || c.UserID != sess.UserID) {
		callUnknown(w)
		return
	}
	if err != nil {
		h.statusError(w, r, err)
		return
	}
	writeCallStatus(w, http.StatusOK, h.callState(c))
}

// callUnknown is the answer for a call that is not the asker's to know
// of, the same whether it exists or not.
func callUnknown(w http.ResponseWriter) { writeCallStatus(w, http.StatusNotFound, "") }

func (h *Handler) statusError(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "call status", "err", err)
	writeCallStatus(w, http.StatusInternalServerError, "")
}

func writeCallStatus(w http.ResponseWriter, code int, state string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(callStatus{Status: state})
}
