package otp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzCodeEntry checks the code a user types on the sign-in page against
// the email code sent for their challenge (text-message codes take the
// same check), at a fuzzed time: fuzzed entries, and the code with
// fuzzed text put in or over it. Property: an entry is accepted only if,
// with white space around it and spaces and dashes anywhere taken out,
// it is exactly the six digits sent for this challenge, and only before
// the challenge expires; then it always is. Anything else (other digits,
// a digit short, full-width digits, a tab or a letter inside) is
// ErrWrongAnswer.
func FuzzCodeEntry(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	sealer := newSealer(f)
	e := NewEmail(NewOutbox(clock), Config{Sealer: sealer, Org: "Gatehouse", Now: clock})
	ctx := f.Context()
	u, m := storage.User{ID: "u1"}, storage.Method{Type: storage.MethodEmail, Target: "jo@example.org"}
	// The challenge as sendCode leaves it, with the code fixed so that
	// the corpus means the same in every run.
	const code, other = "042917", "735190"
	c := storage.Challenge{ID: "c1", UserID: u.ID, Type: storage.MethodEmail, CodeHash: sealer.CodeHash("c1", code), ExpiresAt: t0.Add(Lifetime)}

	const (
		whole = iota
		insert
		replace
		modes
	)
	late := int32(Lifetime/time.Second) - 1
	for _, s := range []string{code, other, " " + code + " ", code[:3] + " " + code[3:], code[:3] + "-" + code[3:], "\t" + code + "\n",
		code[:3] + "\t" + code[3:], code + "0", code[:5], "", "------", "000000", "１２３４５６", "12345６", "0x" + code} {
		f.Add(s, uint8(0), uint8(whole), int32(0))
	}
	f.Add(code, uint8(0), uint8(whole), late)
	f.Add(code, uint8(0), uint8(whole), late+1)
	f.Add(code, uint8(0), uint8(whole), int32(-1<<31))
	for pos := range uint8(len(code) + 1) {
		for _, s := range []string{" ", "-", "--", "\t", "a", "0", "\u00a0", "\u200b"} {
			f.Add(s, pos, uint8(insert), int32(0))
		}
		f.Add("9", pos, uint8(replace), int32(0))
	}
	f.Fuzz(func(t *testing.T, s string, pos, mode uint8, at int32) {
		typed := s
		i := int(pos) % (len(code) + 1)
		switch mode % modes {
		case insert:
			typed = code[:i] + s + code[i:]
		case replace:
			if s == "" || i == len(code) {
				return
			}
			typed = code[:i] + s[:1] + code[i+1:]
		}
		now = t0.Add(time.Duration(at) * time.Second)
		_, err := e.Verify(ctx, u, m, c, factors.Response{Code: typed})
		bare := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(typed))
		want := bare == code && now.Before(c.ExpiresAt)
		switch {
		case want && err != nil:
			t.Fatalf("%q at %v: the code sent (%s) was refused: %v", typed, now, code, err)
		case !want && !errors.Is(err, factors.ErrWrongAnswer):
			t.Fatalf("%q at %v: code sent %s, expiring %v: err %v, want ErrWrongAnswer", typed, now, code, c.ExpiresAt, err)
		}
	})
}
