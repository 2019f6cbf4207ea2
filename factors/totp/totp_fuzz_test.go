package totp

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzVerify checks an authenticator-app code typed at sign-in, through
// Verify and its Apply, at a fuzzed time (1970 to 2106), against a method
// whose last used step is fuzzed: fuzzed entries, and the code of a step
// near now with fuzzed text put in or over it. Property: an entry is
// accepted only if, with white space around it and spaces and dashes
// anywhere taken out, it is the RFC 6238 code of the step of now or of
// one step either side, and then it always is, naming that step; and
// Apply counts it only if that step is later than the last one used, so
// no step counts twice.
func FuzzVerify(f *testing.F) {
	sealer, err := factors.NewSealer(make([]byte, factors.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	var now time.Time
	fa := &Factor{Issuer: "Gatehouse", Sealer: sealer, Now: func() time.Time { return now }}
	u := storage.User{ID: "u1", Username: "alice"}
	m := fa.Method(u, []byte("12345678901234567890"), time.Unix(0, 0))
	code := func(step int64) string {
		c, err := hotp.GenerateCode(rfcSecret, uint64(step))
		if err != nil {
			f.Fatal(err)
		}
		return c
	}

	const (
		whole = iota
		insert
		replace
		modes
	)
	const at = 1111111111 // step 37037037, code 050471
	for _, s := range []string{"050471", " 050 471 ", "050-471", "050471\n", "050\t471", "05047", "0504710", "abcdef", "", "０５０４７１", "50471"} {
		f.Add(s, uint8(0), uint8(whole), uint32(at), int8(0), int8(-1))
	}
	for _, delta := range []int8{-2, -1, 0, 1, 2} {
		for _, last := range []int8{-3, -2, -1, 0, 1} {
			f.Add("", uint8(0), uint8(insert), uint32(at), delta, last)
		}
	}
	for pos := range uint8(7) {
		for _, s := range []string{" ", "-", "\t", "0", "x", "\u00a0"} {
			f.Add(s, pos, uint8(insert), uint32(at+29), int8(0), int8(-5))
		}
		f.Add("9", pos, uint8(replace), uint32(at), int8(1), int8(-5))
	}
	f.Add("", uint8(0), uint8(insert), uint32(0), int8(0), int8(-1))
	f.Add("", uint8(0), uint8(insert), uint32(1<<32-1), int8(1), int8(-1))
	f.Fuzz(func(t *testing.T, s string, pos, mode uint8, unix uint32, delta, last int8) {
		now = time.Unix(period+int64(unix), 0) // no step before 0 to look at
		step := now.Unix() / period
		base := code(step + int64(delta))
		typed := s
		i := int(pos) % (len(base) + 1)
		switch mode % modes {
		case insert:
			typed = base[:i] + s + base[i:]
		case replace:
			if s == "" || i == len(base) {
				return
			}
			typed = base[:i] + s[:1] + base[i+1:]
		}
		m := m
		m.LastStep = step + int64(last)
		res, err := fa.Verify(t.Context(), u, m, storage.Challenge{}, factors.Response{Code: typed})

		bare := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(typed))
		var matched []int64
		for s := step - skew; s <= step+skew; s++ {
			if code(s) == bare {
				matched = append(matched, s)
			}
		}
		if len(matched) == 0 {
			if !errors.Is(err, factors.ErrWrongAnswer) {
				t.Fatalf("%q at step %d: err %v, want ErrWrongAnswer", typed, step, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q, the code of step %d, at step %d: refused: %v", typed, matched[0], step, err)
		}
		// Match tries the earliest step first.
		want := matched[0]
		applied, err := res.Apply(m)
		switch {
		case err == nil && (applied.LastStep != want || want <= m.LastStep):
			t.Fatalf("%q at step %d, last used %d: counted as step %d, want %d", typed, step, m.LastStep, applied.LastStep, want)
		case err != nil && (!errors.Is(err, factors.ErrReplayed) || want > m.LastStep):
			t.Fatalf("%q at step %d, last used %d: Apply: %v", typed, step, m.LastStep, err)
		}
	})
}
