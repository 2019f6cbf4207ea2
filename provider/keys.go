package provider

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
)

// SigningAlgorithms are the algorithms ID tokens may be signed with, the
// default first: RS256 is required by OIDC Core (section 15.1), so every RP
// can verify it. ES256 signs about 20 times faster and EdDSA faster still,
// for deployments whose RPs all verify them.
var SigningAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// keyring holds the parsed signing keys in memory: parsing a PKCS #8 RSA key
// on every token would cost more than signing with it.
type keyring struct {
	store  storage.SigningKeys
	rotate time.Duration // how long a key signs
	retain time.Duration // how long a retired key stays published
	lead   time.Duration // how long a successor is published before it signs
	alg    jose.SignatureAlgorithm
	bits   int // for RSA keys
	logger *slog.Logger

	mu       sync.RWMutex
	active   *signingKey
	verifies []op.Key
	algs     []jose.SignatureAlgorithm // of the published keys, the signing key's first
}

type signingKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.Signer
	// accessTokens signs RFC 9068 access tokens with the key: built once,
	// as the key is parsed once.
	accessTokens jose.Signer
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	alg jose.SignatureAlgorithm
	key crypto.PublicKey
}

func (k *publicKey) ID() string                         { return k.id }
func (k *publicKey) Algorithm() jose.SignatureAlgorithm { return k.alg }
func (k *publicKey) Use() string                        { return "sig" }
func (k *publicKey) Key() any                           { return k.key }

// Rotate makes sure a key of the configured algorithm younger than the
// rotation period signs or waits to. A successor is published lead before
// it signs, so that replicas (which Refresh every minute or so) and
// relying parties hold it first; a change of algorithm, or a first key,
// signs at once. Keys the signing key has superseded are retired, and keys
// whose retention has passed dropped, all in one storage transaction. Of
// replicas rotating at once, the first makes the successor and the others
// find it made.
func (kr *keyring) Rotate(ctx context.Context, now time.Time) error {
	var created string
	keys, err := kr.store.UpdateSigningKeys(ctx, func(keys []storage.SigningKey) ([]storage.SigningKey, error) {
		created = ""
		kept := slices.DeleteFunc(slices.Clone(keys), func(k storage.SigningKey) bool {
			return !k.DeleteAfter.IsZero() && now.After(k.DeleteAfter)
		})
		fresh := slices.ContainsFunc(kept, func(k storage.SigningKey) bool {
			return k.RetiredAt.IsZero() && keyAlgorithm(k) == kr.alg && now.Sub(k.CreatedAt) < kr.rotate
		})
		if !fresh {
			k, err := newSigningKey(now, kr.alg, kr.bits)
			if err != nil {
				return nil, err
			}
			if signer, ok := signingAt(kept, now); ok && keyAlgorithm(signer) == kr.alg {
				k.ActivatesAt = now.Add(kr.lead)
			}
			created = k.ID
			kept = append(kept, k)
		}
		signer, _ := signingAt(kept, now)
		for i, k := range kept {
			if k.RetiredAt.IsZero() && k.ID != signer.ID && !k.ActivatesAt.After(now) {
				kept[i].RetiredAt, kept[i].DeleteAfter = now, now.Add(kr.retain)
			}
		}
		return kept, nil
	})
	if err != nil {
		return fmt.Errorf("rotate signing keys: %w", err)
	}
	if created != "" {
		kr.logger.InfoContext(ctx, "new signing key", "kid", created)
	}
	return kr.load(keys, now)
}

// Refresh reads the keys again, as another replica may have rotated
// them, and signs with the one due at now.
func (kr *keyring) Refresh(ctx context.Context, now time.Time) error {
	keys, err := kr.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	return kr.load(keys, now)
}

// signingAt is the key that signs at now: the newest not retired whose
// time to sign has come.
func signingAt(keys []storage.SigningKey, now time.Time) (storage.SigningKey, bool) {
	var signer storage.SigningKey
	found := false
	for _, k := range keys {
		if k.RetiredAt.IsZero() && !k.ActivatesAt.After(now) && (!found || k.CreatedAt.After(signer.CreatedAt)) {
			signer, found = k, true
		}
	}
	return signer, found
}

func (kr *keyring) load(keys []storage.SigningKey, now time.Time) error {
	signer, ok := signingAt(keys, now)
	if !ok {
		return errors.New("no active signing key")
	}
	var active *signingKey
	verifies := make([]op.Key, 0, len(keys))
	var algs []jose.SignatureAlgorithm
	for _, k := range keys {
		alg := keyAlgorithm(k)
		parsed, err := x509.ParsePKCS8PrivateKey(k.PrivateDER)
		if err != nil {
			return fmt.Errorf("parse signing key %s: %w", k.ID, err)
		}
		key, ok := parsed.(crypto.Signer)
		if !ok {
			return fmt.Errorf("signing key %s: not a signer", k.ID)
		}
		verifies = append(verifies, &publicKey{id: k.ID, alg: alg, key: key.Public()})
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
		if k.ID == signer.ID {
			active = &signingKey{id: k.ID, alg: alg, key: key}
		}
	}
	var err error
	if active.accessTokens, err = newAccessTokenSigner(active); err != nil {
		return fmt.Errorf("signing key %s: %w", active.id, err)
	}
	i := slices.Index(algs, active.alg)
	algs[0], algs[i] = algs[i], algs[0]
	kr.mu.Lock()
	kr.active, kr.verifies, kr.algs = active, verifies, algs
	kr.mu.Unlock()
	return nil
}

// keyAlgorithm is k's algorithm: RS256 for a key stored before there was
// a choice.
func keyAlgorithm(k storage.SigningKey) jose.SignatureAlgorithm {
	if k.Algorithm == "" {
		return jose.RS256
	}
	return jose.SignatureAlgorithm(k.Algorithm)
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

// publicKey is the published key kid, when it is of alg: what a token
// that names them in its header is verified with.
func (kr *keyring) publicKey(kid string, alg jose.SignatureAlgorithm) (crypto.PublicKey, bool) {
	for _, k := range kr.published() {
		if k.ID() == kid && k.Algorithm() == alg {
			return k.Key(), true
		}
	}
	return nil, false
}

func (kr *keyring) algorithms() []jose.SignatureAlgorithm {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return kr.algs
}

// newSigningKey makes a key for alg: RSA of bits, P-256 or Ed25519.
func newSigningKey(now time.Time, alg jose.SignatureAlgorithm, bits int) (storage.SigningKey, error) {
	var key any
	var err error
	switch alg {
	case jose.RS256:
		key, err = rsa.GenerateKey(rand.Reader, bits)
	case jose.ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		err = fmt.Errorf("unsupported algorithm %q", alg)
	}
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("marshal %s key: %w", alg, err)
	}
	return storage.SigningKey{ID: storage.NewID(), Algorithm: string(alg), PrivateDER: der, CreatedAt: now}, nil
}
