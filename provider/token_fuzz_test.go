package provider

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// FuzzOpenAccessToken checks the crypto Gatehouse gives op for opaque
// access tokens (AES-256-GCM in a compact JWE, and nothing else) against
// fuzzed strings and mutations of a real access token issued by the token
// endpoint. Property: a string our sealer did not produce never opens.
// Only the untouched token opens to its content; a mutation opens only if
// it is another spelling of the very same JWE (white space added, or
// base64 that decodes to the same bytes in every part, as go-jose's
// decoder allows), and then to the same content: nothing can be forged or
// altered. (go-jose also reads the JSON serialisation; a string in it that
// opens must still open to the same content.)
func FuzzOpenAccessToken(f *testing.F) {
	p, db, secret := newTestProvider(f)
	token, refresh := issue(f, p, db, secret)
	crypto := p.op.Crypto()
	want, err := crypto.Decrypt(token)
	if err != nil {
		f.Fatalf("the issued token does not open: %v", err)
	}
	parts := jweParts(token)
	if parts == nil {
		f.Fatalf("the issued token %q is not a compact JWE", token)
	}

	const (
		whole = iota
		insert
		replace
		truncate
		swapParts
		modes
	)
	f.Add("", uint16(0), uint8(whole))
	f.Add(token, uint16(0), uint8(whole))
	f.Add(refresh, uint16(0), uint8(whole))
	f.Add("Bearer "+token, uint16(0), uint8(whole))
	f.Add(strings.Repeat("A", 200), uint16(0), uint8(whole))
	f.Add("....", uint16(0), uint8(whole))
	f.Add("eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", uint16(0), uint8(whole))
	f.Add("eyJhbGciOiJub25lIn0.e30.", uint16(0), uint8(whole))
	for _, pos := range []uint16{0, 1, 10, 40, uint16(len(token) / 2), uint16(len(token) - 2), uint16(len(token) - 1), uint16(len(token))} {
		f.Add("x", pos, uint8(insert))
		f.Add("=", pos, uint8(insert))
		f.Add(".", pos, uint8(insert))
		f.Add("A", pos, uint8(replace))
		f.Add("B", pos, uint8(replace))
		f.Add("", pos, uint8(truncate))
	}
	f.Add("", uint16(0x0102), uint8(swapParts))
	f.Add("", uint16(0x0304), uint8(swapParts))
	f.Fuzz(func(t *testing.T, s string, pos uint16, mode uint8) {
		candidate := s
		at := int(pos) % (len(token) + 1)
		switch mode % modes {
		case insert:
			candidate = token[:at] + s + token[at:]
		case replace:
			if s == "" || at == len(token) {
				return
			}
			candidate = token[:at] + s[:1] + token[at+1:]
		case truncate:
			candidate = token[:at]
		case swapParts:
			ps := strings.Split(token, ".")
			i, j := int(pos>>8)%len(ps), int(pos&0xff)%len(ps)
			ps[i], ps[j] = ps[j], ps[i]
			candidate = strings.Join(ps, ".")
		}
		got, err := crypto.Decrypt(candidate)
		if candidate == token {
			if err != nil || got != want {
				t.Fatalf("the untouched token opened to %q, %v", got, err)
			}
			return
		}
		if err != nil {
			return
		}
		if got != want {
			t.Fatalf("%q, not issued, opened to %q", candidate, got)
		}
		if strings.HasPrefix(strings.TrimLeftFunc(candidate, unicode.IsSpace), "{") {
			return // the JSON serialisation: same content is all there is to check
		}
		if ps := jweParts(candidate); !slices.EqualFunc(ps, parts, slices.Equal) || len(ps) != len(parts) {
			t.Fatalf("%q opened to the token's content, yet is not a respelling of it", candidate)
		}
	})
}

// jweParts decodes a compact JWE's five parts as go-jose does (white
// space anywhere dropped, then unpadded base64url, not strict about the
// last character's unused bits), or nil.
func jweParts(s string) [][]byte {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	ps := strings.Split(s, ".")
	if len(ps) != 5 {
		return nil
	}
	out := make([][]byte, len(ps))
	for i, p := range ps {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return nil
		}
		out[i] = b
	}
	return out
}
