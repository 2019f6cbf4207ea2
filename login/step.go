package login

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Step is where a sign-in's journey stands. storage keeps it as an opaque
// string on the auth request; a new request (empty) is at the password.
type Step string

const (
	StepPassword       Step = "password"
	StepChangePassword Step = "change_password" // a one-time password was used
	StepDecide         Step = "decide"          // the policy says what comes next
	StepSecondFactor   Step = "second_factor"
	StepEnrol          Step = "enrol" // setting up a first method
	// StepDone: every required step has passed; only now may a code be
	// issued.
	StepDone Step = "done"
)

// stepOf is the step a stored auth request is at.
func stepOf(a storage.AuthRequest) Step {
	if a.Step == "" {
		return StepPassword
	}
	return Step(a.Step)
}

// Event is what happened to move a journey on.
type Event string

const (
	EvPassword        Event = "password"          // the right password
	EvOneTimePassword Event = "one_time_password" // the right one-time password
	EvPasswordChanged Event = "password_changed"  // a one-time password replaced
	EvChallenge       Event = "challenge"         // the policy asks for a second factor
	EvRechallenge     Event = "rechallenge"       // another method chosen, or the code sent again
	EvFactorPassed    Event = "factor_passed"     // the second factor's answer was right
	EvEnrol           Event = "enrol"             // the policy asks the user to set a method up
	EvNotNow          Event = "not_now"           // the user declined setting one up
	EvEnrolled        Event = "enrolled"          // a first method set up: its first answer was the second factor
	EvSatisfied       Event = "satisfied"         // the policy has nothing more to ask
	EvRestart         Event = "restart"           // the password again: the session went, or is too old
)

// transitions is the whole journey: from each step, the events that may
// happen there and the step each leads to. Anything else is refused, so no
// form or URL can move a sign-in where this table does not.
var transitions = func() map[Step]map[Event]Step {
	t := map[Step]map[Event]Step{
		StepPassword:       {EvPassword: StepDecide, EvOneTimePassword: StepChangePassword},
		StepChangePassword: {EvPasswordChanged: StepDecide},
		StepDecide:         {},
		StepSecondFactor:   {EvFactorPassed: StepDecide, EvRechallenge: StepSecondFactor},
		StepEnrol:          {EvNotNow: StepDecide, EvEnrolled: StepDecide},
	}
	// Wherever the policy is asked (with a session, before the sign-in is
	// done), its answer may move the journey on, or back to the password.
	for _, s := range []Step{StepPassword, StepDecide, StepSecondFactor, StepEnrol} {
		t[s][EvChallenge], t[s][EvEnrol], t[s][EvSatisfied], t[s][EvRestart] = StepSecondFactor, StepEnrol, StepDone, StepPassword
	}
	return t
}()

// next is the step event leads to from s; ok is false where the table has
// no such move (from done, nothing moves).
func next(s Step, ev Event) (to Step, ok bool) {
	to, ok = transitions[s][ev]
	return to, ok
}

// errAdvanced means the stored step changed under the request, or the
// event cannot happen at the step it is at: another tab moved the journey
// on. The dispatcher shows whatever comes next.
var errAdvanced = errors.New("journey already advanced")

// advance moves the journey by ev from the step a was read at, applying
// change to the other fields, and makes the step's other writes (also: its
// session, its audit events) in the same transaction; it returns the
// request as stored. A request another tab already moved on is left alone
// and the browser goes to the dispatcher: ok is false, and the request
// answered.
func (h *Handler) advance(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, ev Event, change func(*storage.AuthRequest), also ...func(storage.Tx) error) (storage.AuthRequest, bool) {
	var stored storage.AuthRequest
	err := h.store.Atomically(r.Context(), func(tx storage.Tx) error {
		var err error
		if stored, err = move(tx, a, ev, change); err != nil {
			return err
		}
		return all(also...)(tx)
	})
	switch {
	case errors.Is(err, errAdvanced):
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return a, false
	case err != nil:
		h.serverError(w, r, err)
		return a, false
	}
	return stored, true
}

// move is advance's update of the request, in tx: errAdvanced if the
// stored step is no longer the one a was read at, or ev cannot happen
// there.
func move(tx storage.Tx, a storage.AuthRequest, ev Event, change func(*storage.AuthRequest)) (storage.AuthRequest, error) {
	from := stepOf(a)
	return tx.UpdateAuthRequest(a.ID, func(cur storage.AuthRequest) (storage.AuthRequest, error) {
		to, ok := next(from, ev)
		if stepOf(cur) != from || !ok {
			return cur, errAdvanced
		}
		if change != nil {
			change(&cur)
		}
		cur.Step = string(to)
		return cur, nil
	})
}

// all is writes made one after the other, as one.
func all(writes ...func(storage.Tx) error) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		for _, write := range writes {
			if err := write(tx); err != nil {
				return err
			}
		}
		return nil
	}
}
