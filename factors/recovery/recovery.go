// Package recovery is the recovery-code factor: ten one-time codes of 60
// bits each, stored as salted hashes and shown once. Generating a new set
// replaces the old one.
package recovery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Count is how many codes a set has.
const Count = 10

// entry is one code: a salted SHA-256 hash. Codes carry 60 random bits, so
// a fast hash is enough to make a stolen database useless for signing in.
type entry struct {
	Salt []byte
	Hash []byte
	Used time.Time `json:",omitzero"`
}

// Factor is the recovery-code factor.
type Factor struct {
	Now func() time.Time
}

var _ factors.Factor = (*Factor)(nil)

func (f *Factor) Type() string  { return storage.MethodRecovery }
func (f *Factor) Label() string { return "Recovery code" }

func (f *Factor) Begin(_ context.Context, _ storage.User, _ storage.Method, c *storage.Challenge) (factors.Prompt, error) {
	c.ExpiresAt = f.Now().Add(10 * time.Minute)
	return factors.Prompt{Kind: factors.PromptCode, Message: "Enter one of your recovery codes. Each code works once."}, nil
}

// Verify accepts an unused code of the set; Apply marks it used.
func (f *Factor) Verify(_ context.Context, _ storage.User, m storage.Method, _ storage.Challenge, resp factors.Response) (factors.Result, error) {
	entries, err := decode(m.Data)
	if err != nil {
		return factors.Result{}, err
	}
	code := factors.NormalizeCode(resp.Code)
	match := -1
	for i, e := range entries {
		if e.Used.IsZero() && subtle.ConstantTimeCompare(hash(e.Salt, code), e.Hash) == 1 {
			match = i
		}
	}
	if match < 0 {
		return factors.Result{}, factors.ErrWrongAnswer
	}
	now := f.Now()
	return factors.Result{AMR: "otp", Apply: func(m storage.Method) (storage.Method, error) {
		entries, err := decode(m.Data)
		if err != nil {
			return m, err
		}
		if match >= len(entries) || !entries[match].Used.IsZero() {
			return m, factors.ErrReplayed
		}
		entries[match].Used = now
		m.Data, m.LastUsedAt = encode(entries), now
		return m, nil
	}}, nil
}

// Remaining counts the unused codes of a set.
func Remaining(m storage.Method) int {
	entries, _ := decode(m.Data)
	n := 0
	for _, e := range entries {
		if e.Used.IsZero() {
			n++
		}
	}
	return n
}

// Generate returns a new set: the codes to show once, and the method to
// store (replacing any old set) for userID.
func Generate(userID string, now time.Time) ([]string, storage.Method) {
	codes := make([]string, Count)
	entries := make([]entry, Count)
	for i := range codes {
		raw := make([]byte, 8)
		rand.Read(raw)
		// 12 base32 characters carry 60 bits; shown as xxxx-xxxx-xxxx.
		s := strings.ToLower(base32.StdEncoding.EncodeToString(raw))[:12]
		codes[i] = s[:4] + "-" + s[4:8] + "-" + s[8:]
		salt := make([]byte, 16)
		rand.Read(salt)
		entries[i] = entry{Salt: salt, Hash: hash(salt, s)}
	}
	return codes, storage.Method{
		ID: storage.NewID(), UserID: userID, Type: storage.MethodRecovery,
		Data: encode(entries), CreatedAt: now,
	}
}

func hash(salt []byte, code string) []byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(code))
	return h.Sum(nil)
}

func decode(data []byte) ([]entry, error) {
	var entries []entry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("decode recovery codes: %w", err)
	}
	return entries, nil
}

func encode(entries []entry) []byte {
	b, _ := json.Marshal(entries)
	return b
}
