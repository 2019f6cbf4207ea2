package login

import "testing"

// TestTransitions walks the journey's table: the planned paths get where
// they should, and nothing leaves done or reaches it but the policy.
func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []Event
		want   Step
	}{
		{"password, then done", []Event{EvPassword, EvSatisfied}, StepDone},
		{"single sign-on", []Event{EvSatisfied}, StepDone},
		{"one-time password", []Event{EvOneTimePassword, EvPasswordChanged, EvChallenge, EvFactorPassed, EvSatisfied}, StepDone},
		{"another method, then the code again", []Event{EvPassword, EvChallenge, EvRechallenge, EvRechallenge, EvFactorPassed, EvSatisfied}, StepDone},
		{"enrolment declined", []Event{EvPassword, EvEnrol, EvNotNow, EvSatisfied}, StepDone},
		{"enrolled, then challenged", []Event{EvPassword, EvEnrol, EvChallenge, EvFactorPassed, EvSatisfied}, StepDone},
		{"restarted at the challenge", []Event{EvPassword, EvChallenge, EvRestart}, StepPassword},
	} {
		s := StepPassword
		for _, ev := range tc.events {
			to, ok := next(s, ev)
			if !ok {
				t.Fatalf("%s: %s cannot happen at %s", tc.name, ev, s)
			}
			s = to
		}
		if s != tc.want {
			t.Errorf("%s: ended at %s, want %s", tc.name, s, tc.want)
		}
	}
	for _, tc := range []struct {
		from Step
		ev   Event
	}{
		{StepPassword, EvFactorPassed},    // a second factor's answer before the password
		{StepChangePassword, EvSatisfied}, // done with only a one-time password
		{StepChangePassword, EvChallenge},
		{StepEnrol, EvFactorPassed},
		{StepDecide, EvPassword},
		{StepDone, EvRestart}, // nothing moves a finished sign-in
		{StepDone, EvChallenge},
	} {
		if to, ok := next(tc.from, tc.ev); ok {
			t.Errorf("%s at %s leads to %s; want no such move", tc.ev, tc.from, to)
		}
	}
	for s, moves := range transitions {
		for ev, to := range moves {
			if to == StepDone && ev != EvSatisfied {
				t.Errorf("%s at %s reaches done: only the policy's satisfied may", ev, s)
			}
		}
	}
}
