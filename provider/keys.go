package provider

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RS256 is required by OIDC Core (section 15.1), so every RP can verify it.
const signingAlgorithm = jose.RS256

// keyring holds the parsed signing keys in memory: parsing a PKCS #8 RSA key
// on every token would cost more than signing with it.
type keyring struct {
	store    storage.SigningKeys
	rotate   time.Duration // how long a key signs
	retain   time.Duration // how long a retired key stays published
	bits     int
	logger   *slog.Logger
	mu       sync.RWMutex
	active   *signingKey
	verifies []op.Key
}

type signingKey struct {
	id  string
	key crypto.Signer
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return signingAlgorithm }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	key crypto.PublicKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return signingAlgorithm }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }

// Rotate makes sure a key younger than the rotation period signs, retiring
// the previous one and dropping keys whose retention has passed, all in one
// storage transaction.
func (kr *keyring) Rotate(ctx context.Context, now time.Time) error {
	var created string
	keys, err := kr.store.UpdateSigningKeys(ctx, func(keys []storage.SigningKey) ([]storage.SigningKey, error) {
		created = ""
		var kept []storage.SigningKey
		needNew := true
		for _, k := range keys {
			if !k.DeleteAfter.IsZero() && now.After(k.DeleteAfter) {
				continue
			}
			if k.RetiredAt.IsZero() {
				if now.Sub(k.CreatedAt) < kr.rotate {
					needNew = false
				} else {
					k.RetiredAt = now
					k.DeleteAfter = now.Add(kr.retain)
				}
			}
			kept = append(kept, k)
		}
		if needNew {
			k, err := newSigningKey(now, kr.bits)
			if err != nil {
				return nil, err
			}
			created = k.ID
			kept = append(kept, k)
		}
		return kept, nil
	})
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	if created != "" {
		kr.logger.InfoContext(ctx, "new signing key", "kid", created)
	}
	return kr.load(keys)
}

func (kr *keyring) load(keys []storage.SigningKey) error {
	var active *signingKey
	var activeAt time.Time
	verifies := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		parsed, err := x509.ParsePKCS8PrivateKey(k.PrivateDER)
		if err != nil {
			return fmt.Errorf("parse signing key %s: %w", k.ID, err)
		}
		signer, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("signing key %s: not a signer", k.ID)
		}
		verifies = append(verifies, &publicKey{id: k.ID, key: signer.Public()})
		if k.RetiredAt.IsZero() && k.CreatedAt.After(activeAt) {
			active, activeAt = &signingKey{id: k.ID, key: signer}, k.CreatedAt
		}
	}
	if active == nil {
		return errors.New("no active signing key")
	}
	kr.mu.Lock()
	kr.active, kr.verifies = active, verifies
	kr.mu.Unlock()
	return nil
}

func (kr *keyring) signing() *signingKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.active
}

func (kr *keyring) published() []op.Key {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.verifies
}

func newSigningKey(now time.Time, bits int) (storage.SigningKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("marshal RSA key: %w", err)
	}
	return storage.SigningKey{ID: storage.NewID(), Algorithm: string(signingAlgorithm), PrivateDER: der, CreatedAt: now}, nil
}
