package login

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The session cookie carries only a session id, sealed and signed by
// gorilla/securecookie; the session itself lives in storage, so signing out
// or disabling a user ends it everywhere at once.

const sessionCookie = "session"

// cookieKeys returns the cookie key pairs, the one that seals first,
// generating a new pair when the newest is older than rotate and dropping
// pairs no live cookie can still carry. A new pair seals only once it is
// keyLead old: replicas, reading the keys every minute, hold it by then,
// so any of them opens what it seals. The very first pair seals at once.
func cookieKeys(ctx context.Context, store storage.Secrets, now time.Time, rotate, keep time.Duration) ([][]byte, error) {
	secrets, err := store.UpdateSecrets(ctx, "cookie-keys", func(s []storage.Secret) ([]storage.Secret, error) {
		if len(s) == 0 || now.Sub(s[0].CreatedAt) >= rotate {
			v := make([]byte, 64)
			rand.Read(v)
			s = append([]storage.Secret{{Value: v, CreatedAt: now}}, s...)
		}
		kept := s[:1]
		for _, old := range s[1:] {
			// A key sealed cookies until its successor was made, and a
			// lead after; those cookies live at most keep longer.
			if now.Sub(old.CreatedAt) < rotate+keyLead+keep {
				kept = append(kept, old)
			}
		}
		return kept, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load cookie keys: %w", err)
	}
	sealer := slices.IndexFunc(secrets, func(s storage.Secret) bool { return now.Sub(s.CreatedAt) >= keyLead })
	if sealer < 0 {
		sealer = 0
	}
	secrets = append([]storage.Secret{secrets[sealer]}, slices.Delete(slices.Clone(secrets), sealer, sealer+1)...)
	var pairs [][]byte
	for _, s := range secrets {
		pairs = append(pairs, s.Value[:32], s.Value[32:])
	}
	return pairs, nil
}

// keyLead is how long a new cookie key opens cookies before it seals any.
const keyLead = 10 * time.Minute

// cookieName adds the __Host- prefix over https, which pins the cookie to
// this host and path / and requires Secure.
func (h *Handler) cookieName(name string) string {
	if h.secure {
		return "__Host-gatehouse-" + name
	}
	return "gatehouse-" + name
}

func (h *Handler) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: h.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		Secure: h.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
}

// currentSession returns the browser's live session and its user, or nil
// (and a zero user) when there is none.
func (h *Handler) currentSession(r *http.Request) (*storage.Session, storage.User, error) {
	var none storage.User
	cs, err := h.cookies.Load().New(r, h.cookieName(sessionCookie))
	if err != nil || cs.IsNew {
		return nil, none, nil // no cookie, or one sealed with a retired key
	}
	id, _ := cs.Values["sid"].(string)
	if id == "" {
		return nil, none, nil
	}
	s, err := h.store.GetSession(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, none, nil
	}
	if err != nil {
		return nil, none, fmt.Errorf("get session: %w", err)
	}
	if h.cfg.Now().After(s.ExpiresAt) {
		return nil, none, nil
	}
	u, err := h.store.GetUser(r.Context(), s.UserID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && u.Disabled {
		return nil, none, nil
	}
	if err != nil {
		return nil, none, fmt.Errorf("get user: %w", err)
	}
	return &s, u, nil
}

// proof is what a new session records the user proved.
type proof struct {
	amr             []string
	acr             string
	authTime, mfaAt time.Time
}

// passwordProof is a password just verified.
func (h *Handler) passwordProof() proof {
	acr, amr := policy.PasswordProof()
	return proof{amr: amr, acr: string(acr), authTime: h.cfg.Now()}
}

// startSession replaces any session this browser had with a new one, under
// a new id, so a session id planted before sign-in (or before the second
// factor) is worthless after it.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, userID string, p proof) (storage.Session, error) {
	old, _, err := h.currentSession(r)
	if err != nil {
		return storage.Session{}, err
	}
	s, write := h.newSession(r, old, userID, p)
	if err := h.store.Atomically(r.Context(), write); err != nil {
		return s, err
	}
	return s, h.setSessionCookie(w, r, s)
}

// newSession is startSession for a step that makes its writes together:
// the new session, and the write that replaces old, the browser's current
// session (nil for none), with it. It reads nothing, so it may be called
// inside a transaction. Once the write has committed, setSessionCookie
// hands the session to the browser.
func (h *Handler) newSession(r *http.Request, old *storage.Session, userID string, p proof) (storage.Session, func(storage.Tx) error) {
	now := h.cfg.Now()
	s := storage.Session{
		ID:         storage.NewID(),
		UserID:     userID,
		AuthTime:   p.authTime,
		AMR:        p.amr,
		ACR:        p.acr,
		MFAAt:      p.mfaAt,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(h.cfg.SessionLifetime),
		IP:         h.clientIP(r),
		UserAgent:  r.UserAgent(),
	}
	return s, func(tx storage.Tx) error {
		if old != nil {
			if err := tx.DeleteSession(old.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		return tx.CreateSession(s)
	}
}

// setSessionCookie gives the browser s, once it is stored.
func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, s storage.Session) error {
	cs, _ := h.cookies.Load().New(r, h.cookieName(sessionCookie))
	cs.Values = map[any]any{"sid": s.ID}
	if err := cs.Save(r, w); err != nil {
		return fmt.Errorf("save session cookie: %w", err)
	}
	return nil
}

// signedInPage is the shared part of a page shown to a browser with a
// session: the layout adds Sign out, which posts the form token.
func (h *Handler) signedInPage(r *http.Request, title string) templates.Page {
	csrf := h.csrfToken(r)
	return templates.Page{Title: title, CSRF: csrf, SignedIn: csrf != ""}
}

// endSession deletes the browser's session and its cookie.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, s *storage.Session) error {
	http.SetCookie(w, h.cookie(sessionCookie, "", -1))
	if s == nil {
		return nil
	}
	if err := h.store.DeleteSession(r.Context(), s.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
