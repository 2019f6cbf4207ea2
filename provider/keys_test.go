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

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// TestKeyRotation walks a key's life: it signs for the rotation period;
// its successor is then published, and signs a lead later; the old key is
// then retired but stays published for the retention period, and is then
// dropped.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	kr := newTestKeyring(t, nil)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	if err := kr.Rotate(ctx, now); err != nil {
		t.Fatal(err)
	}
	first := kr.signing().ID()
	if got := publishedIDs(kr); !slices.Equal(got, []string{first}) {
		t.Fatalf("published = %v, want [%s]", got, first)
	}

	if err := kr.Rotate(ctx, now.Add(29*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := publishedIDs(kr); kr.signing().ID() != first || len(got) != 1 {
		t.Fatalf("a successor before the period ended: published %v", got)
	}

	rotatedAt := now.Add(30 * 24 * time.Hour)
	if err := kr.Rotate(ctx, rotatedAt); err != nil {
		t.Fatal(err)
	}
	got := publishedIDs(kr)
	if len(got) != 2 || kr.signing().ID() != first {
		t.Fatalf("at the period's end: published %v, signing %s; want a successor published, %s still signing", got, kr.signing().ID(), first)
	}
	second := got[0]
	if second == first {
		second = got[1]
	}
	if err := kr.Refresh(ctx, rotatedAt.Add(kr.lead-time.Second)); err != nil {
		t.Fatal(err)
	}
	if kr.signing().ID() != first {
		t.Error("the successor signed before its lead was up")
	}
	if err := kr.Refresh(ctx, rotatedAt.Add(kr.lead)); err != nil {
		t.Fatal(err)
	}
	if kr.signing().ID() != second {
		t.Errorf("a lead after it was published, %s signs, want the successor %s", kr.signing().ID(), second)
	}

	retiredAt := rotatedAt.Add(time.Hour) // the next hourly rotation check
	if err := kr.Rotate(ctx, retiredAt); err != nil {
		t.Fatal(err)
	}
	if err := kr.Rotate(ctx, retiredAt.Add(47*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := publishedIDs(kr); len(got) != 2 {
		t.Errorf("retired key dropped before its retention ended: %v", got)
	}
	if err := kr.Rotate(ctx, retiredAt.Add(49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := publishedIDs(kr); !slices.Equal(got, []string{second}) {
		t.Errorf("after retention, published = %v, want [%s]", got, second)
	}
}

// TestKeyRotationAcrossReplicas: of two replicas on one store, the one
// that rotates makes the successor; the other, refreshing, publishes it
// before anyone signs with it, and both sign with it once its lead is up:
// a token either signs, the other verifies.
func TestKeyRotationAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	a := newTestKeyring(t, nil)
	b := newTestKeyring(t, a.store)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, kr := range []*keyring{a, b} {
		if err := kr.Rotate(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	if a.signing().ID() != b.signing().ID() {
		t.Fatal("two replicas starting together made two keys")
	}
	first := a.signing().ID()
	rotatedAt := now.Add(30 * 24 * time.Hour)
	if err := a.Rotate(ctx, rotatedAt); err != nil {
		t.Fatal(err)
	}
	if a.signing().ID() != first {
		t.Error("a signs with its new key before b, not yet refreshed, could verify it")
	}
	if err := b.Refresh(ctx, rotatedAt.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(publishedIDs(a), publishedIDs(b)) || len(publishedIDs(b)) != 2 {
		t.Fatalf("after a refresh: a publishes %v, b %v", publishedIDs(a), publishedIDs(b))
	}
	if err := b.Rotate(ctx, rotatedAt.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(publishedIDs(b)) != 2 {
		t.Errorf("the second replica's rotation made another key: %v", publishedIDs(b))
	}
	at := rotatedAt.Add(a.lead)
	for _, kr := range []*keyring{a, b} {
		if err := kr.Refresh(ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	if a.signing().ID() != b.signing().ID() {
		t.Errorf("a lead on, a signs with %s and b with %s", a.signing().ID(), b.signing().ID())
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: a.signing().Key()}, (&jose.SignerOptions{}).WithHeader("kid", a.signing().ID()))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign([]byte("claims"))
	if err != nil {
		t.Fatal(err)
	}
	if key, ok := b.publicKey(a.signing().ID(), jose.RS256); !ok {
		t.Error("b does not publish the key a signs with")
	} else if _, err := jws.Verify(key); err != nil {
		t.Errorf("b cannot verify what a signed: %v", err)
	}
}

func publishedIDs(kr *keyring) []string {
	var ids []string
	for _, k := range kr.published() {
		ids = append(ids, k.ID())
	}
	slices.Sort(ids)
	return ids
}

// TestAlgorithmChange: a change of algorithm takes effect at the next
// rotation check, whatever the key's age; the old key stays published, and
// discovery lists the signing algorithm first. Every algorithm's key signs
// what its published key verifies.
func TestAlgorithmChange(t *testing.T) {
	ctx := context.Background()
	kr := newTestKeyring(t, nil)
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

// newTestKeyring is an RS256 keyring over store, or a new one: keys sign
// for 30 days, successors are published KeyLead before, and retired keys
// stay published 48 hours.
func newTestKeyring(t *testing.T, store storage.SigningKeys) *keyring {
	t.Helper()
	if store == nil {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "keys.db"), bbolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		store = db
	}
	return &keyring{store: store, rotate: 30 * 24 * time.Hour, retain: 48 * time.Hour, lead: KeyLead, alg: jose.RS256, bits: 1024,
		logger: slog.New(slog.DiscardHandler)}
}
