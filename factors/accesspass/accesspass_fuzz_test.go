package accesspass

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzVerify checks a temporary access pass typed at sign-in, through
// Verify and its Apply, at a fuzzed time, for a one-time and a reusable
// pass: fuzzed entries, and the pass with fuzzed text put in or over it.
// Property: an entry is accepted exactly when the pass is live (not
// expired, not spent) and the entry, trimmed, without spaces and dashes,
// in capitals, with I and L read as 1 and O as 0, is the pass issued;
// a wrong entry is ErrWrongAnswer, and a pass no longer live is refused
// whatever is typed. Once applied, a one-time pass is spent, so the same
// entry never counts twice; a reusable one still works.
func FuzzVerify(f *testing.F) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	now := t0
	fa := newFactor(f, &now)
	type pass struct {
		code string
		m    storage.Method
	}
	var passes []pass
	for _, reusable := range []bool{false, true} {
		code, m := fa.Issue("u1", MinLifetime, reusable)
		passes = append(passes, pass{code, m})
	}

	const (
		whole = iota
		insert
		replace
		modes
	)
	late := int32(MinLifetime/time.Second) - 1
	for _, s := range []string{"", "AAAA-AAAA-AAAA", "0000-0000-0000", "IIII-LLLL-OOOO", "UUUU-UUUU-UUUU", "\x00", "ıııı-ıııı-ıııı"} {
		f.Add(s, uint8(0), uint8(whole), int32(0), uint8(0))
	}
	for which := range uint8(len(passes)) {
		for _, at := range []int32{0, late, late + 1, -1} {
			f.Add("", uint8(0), uint8(insert), at, which)
		}
		for _, pos := range []uint8{0, 1, 4, 5, 13, 14} {
			for _, s := range []string{" ", "-", "\t", "x", "\u00a0", "-----"} {
				f.Add(s, pos, uint8(insert), int32(0), which)
			}
			for _, s := range []string{"A", "0", "O", "o", "1", "I", "i", "L", "l", "U"} {
				f.Add(s, pos, uint8(replace), int32(0), which)
			}
		}
	}
	f.Fuzz(func(t *testing.T, s string, pos, mode uint8, at int32, which uint8) {
		p := passes[int(which)%len(passes)]
		// The pass read out: what the helpdesk saw, or a way of typing it.
		typed := s
		i := int(pos) % (len(p.code) + 1)
		switch mode % modes {
		case insert:
			typed = p.code[:i] + s + p.code[i:]
		case replace:
			if s == "" || i == len(p.code) {
				return
			}
			typed = p.code[:i] + s[:1] + p.code[i+1:]
		}
		now = t0.Add(time.Duration(at) * time.Second)
		res, err := fa.Verify(t.Context(), storage.User{ID: "u1"}, p.m, storage.Challenge{}, factors.Response{Code: typed})

		live := now.Before(p.m.ExpiresAt)
		right := readAs(typed) == strings.ReplaceAll(p.code, "-", "")
		switch {
		case !live:
			if !errors.Is(err, factors.ErrReplayed) {
				t.Fatalf("%q at %v, pass expiring %v: err %v, want ErrReplayed", typed, now, p.m.ExpiresAt, err)
			}
			return
		case !right:
			if !errors.Is(err, factors.ErrWrongAnswer) {
				t.Fatalf("%q for pass %s: err %v, want ErrWrongAnswer", typed, p.code, err)
			}
			return
		case err != nil:
			t.Fatalf("%q for pass %s, live: refused: %v", typed, p.code, err)
		}
		applied, err := res.Apply(p.m)
		if err != nil {
			t.Fatalf("%q for pass %s: Apply: %v", typed, p.code, err)
		}
		_, again := fa.Verify(t.Context(), storage.User{ID: "u1"}, applied, storage.Challenge{}, factors.Response{Code: typed})
		if Reusable(p.m) != (again == nil) {
			t.Fatalf("%q for pass %s (reusable %v) again after use: %v", typed, p.code, Reusable(p.m), again)
		}
	})
}

// readAs is a typed pass as the rule reads it, a character at a time:
// white space around it and spaces and dashes dropped, capitals, and I,
// L and O as the digits they look like.
func readAs(typed string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(typed) {
		switch r = unicode.ToUpper(r); r {
		case ' ', '-':
			continue
		case 'I', 'L':
			r = '1'
		case 'O':
			r = '0'
		}
		b.WriteRune(r)
	}
	return b.String()
}
