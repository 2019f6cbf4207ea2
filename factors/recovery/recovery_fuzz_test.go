package recovery

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzVerify checks a recovery code typed at sign-in, through Verify and
// its Apply, against a set of which one code is used: fuzzed entries, and
// one of the codes with fuzzed text put in or over it. Property: an entry
// is accepted exactly when, trimmed, without spaces and dashes and in
// lower case, it is one of the set's unused codes; a used code, or
// anything else, is ErrWrongAnswer. Applying it marks that code used, and
// only it, so the same entry never counts twice.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	fa := &Factor{Now: func() time.Time { return now }}
	u := storage.User{ID: "u1"}
	codes, m := Generate(u.ID, now)
	const used = Count - 1
	res, err := fa.Verify(f.Context(), u, m, storage.Challenge{}, factors.Response{Code: codes[used]})
	if err != nil {
		f.Fatal(err)
	}
	if m, err = res.Apply(m); err != nil {
		f.Fatal(err)
	}

	const (
		whole = iota
		insert
		replace
		modes
	)
	for _, s := range []string{"", "aaaa-aaaa-aaaa", "aaaaaaaaaaaa", "2222-2222-2222", "\x00", "-"} {
		f.Add(s, uint8(0), uint8(whole), uint8(0))
	}
	for _, which := range []uint8{0, 3, used} {
		for _, pos := range []uint8{0, 1, 4, 5, 13, 14} {
			for _, s := range []string{"", " ", "-", "\t", "a", "=", "\u00a0", "--"} {
				f.Add(s, pos, uint8(insert), which)
			}
			for _, s := range []string{"A", "2", "Z", "8", "K"} {
				f.Add(s, pos, uint8(replace), which)
			}
		}
	}
	f.Fuzz(func(t *testing.T, s string, pos, mode, which uint8) {
		code := codes[int(which)%Count]
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
		res, err := fa.Verify(t.Context(), u, m, storage.Challenge{}, factors.Response{Code: typed})

		bare := strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(typed)))
		match := -1
		for i, c := range codes {
			if i != used && strings.ReplaceAll(c, "-", "") == bare {
				match = i
			}
		}
		if match < 0 {
			if !errors.Is(err, factors.ErrWrongAnswer) {
				t.Fatalf("%q: err %v, want ErrWrongAnswer", typed, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q, unused code %d: refused: %v", typed, match, err)
		}
		applied, err := res.Apply(m)
		if err != nil || Remaining(applied) != Remaining(m)-1 {
			t.Fatalf("%q: Apply: %v, %d remaining of %d", typed, err, Remaining(applied), Remaining(m))
		}
		for i, c := range codes {
			_, err := fa.Verify(t.Context(), u, applied, storage.Challenge{}, factors.Response{Code: c})
			if (err == nil) != (i != used && i != match) {
				t.Fatalf("%q: after it was applied, code %d verifies: %v", typed, i, err)
			}
		}
	})
}
