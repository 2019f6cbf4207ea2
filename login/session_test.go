package login

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// TestCookieKeyRotation: a new key is made after each rotation period,
// opens cookies at once and seals them a lead later, so that every
// replica holds it first; the previous one still opens cookies until none
// it sealed can be alive.
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
		at         time.Duration
		wantPairs  int
		newSealing bool // the key made at rotate seals
	}{
		{0, 1, false},
		{rotate - time.Second, 1, false},
		{rotate, 2, false},                               // new key, still only opening
		{rotate + keyLead - time.Second, 2, false},       // replicas may not hold it yet
		{rotate + keyLead, 2, true},                      // it seals; the old one still opens
		{rotate + keyLead + keep - time.Second, 2, true}, // old cookies may still be alive
		{rotate + keyLead + keep, 1, true},               // none sealed by the old key can be
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
		} else if sealing := string(pairs[0]) != string(first); sealing != st.newSealing {
			t.Errorf("at +%v: the new key seals: %v, want %v", st.at, sealing, st.newSealing)
		}
	}
}
