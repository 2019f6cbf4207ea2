package provider

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// TestKeyRotation walks a key's life: it signs for the rotation period, is
// then retired but stays published for the retention period, and is then
// dropped.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	kr := newTestKeyring(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	published := func() []string {
		var ids []string
		for _, k := range kr.published() {
			ids = append(ids, k.ID())
		}
		slices.Sort(ids)
		return ids
	}

	if err := kr.Rotate(ctx, now); err != nil {
		t.Fatal(err)
	}
	first := kr.signing().ID()
	if got := published(); !slices.Equal(got, []string{first}) {
		t.Fatalf("published = %v, want [%s]", got, first)
	}

	if err := kr.Rotate(ctx, now.Add(29*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if kr.signing().ID() != first {
		t.Fatal("key rotated before its period ended")
	}

	rotatedAt := now.Add(30 * 24 * time.Hour)
	if err := kr.Rotate(ctx, rotatedAt); err != nil {
		t.Fatal(err)
	}
	second := kr.signing().ID()
	if second == first {
		t.Fatal("key not rotated after its period")
	}
	want := []string{first, second}
	slices.Sort(want)
	if got := published(); !slices.Equal(got, want) {
		t.Errorf("after rotation, published = %v, want both %v", got, want)
	}

	if err := kr.Rotate(ctx, rotatedAt.Add(47*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := published(); len(got) != 2 {
		t.Errorf("retired key dropped before its retention ended: %v", got)
	}
	if err := kr.Rotate(ctx, rotatedAt.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := published(); !slices.Equal(got, []string{second}) {
		t.Errorf("after retention, published = %v, want [%s]", got, second)
	}
}

// TestAlgorithmChange: a change of algorithm takes effect at the next
// rotation check, whatever the key's age; the old key stays published, and
// discovery lists the signing algorithm first. Every algorithm's key signs
// what its published key verifies.
func TestAlgorithmChange(t *testing.T) {
	ctx := context.Background()
	kr := newTestKeyring(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		kr.alg = alg
		if err := kr.Rotate(ctx, now.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
		k := kr.signing()
		if k.SignatureAlgorithm() != alg || slices.Contains(ids, k.ID()) {
			t.Fatalf("after a change to %s: %s key %s signs", alg, k.SignatureAlgorithm(), k.ID())
		}
		ids = append(ids, k.ID())
		if got := kr.algorithms(); got[0] != alg || len(got) != i+1 {
			t.Errorf("after a change to %s: algorithms %v, want %s first of %d", alg, got, alg, i+1)
		}

		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k.Key()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte("claims"))
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(kr.published(), func(p op.Key) bool { return p.ID() == k.ID() })
		if pub := kr.published()[i]; pub.Algorithm() != alg {
			t.Errorf("%s key published as %s", alg, pub.Algorithm())
		} else if _, err := jws.Verify(pub.Key()); err != nil {
			t.Errorf("%s: the published key does not verify: %v", alg, err)
		}
	}
	if got := len(kr.published()); got != 3 {
		t.Errorf("%d keys published, want the three", got)
	}
}

// newTestKeyring is an RS256 keyring over a new store: keys sign for 30
// days and stay published 48 hours after.
func newTestKeyring(t *testing.T) *keyring {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "keys.db"), bbolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &keyring{store: db, rotate: 30 * 24 * time.Hour, retain: 48 * time.Hour, alg: jose.RS256, bits: 1024, logger: slog.New(slog.DiscardHandler)}
}
