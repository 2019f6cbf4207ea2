package accesspass

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

func newFactor(t testing.TB, now *time.Time) *Factor {
	t.Helper()
	s, err := factors.NewSealer(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &Factor{Sealer: s, Now: func() time.Time { return *now }}
}

func TestPass(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	f := newFactor(t, &now)
	code, m := f.Issue("u1", time.Hour, false)
	if !regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$`).MatchString(code) {
		t.Fatalf("pass %q is not three groups of four of Crockford's alphabet", code)
	}
	if strings.Contains(string(m.Data), strings.ReplaceAll(code, "-", "")) {
		t.Fatal("the stored pass holds the code")
	}
	if !m.ExpiresAt.Equal(now.Add(time.Hour)) || m.Type != storage.MethodPass {
		t.Fatalf("issued %+v", m)
	}
	verify := func(typed string) (storage.Method, error) {
		res, err := f.Verify(context.Background(), storage.User{}, m, storage.Challenge{}, factors.Response{Code: typed})
		if err != nil {
			return m, err
		}
		return res.Apply(m)
	}
	if _, err := verify("AAAA-AAAA-AAAA"); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("a wrong pass: %v, want ErrWrongAnswer", err)
	}
	// Read over the phone: lower case, spaces, and O for 0, I or L for 1.
	typed := strings.NewReplacer("0", "o", "1", "l", "-", " ").Replace(strings.ToLower(code))
	spent, err := verify(typed)
	if err != nil {
		t.Fatalf("the pass as typed %q: %v", typed, err)
	}
	if spent.LiveAt(now) {
		t.Error("a one-time pass is live after its use")
	}
	m = spent
	if _, err := verify(code); !errors.Is(err, factors.ErrReplayed) {
		t.Errorf("the pass again: %v, want ErrReplayed", err)
	}

	// A reusable pass works until it expires.
	code, m = f.Issue("u1", 2*time.Hour, true)
	for range 3 {
		if m, err = verify(code); err != nil {
			t.Fatalf("a reusable pass: %v", err)
		}
	}
	now = now.Add(2 * time.Hour)
	if _, err := verify(code); !errors.Is(err, factors.ErrReplayed) {
		t.Errorf("an expired pass: %v, want ErrReplayed", err)
	}
}
