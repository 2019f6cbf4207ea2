package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func testSigningKeys(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	keys, err := s.ListSigningKeys(ctx)
	must(t, "ListSigningKeys", err)
	check(t, "signing keys of a new store", keys, nil)

	k1 := storage.SigningKey{ID: "k1", Algorithm: "RS256", PrivateDER: []byte{1, 2}, CreatedAt: now}
	k2 := storage.SigningKey{ID: "k2", Algorithm: "ES256", PrivateDER: []byte{3, 4}, CreatedAt: now.Add(time.Hour)}
	retired := k1
	retired.RetiredAt, retired.DeleteAfter = now.Add(time.Hour), now.Add(2*time.Hour)

	steps := []struct {
		name    string
		update  func([]storage.SigningKey) ([]storage.SigningKey, error)
		want    []storage.SigningKey // what the store holds afterwards
		wantErr error
	}{
		{"add the first key", func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			return append(ks, k1), nil
		}, []storage.SigningKey{k1}, nil},
		// Rotation replaces the set in one step: a new key signs as the old
		// one retires, with no moment when neither or both sign.
		{"rotate", func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			ks[0].RetiredAt, ks[0].DeleteAfter = retired.RetiredAt, retired.DeleteAfter
			return []storage.SigningKey{k2, ks[0]}, nil
		}, []storage.SigningKey{k2, retired}, nil},
		{"refused update", refuse[[]storage.SigningKey], []storage.SigningKey{k2, retired}, errRefused},
		{"drop the retired key", func(ks []storage.SigningKey) ([]storage.SigningKey, error) {
			return ks[:1], nil
		}, []storage.SigningKey{k2}, nil},
	}
	for _, tt := range steps {
		got, err := s.UpdateSigningKeys(ctx, tt.update)
		checkErr(t, tt.name, err, tt.wantErr)
		if err == nil {
			check(t, tt.name+": result", got, tt.want)
		}
		keys, err := s.ListSigningKeys(ctx)
		must(t, "ListSigningKeys", err)
		check(t, tt.name+": stored keys", keys, tt.want)
	}
}

func testSecrets(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	cookie1 := storage.Secret{Value: []byte("cookie-1"), CreatedAt: now}
	cookie2 := storage.Secret{Value: []byte("cookie-2"), CreatedAt: now.Add(time.Hour)}
	token1 := storage.Secret{Value: []byte("token-1"), CreatedAt: now}
	prepend := func(sec storage.Secret) func([]storage.Secret) ([]storage.Secret, error) {
		return func(old []storage.Secret) ([]storage.Secret, error) {
			return append([]storage.Secret{sec}, old...), nil
		}
	}

	// Each step's want is what the purpose holds afterwards; purposes are
	// independent, and the order a caller stores (newest first) is kept.
	steps := []struct {
		name    string
		purpose string
		update  func([]storage.Secret) ([]storage.Secret, error)
		want    []storage.Secret
		wantErr error
	}{
		{"first cookie key", "cookie", prepend(cookie1), []storage.Secret{cookie1}, nil},
		{"first token key", "token", prepend(token1), []storage.Secret{token1}, nil},
		{"second cookie key", "cookie", prepend(cookie2), []storage.Secret{cookie2, cookie1}, nil},
		{"refused update", "cookie", refuse[[]storage.Secret], nil, errRefused},
		{"read cookie keys", "cookie", noChange[[]storage.Secret], []storage.Secret{cookie2, cookie1}, nil},
		{"read token keys", "token", noChange[[]storage.Secret], []storage.Secret{token1}, nil},
		{"read an unused purpose", "other", noChange[[]storage.Secret], nil, nil},
	}
	for _, tt := range steps {
		got, err := s.UpdateSecrets(ctx, tt.purpose, tt.update)
		checkErr(t, tt.name, err, tt.wantErr)
		check(t, tt.name, got, tt.want)
	}
}
