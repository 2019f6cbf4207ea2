package login

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// FuzzSessionCookie checks the session cookie, sealed by setSessionCookie
// and opened by currentSession with the handler's own cookie keys, against
// fuzzed values and mutations of a real cookie for a live session.
// Property: a value our sealer did not produce never opens. The untouched
// cookie (as net/http reads it from the Cookie header) finds its session;
// any other value finds none and is no error,
// so a forged or altered cookie is simply a browser without a session.
func FuzzSessionCookie(f *testing.F) {
	ctx := f.Context()
	db, err := bbolt.Open(filepath.Join(f.TempDir(), "s.db"), bbolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := &Handler{cfg: Config{Now: func() time.Time { return now }, CookieKeyRotation: 30 * 24 * time.Hour, SessionLifetime: 12 * time.Hour}, store: db}
	if err := h.RotateCookieKeys(ctx); err != nil {
		f.Fatal(err)
	}
	if err := db.CreateOrgUnit(ctx, storage.OrgUnit{ID: "root", Name: "Organisation", CreatedAt: now}); err != nil {
		f.Fatal(err)
	}
	if err := db.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", OrgUnitID: "root"}); err != nil {
		f.Fatal(err)
	}
	s := storage.Session{ID: storage.NewID(), UserID: "u1", AuthTime: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateSession(ctx, s); err != nil {
		f.Fatal(err)
	}
	w := httptest.NewRecorder()
	if err := h.setSessionCookie(w, httptest.NewRequest(http.MethodGet, "/", nil), s); err != nil {
		f.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		f.Fatalf("%d cookies set, want 1", len(cookies))
	}
	name, sealed := cookies[0].Name, cookies[0].Value

	const (
		whole = iota
		insert
		replace
		truncate
		modes
	)
	f.Add(sealed, uint16(0), uint8(whole))
	f.Add("", uint16(0), uint8(whole))
	f.Add(s.ID, uint16(0), uint8(whole))
	f.Add("MTc2NzIyNTYwMHxEWDhFQVFMX2dBQUJFQUVRQUFBZ180QUFBUVp6ZEhKcGJtY01CUUFEYzJsa0JuTjBjbWx1Wnd3R0FBUjFjMlZ5fA==", uint16(0), uint8(whole))
	f.Add("a|b|c", uint16(0), uint8(whole))
	for _, pos := range []uint16{0, 1, 11, uint16(len(sealed) / 2), uint16(len(sealed) - 2), uint16(len(sealed) - 1), uint16(len(sealed))} {
		f.Add("x", pos, uint8(insert))
		f.Add("=", pos, uint8(insert))
		f.Add("A", pos, uint8(replace))
		f.Add("-", pos, uint8(replace))
		f.Add("", pos, uint8(truncate))
	}
	f.Fuzz(func(t *testing.T, v string, pos uint16, mode uint8) {
		candidate := v
		at := int(pos) % (len(sealed) + 1)
		switch mode % modes {
		case insert:
			candidate = sealed[:at] + v + sealed[at:]
		case replace:
			if v == "" || at == len(sealed) {
				return
			}
			candidate = sealed[:at] + v[:1] + sealed[at+1:]
		case truncate:
			candidate = sealed[:at]
		}
		// The raw header, as a browser or an attacker sends it; what the
		// handler sees is the value net/http reads from it (which drops
		// a cookie with bytes a cookie may not hold and unquotes "...").
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", name+"="+candidate)
		received := ""
		if c, err := r.Cookie(name); err == nil {
			received = c.Value
		}
		got, _, err := h.currentSession(r)
		if err != nil {
			t.Fatalf("cookie %q: %v", candidate, err)
		}
		if received == sealed {
			if got == nil || got.ID != s.ID {
				t.Fatalf("the untouched cookie found %v, want session %s", got, s.ID)
			}
			return
		}
		if got != nil {
			t.Fatalf("cookie %q, not sealed by us, opened session %s", candidate, got.ID)
		}
	})
}
