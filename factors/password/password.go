// Package password hashes and verifies passwords with argon2id, the first
// factor of every sign-in, and decides whether a new one is acceptable
// (see CheckPolicy).
//
// One argon2id hash at the OWASP parameters costs ~17 ms of CPU and 19 MiB of
// memory, so a Hasher bounds how many run at once: a burst of sign-ins waits
// its turn instead of exhausting memory.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
}

// OWASP returns the OWASP Password Storage Cheat Sheet's argon2id minimum:
// m=19 MiB, t=2, p=1.
func OWASP() Params { return Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1} }

const (
	saltLen = 16
	keyLen  = 32
)

var (
	// ErrBusy means the request gave up waiting for a hashing slot.
	ErrBusy = errors.New("password hashing is busy")
	// ErrMalformedHash means a stored hash could not be parsed.
	ErrMalformedHash = errors.New("malformed password hash")
)

// Hasher hashes and verifies passwords, at most a fixed number at a time.
type Hasher struct {
	params  Params
	slots   chan struct{}
	waiting atomic.Int64 // hashes queued for a slot
	dummy   string       // verified against for unknown users, to equalise timing
}

// NewHasher returns a Hasher using params for new hashes and running at most
// maxConcurrent hashes at once.
func NewHasher(params Params, maxConcurrent int) *Hasher {
	if maxConcurrent < 1 {
		maxConcurrent = 1
	}
	h := &Hasher{params: params, slots: make(chan struct{}, maxConcurrent)}
	h.dummy = encode(params, make([]byte, saltLen), make([]byte, keyLen))
	return h
}

// Hash returns the PHC string of pw:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key, err := h.derive(ctx, pw, h.params, salt)
	if err != nil {
		return "", err
	}
	return encode(h.params, salt, key), nil
}

// Verify reports whether pw matches the encoded hash. rehash is true when
// the hash was made with other parameters than the current ones, so the
// caller can store a fresh hash after a successful sign-in.
func (h *Hasher) Verify(ctx context.Context, encoded, pw string) (ok, rehash bool, err error) {
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got, err := h.derive(ctx, pw, p, salt)
	if err != nil {
		return false, false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, p != h.params, nil
}

// VerifyDummy does the work of a verification that always fails. Calling it
// for unknown usernames makes their failure take as long as a wrong password.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, _, err := h.Verify(ctx, h.dummy, pw)
	return err
}

// Load reports how many hashes are being computed and how many wait for
// a slot, and how many slots there are: a queue that never empties means
// sign-ins wait on argon2id.
func (h *Hasher) Load() (hashing, waiting, slots int) {
	return len(h.slots), int(h.waiting.Load()), cap(h.slots)
}

func (h *Hasher) derive(ctx context.Context, pw string, p Params, salt []byte) ([]byte, error) {
	h.waiting.Add(1)
	select {
	case h.slots <- struct{}{}:
		h.waiting.Add(-1)
	case <-ctx.Done():
		h.waiting.Add(-1)
		return nil, fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
	}
	defer func() { <-h.slots }()
	return argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, keyLen), nil
}

var b64 = base64.RawStdEncoding

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func decode(s string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, nil, nil, ErrMalformedHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if p.MemoryKiB == 0 || p.Iterations == 0 || p.Parallelism == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return p, nil, nil, ErrMalformedHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) == 0 {
		return p, nil, nil, ErrMalformedHash
	}
	return p, salt, key, nil
}

// Generate returns a random one-time password: 26 base32 characters,
// 128 bits from crypto/rand.
func Generate() string { return rand.Text() }
