package policy

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestEveryCombination decides every combination of org-unit chain, role,
// methods, exception state, client minimum, requested acr, max_age, prompt,
// remembered device and session, and checks what must hold whatever the
// combination: a token never claims more than was proved, an exception or
// remembered device only waives what it may, prompt=none never prompts.
func TestEveryCombination(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ou := func(name string, mfa storage.MFASetting) storage.OrgUnit {
		return storage.OrgUnit{Name: name, MFA: mfa}
	}
	chains := [][]storage.OrgUnit{
		{ou("Root", storage.MFAOptional)},
		{ou("Wales", storage.MFAPrompted), ou("Root", storage.MFAOptional)},
		{ou("Wards", storage.MFARequired), ou("Root", storage.MFAOptional)},
		{ou("Ward 7", storage.MFAInherit), ou("Wales", storage.MFAPrompted), ou("Root", "")},
		{ou("Ward 7", storage.MFAInherit), ou("Trust", storage.MFAInherit), ou("Root", "")},
	}
	type methods struct {
		usable      []string
		registered  int
		noOwnMethod bool
	}
	methodSets := []methods{{nil, 0, true}, {[]string{"totp"}, 1, false}, {[]string{"totp", "webauthn"}, 2, false}, {nil, 1, false},
		{[]string{"recovery"}, 1, true}, {[]string{"totp", "recovery"}, 2, false}}
	exceptionStates := []string{"", storage.ExceptionApproved, storage.ExceptionExpired, storage.ExceptionRevoked, storage.ExceptionRejected, storage.ExceptionRequested}
	acrs := []string{"", "pwd", "mfa", "phr"}
	one, hour := uint(1), uint(3600)
	maxAges := []*uint{nil, &one, &hour}
	prompts := [][]string{nil, {"none"}, {"login"}}
	sessions := map[string]*Proof{
		"none":       nil,
		"fresh pwd":  {UserID: "u", AuthTime: now, AMR: []string{"pwd"}, ACR: "pwd"},
		"old pwd":    {UserID: "u", AuthTime: now.Add(-2 * time.Hour), AMR: []string{"pwd"}, ACR: "pwd"},
		"recent mfa": {UserID: "u", AuthTime: now.Add(-time.Minute), AMR: []string{"pwd", "otp", "mfa"}, ACR: "mfa", MFAAt: now.Add(-time.Minute)},
		"old phr":    {UserID: "u", AuthTime: now.Add(-2 * time.Hour), AMR: []string{"pwd", "hwk", "mfa"}, ACR: "phr", MFAAt: now.Add(-2 * time.Hour)},
	}

	count := 0
	for _, chain := range chains {
		org := Effective(chain)
		for _, privileged := range []bool{false, true} {
			for _, ms := range methodSets {
				for _, exState := range exceptionStates {
					var exceptions []storage.Exception
					switch exState {
					case "":
					case storage.ExceptionExpired:
						exceptions = []storage.Exception{{Kind: storage.ExceptionLongTerm, State: storage.ExceptionApproved, ExpiresAt: now.Add(-time.Second)}}
					default:
						exceptions = []storage.Exception{{Kind: storage.ExceptionShortTerm, State: exState, ExpiresAt: now.Add(time.Hour)}}
					}
					user := User{OrgUnit: org.MFA, OrgUnitName: org.MFAFrom, Privileged: privileged, MFAEnabled: ms.registered > 0,
						Methods: ms.usable, Registered: ms.registered, NoOwnMethod: ms.noOwnMethod, Exceptions: exceptions}
					for _, allowed := range []bool{false, true} {
						for _, minimum := range acrs {
							for _, requested := range acrs {
								for _, maxAge := range maxAges {
									for _, prompt := range prompts {
										for _, remembered := range []bool{false, true} {
											for sessName, sess := range sessions {
												a := ask{Prompt: prompt, MaxAge: maxAge, ClientMinimumACR: minimum,
													RequestedACR: requested, ExceptionsAllowed: allowed}
												in := a.input(Input{
													Session: sess, FreshPassword: sessName == "fresh pwd", RememberedDevice: remembered,
													User: user, Now: now,
												})
												checkInvariants(t, a, in, Decide(in), exState)
												count++
											}
										}
									}
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d combinations decided", count)
}

func checkInvariants(t *testing.T, a ask, in Input, d Decision, exState string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%+v\nrequest %+v session %+v exception %q remembered %v\n-> %s (%s): "+format,
			append([]any{in.User, a, in.Session, exState, in.RememberedDevice, d.Outcome, d.Reason}, args...)...)
	}
	if d.Reason == "" {
		fail("no reason")
	}
	req := max(ACR(a.ClientMinimumACR).Rank(), ACR(a.RequestedACR).Rank())
	proved := -1
	hasMFA := false
	if in.Session != nil {
		proved, hasMFA = ACR(in.Session.ACR).Rank(), slices.Contains(in.Session.AMR, "mfa")
	}

	// Whatever is done is no more than was proved, unless an exception
	// waived it, and an exception waives only what it may.
	if d.Outcome == Done && d.Exception == nil && proved < req {
		fail("done with acr rank %d proved, %d required", proved, req)
	}
	if d.Exception != nil {
		if exState != storage.ExceptionApproved || !a.ExceptionsAllowed {
			fail("waived by an exception that is %q (allowed %v)", exState, a.ExceptionsAllowed)
		}
		if d.Outcome != Done || ACR(a.RequestedACR).Rank() >= ACRMFA.Rank() || ACR(a.ClientMinimumACR).Rank() > ACRMFA.Rank() {
			fail("an exception waived a request's own acr or phr")
		}
	}
	// Mandatory MFA is met by a second factor, an exception or (outside
	// roles) a remembered device; never by nothing.
	if d.Outcome == Done && !hasMFA && d.Exception == nil {
		if in.User.Privileged {
			fail("a privileged user through without a second factor")
		}
		if in.User.OrgUnit == storage.MFARequired && !in.RememberedDevice {
			fail("required MFA skipped")
		}
	}
	if slices.Contains(a.Prompt, "none") && !slices.Contains([]Outcome{Done, LoginRequired, InteractionRequired, Unmet}, d.Outcome) {
		fail("prompt=none prompted")
	}
	switch d.Outcome {
	case Challenge, StepUp:
		if len(in.User.Methods) == 0 {
			fail("challenge without a usable method")
		}
		for _, m := range d.Methods {
			if !slices.Contains(in.User.Methods, m) {
				fail("challenge names %s, which the user lacks", m)
			}
		}
		if d.Outcome == StepUp && (len(d.Methods) == 0 || slices.ContainsFunc(d.Methods, func(m string) bool { return m != storage.MethodWebAuthn })) {
			fail("a step-up to %v, not to a security key", d.Methods)
		}
	case OfferEnrolment:
		if in.User.OrgUnit != storage.MFAPrompted || !in.User.NoOwnMethod {
			fail("offered enrolment outside a prompted unit or with a method of the user's own")
		}
	case RequireEnrolment:
		if !in.User.NoOwnMethod || !(in.User.Privileged || in.User.OrgUnit == storage.MFARequired) {
			fail("required enrolment with a method of the user's own, or where nothing requires MFA")
		}
		if in.User.Registered > 0 && !hasMFA {
			fail("enrolment before the stand-in the user has was answered")
		}
	}
	// Recovery codes or a pass get a user through the second factor, never
	// past setting up the method a role or the unit requires.
	if d.Outcome == Done && in.User.NoOwnMethod && hasMFA && d.Exception == nil &&
		(in.User.Privileged || in.User.OrgUnit == storage.MFARequired) {
		fail("done with only a stand-in where a method of the user's own is required")
	}

	// An inactive exception is no exception; a remembered device matters
	// only where it may.
	if exState != "" && exState != storage.ExceptionApproved {
		plain := in
		plain.User.Exceptions = nil
		if other := Decide(plain); other.Outcome != d.Outcome || other.Reason != d.Reason {
			fail("an exception in state %s changed the decision (without it: %s)", exState, other.Outcome)
		}
	}
	// A request that asks to see the user again (prompt=login, max_age) or
	// for a second factor is never answered by a remembered device.
	explicit := slices.Contains(a.Prompt, "login") || a.MaxAge != nil || ACR(a.RequestedACR).Rank() >= ACRMFA.Rank()
	if in.RememberedDevice && (in.User.Privileged || explicit || ACR(a.ClientMinimumACR).Rank() >= ACRMFA.Rank()) {
		plain := in
		plain.RememberedDevice = false
		if other := Decide(plain); other.Outcome != d.Outcome {
			fail("a remembered device changed the decision where it may not (without it: %s)", other.Outcome)
		}
	}
}
