package factors

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Sealer encrypts method secrets at rest with AES-256-GCM. Its key lives in
// a file beside, not inside, the database, so a copy of the database alone
// reveals no TOTP key.
type Sealer struct {
	aead cipher.AEAD
	mac  []byte // derived key for code HMACs
}

// KeySize is the sealing key's length in bytes.
const KeySize = 32

// LoadOrCreateKey reads the key file, creating it (mode 0600) with a random
// key on first start. Replicas sharing the key's directory may start
// together: the key is written whole to a file of its own and then linked
// into place, so the first link wins and no process reads half a key.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := createKey(path); err != nil {
			return nil, err
		}
		key, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("key file %s: %d bytes, want %d", path, len(key), KeySize)
	}
	return key, nil
}

// createKey links a new random key into place at path, unless another
// process got there first.
func createKey(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".mfa-key-*")
	if err != nil {
		return fmt.Errorf("create key file: %w", err)
	}
	defer os.Remove(f.Name())
	key := make([]byte, KeySize)
	rand.Read(key)
	_, err = f.Write(key)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create key file: %w", err)
	}
	return nil
}

// NewSealer returns a Sealer for a KeySize-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("sealing key: %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("gatehouse code hmac"))
	return &Sealer{aead: aead, mac: m.Sum(nil)}, nil
}

// Seal encrypts plaintext bound to context (a user id, say): a sealed value
// moved to another record does not open.
func (s *Sealer) Seal(plaintext []byte, context string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, []byte(context))
}

// Open decrypts what Seal made with the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed value too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(context))
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", err)
	}
	return out, nil
}

// CodeHash is how a one-time code is stored: an HMAC over the challenge id
// and the code, so a database copy cannot be searched for the code even
// though codes are short.
func (s *Sealer) CodeHash(challengeID, code string) []byte {
	m := hmac.New(sha256.New, s.mac)
	m.Write([]byte(challengeID + "\x00" + code))
	return m.Sum(nil)
}

// CodeMatches compares a code with a stored hash in constant time.
func (s *Sealer) CodeMatches(challengeID, code string, hash []byte) bool {
	return hmac.Equal(s.CodeHash(challengeID, code), hash)
}
