package recovery

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

func TestCodesWorkOnce(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := &Factor{Now: func() time.Time { return now }}
	codes, m := Generate("u1", now)
	if len(codes) != Count || Remaining(m) != Count {
		t.Fatalf("got %d codes, %d remaining; want %d", len(codes), Remaining(m), Count)
	}
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		if !format.MatchString(c) || seen[c] {
			t.Errorf("code %q malformed or repeated", c)
		}
		seen[c] = true
		if strings.Contains(string(m.Data), c) || strings.Contains(string(m.Data), strings.ReplaceAll(c, "-", "")) {
			t.Fatal("a code is stored in the clear")
		}
	}
	ctx := context.Background()
	u := storage.User{ID: "u1"}
	// Typed in capitals, without dashes: still the code.
	res, err := f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))})
	if err != nil {
		t.Fatal(err)
	}
	m, err = res.Apply(m)
	if err != nil || Remaining(m) != Count-1 {
		t.Fatalf("after one use: %v, %d remaining", err, Remaining(m))
	}
	if _, err := res.Apply(m); !errors.Is(err, factors.ErrReplayed) {
		t.Errorf("Apply twice: %v, want ErrReplayed", err)
	}
	if _, err := f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: codes[3]}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("used code: %v, want ErrWrongAnswer", err)
	}
	if _, err := f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: "aaaa-bbbb-cccc"}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("unknown code: %v, want ErrWrongAnswer", err)
	}
	// A new set replaces the old: old codes no longer match it.
	_, fresh := Generate("u1", now)
	if _, err := f.Verify(ctx, u, fresh, storage.Challenge{}, factors.Response{Code: codes[0]}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("old code against a new set: %v, want ErrWrongAnswer", err)
	}
}
