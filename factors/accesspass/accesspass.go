// Package accesspass is the temporary access pass: a code the helpdesk
// gives a user who has lost their device, read out over the phone, to sign
// in with and register a new method. It lasts hours, works once unless
// issued for many uses, and satisfies the second factor (acr mfa, amr otp:
// RFC 8176 has no name for it, and it is a one-time password given out of
// band), never a phishing-resistant one. Entra's Temporary Access Pass is
// the model.
package accesspass

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// A pass is Length characters of Crockford's base32 alphabet, which leaves
// out I, L, O and U so nothing is misread over the phone: Bits of entropy,
// shown in groups of four.
const (
	Length = 12
	Bits   = 5 * Length
)

const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Limits on a pass's life, and the default.
const (
	MinLifetime     = time.Hour
	MaxLifetime     = 8 * time.Hour
	DefaultLifetime = time.Hour
)

// data is a pass as stored: an HMAC of the code, never the code.
type data struct {
	Hash     []byte
	Reusable bool `json:",omitempty"`
}

// Factor checks temporary access passes.
type Factor struct {
	Sealer *factors.Sealer
	Now    func() time.Time
}

var _ factors.Factor = (*Factor)(nil)

func (f *Factor) Type() string  { return storage.MethodPass }
func (f *Factor) Label() string { return "Temporary access pass" }

// Issue makes a pass for userID that lasts lifetime and works once, or
// until it expires when reusable: the code to show once, grouped
// (7KQ2-M9XD-4HTP), and the method to store.
func (f *Factor) Issue(userID string, lifetime time.Duration, reusable bool) (string, storage.Method) {
	raw := make([]byte, Length)
	rand.Read(raw)
	code := make([]byte, Length)
	for i, b := range raw {
		code[i] = alphabet[b%32] // 256 is a multiple of 32: no bias
	}
	now := f.Now()
	m := storage.Method{ID: storage.NewID(), UserID: userID, Type: storage.MethodPass, CreatedAt: now, ExpiresAt: now.Add(lifetime)}
	m.Data, _ = json.Marshal(data{Hash: f.Sealer.CodeHash(m.ID, string(code)), Reusable: reusable})
	return group(string(code)), m
}

// Reusable reports whether pass m may be used more than once.
func Reusable(m storage.Method) bool {
	var d data
	json.Unmarshal(m.Data, &d)
	return d.Reusable
}

func group(code string) string {
	var parts []string
	for i := 0; i < len(code); i += 4 {
		parts = append(parts, code[i:min(i+4, len(code))])
	}
	return strings.Join(parts, "-")
}

// normalize is a typed pass as it was issued: capitals, no spaces or
// dashes, and the letters Crockford's alphabet leaves out read as the
// digits they look like.
func normalize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-':
			return -1
		case 'I', 'L':
			return '1'
		case 'O':
			return '0'
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(s)))
}

func (f *Factor) Begin(_ context.Context, _ storage.User, m storage.Method, c *storage.Challenge) (factors.Prompt, error) {
	c.ExpiresAt = f.Now().Add(10 * time.Minute)
	if m.ExpiresAt.Before(c.ExpiresAt) {
		c.ExpiresAt = m.ExpiresAt
	}
	return factors.Prompt{Kind: factors.PromptCode, Message: "Enter the temporary access pass your helpdesk gave you."}, nil
}

// Verify accepts the pass while it lasts; Apply spends a one-time pass, so
// of two requests racing with it only one counts.
func (f *Factor) Verify(_ context.Context, _ storage.User, m storage.Method, _ storage.Challenge, resp factors.Response) (factors.Result, error) {
	var d data
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return factors.Result{}, fmt.Errorf("decode access pass: %w", err)
	}
	now := f.Now()
	if !m.LiveAt(now) {
		return factors.Result{}, factors.ErrReplayed
	}
	if !f.Sealer.CodeMatches(m.ID, normalize(resp.Code), d.Hash) {
		return factors.Result{}, factors.ErrWrongAnswer
	}
	return factors.Result{AMR: "otp", Apply: func(m storage.Method) (storage.Method, error) {
		if !m.LiveAt(now) {
			return m, factors.ErrReplayed
		}
		if !d.Reusable {
			m.ExpiresAt = now // spent
		}
		m.LastUsedAt = now
		return m, nil
	}}, nil
}
