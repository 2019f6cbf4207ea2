package otp

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// FuzzVoiceCallback posts fuzzed callbacks, and mutations of genuine ones,
// to the callback endpoint (Voice.ServeHTTP) over a bbolt store holding a
// live call, an expired call and a text-message challenge, at a fuzzed
// time. Property: a callback approves a call only when the challenge, exp
// and sig the handler reads from its query are the ones callbackURL made
// for that call with our key, and only before the call expires; then it
// always does (204). Anything else (forged, altered, expired, signed with
// another key, for a challenge that is no call) approves nothing and is a
// 403, never a 500.
func FuzzVoiceCallback(f *testing.F) {
	ctx := f.Context()
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "v.db"), bbolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	box := NewOutbox(clock)
	cfg := Config{Sealer: newSealer(f), Org: "Gatehouse", Now: clock}
	v := NewVoice(box, nil, "https://id.example.org", db, slog.New(slog.DiscardHandler), cfg)

	// signed holds the exp and sig callbackURL gave each challenge.
	signed := map[string]url.Values{}
	add := func(c storage.Challenge, callback string) string {
		if err := db.CreateChallenge(ctx, c); err != nil {
			f.Fatal(err)
		}
		u, err := url.Parse(callback)
		if err != nil {
			f.Fatal(err)
		}
		signed[c.ID] = u.Query()
		return u.RawQuery
	}
	call := func(id string, at time.Time) string {
		now = at
		c := storage.Challenge{ID: id, UserID: "u1", Type: storage.MethodVoice, CreatedAt: at}
		if _, err := v.Begin(ctx, storage.User{ID: "u1"}, storage.Method{Type: storage.MethodVoice, Target: "+447700900123"}, &c); err != nil {
			f.Fatal(err)
		}
		return add(c, box.Items()[0].callbackURL)
	}
	live := call("live", t0)
	old := call("old", t0.Add(-Lifetime-time.Minute))
	text := storage.Challenge{ID: "text", UserID: "u1", Type: storage.MethodSMS, CreatedAt: t0, ExpiresAt: t0.Add(Lifetime)}
	sms := add(text, v.callbackURL(text))
	other, err := factors.NewSealer(bytes.Repeat([]byte{7}, factors.KeySize))
	if err != nil {
		f.Fatal(err)
	}
	forger := NewVoice(box, nil, "https://id.example.org", db, slog.New(slog.DiscardHandler), Config{Sealer: other, Org: "Gatehouse", Now: clock})
	liveCall, err := db.GetChallenge(ctx, "live")
	if err != nil {
		f.Fatal(err)
	}
	otherKey, _ := url.Parse(forger.callbackURL(liveCall))
	bases := []string{live, old, sms, otherKey.RawQuery}

	const (
		whole = iota
		insert
		replace
		truncate
		modes
	)
	late := int32((Lifetime - time.Second) / time.Second)
	for i := range bases {
		for _, at := range []int32{0, 1, late, late + 1, -3600, 1 << 30} {
			f.Add("", uint16(0), uint8(insert), uint8(i), at) // the callback as made
		}
	}
	for _, s := range []string{
		"", "challenge=live", "challenge=live&exp=1&sig=", "sig=x&exp=9223372036854775807&challenge=live",
		"challenge=live&exp=-1&sig=AAAA", "challenge=%00&exp=0&sig=", "challenge=live;exp=1", "%zz",
		"challenge=live&challenge=old&exp=1&sig=a", "challenge=" + liveCall.ID + "\x00voice-callback:1",
	} {
		f.Add(s, uint16(0), uint8(whole), uint8(0), int32(0))
	}
	for _, pos := range []uint16{0, 10, 15, 20, 30, 40, uint16(len(live) - 1), uint16(len(live))} {
		for _, s := range []string{"&", "+", "0", "%", "&exp=1", "&sig=x", "&challenge=old"} {
			f.Add(s, pos, uint8(insert), uint8(0), int32(0))
		}
		f.Add("A", pos, uint8(replace), uint8(0), int32(0))
		f.Add("", pos, uint8(truncate), uint8(0), int32(0))
	}
	f.Fuzz(func(t *testing.T, s string, pos uint16, mode uint8, which uint8, at int32) {
		base := bases[int(which)%len(bases)]
		candidate := base
		i := int(pos) % (len(base) + 1)
		switch mode % modes {
		case whole:
			candidate = s
		case insert:
			candidate = base[:i] + s + base[i:]
		case replace:
			if s == "" || i == len(base) {
				return
			}
			candidate = base[:i] + s[:1] + base[i+1:]
		case truncate:
			candidate = base[:i]
		}
		now = t0.Add(time.Duration(at) * time.Second)
		r := httptest.NewRequest(http.MethodPost, CallbackPath, nil)
		r.URL.RawQuery = candidate // as the server reads it off the request line
		w := httptest.NewRecorder()
		v.ServeHTTP(w, r)

		q := r.URL.Query()
		id := q.Get("challenge")
		want := false
		if g, ok := signed[id]; ok && g.Get("exp") == q.Get("exp") && g.Get("sig") == q.Get("sig") {
			c, err := db.GetChallenge(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			want = c.Type == storage.MethodVoice && now.Before(c.ExpiresAt)
		}
		switch {
		case want && w.Code != http.StatusNoContent:
			t.Fatalf("genuine callback %q at %v: status %d, want 204", candidate, now, w.Code)
		case !want && w.Code != http.StatusForbidden:
			t.Fatalf("callback %q at %v: status %d, want 403", candidate, now, w.Code)
		}
		for cid := range signed {
			c, err := db.GetChallenge(ctx, cid)
			if err != nil {
				t.Fatal(err)
			}
			if c.Approved != (want && cid == id) {
				t.Fatalf("callback %q at %v: challenge %s approved %v", candidate, now, cid, c.Approved)
			}
			if c.Approved {
				if _, err := db.UpdateChallenge(ctx, cid, func(c storage.Challenge) (storage.Challenge, error) {
					c.Approved = false
					return c, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
