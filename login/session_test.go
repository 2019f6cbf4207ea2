package login

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// TestCookieKeyRotation: a new key seals cookies after each rotation period;
// the previous one still opens cookies until none it sealed can be alive.
func TestCookieKeyRotation(t *testing.T) {
	ctx := context.Background()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "k.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const rotate, keep = 30 * 24 * time.Hour, 12 * time.Hour
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		at        time.Duration
		wantPairs int
	}{
		{0, 1},
		{rotate - time.Second, 1},
		{rotate, 2},                      // new key; the old one still opens cookies
		{rotate + keep - time.Second, 2}, // old cookies may still be alive
		{rotate + keep, 1},               // none sealed by the old key can be
	}
	var first []byte
	for _, st := range steps {
		pairs, err := cookieKeys(ctx, db, start.Add(st.at), rotate, keep)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(pairs) / 2; got != st.wantPairs {
			t.Errorf("at +%v: %d key pairs, want %d", st.at, got, st.wantPairs)
		}
		if first == nil {
			first = pairs[0]
		} else if st.at >= rotate && string(pairs[0]) == string(first) {
			t.Errorf("at +%v: newest key is still the first one", st.at)
		}
	}
}
