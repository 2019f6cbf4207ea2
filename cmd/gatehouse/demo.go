package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// demo is a real relying party, built with zitadel's rp package, that signs
// in with Gatehouse and shows the ID token's claims: what a newcomer clicks
// first, and a worked example for RP developers.
type demo struct {
	rp     rp.RelyingParty
	pages  *templates.Templates
	issuer string
	base   string
	logger *slog.Logger

	mu       sync.Mutex
	sessions map[string]demoSession // by cookie value; demo only, in memory
}

type demoSession struct {
	claims  []templates.Claim
	idToken string
}

const demoCookie = "gatehouse-demo"

func newDemo(ctx context.Context, issuer, base string, client *http.Client, logger *slog.Logger) (*demo, error) {
	pages, err := templates.Parse(logger)
	if err != nil {
		return nil, err
	}
	hashKey, encryptKey := make([]byte, 32), make([]byte, 32)
	rand.Read(hashKey)
	rand.Read(encryptKey)
	cookies := httphelper.NewCookieHandler(hashKey, encryptKey, httphelper.WithUnsecure())
	d := &demo{pages: pages, issuer: issuer, base: base, logger: logger, sessions: map[string]demoSession{}}
	d.rp, err = rp.NewRelyingPartyOIDC(ctx, issuer, demoClientID, "", base+"/callback",
		[]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail},
		rp.WithPKCE(cookies),
		rp.WithHTTPClient(client),
		// What went wrong is logged, never shown: the library's own
		// failures carry its error text, and an error the provider sent
		// carries a description anyone can write into the callback's URL.
		rp.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, errorType, desc, _ string) {
			d.failed(w, r, errorType, desc)
		}),
		rp.WithUnauthorizedHandler(func(w http.ResponseWriter, r *http.Request, desc, _ string) {
			d.failed(w, r, "unauthorized", desc)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("demo relying party: %w", err)
	}
	return d, nil
}

func (d *demo) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { d.page(w, r, http.StatusOK, "") })
	mux.Handle("GET /login", rp.AuthURLHandler(func() string { return storage.RandomString(16) }, d.rp))
	mux.Handle("GET /callback", rp.CodeExchangeHandler(d.signedIn, d.rp))
	mux.HandleFunc("POST /logout", d.logout)
	mux.Handle("GET /static/", templates.Static())
	return http.NewCrossOriginProtection().Handler(mux)
}

func (d *demo) signedIn(w http.ResponseWriter, r *http.Request, tokens *oidc.Tokens[*oidc.IDTokenClaims], _ string, _ rp.RelyingParty) {
	raw, _ := json.Marshal(tokens.IDTokenClaims)
	var m map[string]any
	json.Unmarshal(raw, &m)
	var claims []templates.Claim
	for _, name := range slices.Sorted(maps.Keys(m)) {
		v, _ := json.Marshal(m[name])
		claims = append(claims, templates.Claim{Name: name, Value: string(v)})
	}
	id := storage.NewID()
	d.mu.Lock()
	if len(d.sessions) > 1000 {
		clear(d.sessions)
	}
	d.sessions[id] = demoSession{claims: claims, idToken: tokens.IDToken}
	d.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// failed shows a sign-in failure with no detail but its OAuth error code.
func (d *demo) failed(w http.ResponseWriter, r *http.Request, code, detail string) {
	d.logger.WarnContext(r.Context(), "demo sign-in failed", "error", code, "detail", detail)
	d.page(w, r, http.StatusBadRequest, "Sign-in failed ("+code+"). Sign in again to retry.")
}

func (d *demo) session(r *http.Request) (string, demoSession, bool) {
	c, err := r.Cookie(demoCookie)
	if err != nil {
		return "", demoSession{}, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.sessions[c.Value]
	return c.Value, s, ok
}

func (d *demo) page(w http.ResponseWriter, r *http.Request, status int, msg string) {
	_, s, ok := d.session(r)
	d.pages.Demo(w, status, templates.DemoPage{
		Page: templates.Page{Title: "Demo app"}, Issuer: d.issuer, SignedIn: ok, Claims: s.claims, Error: msg,
		SecurityURL: d.issuer + "/security?" + url.Values{"client_id": {demoClientID}, "return_to": {d.base + "/"}}.Encode(),
	})
}

// logout ends the demo's session and sends the browser to Gatehouse's
// end_session endpoint, which comes back to the demo's home page.
func (d *demo) logout(w http.ResponseWriter, r *http.Request) {
	id, s, ok := d.session(r)
	if ok {
		d.mu.Lock()
		delete(d.sessions, id)
		d.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: demoCookie, Path: "/", MaxAge: -1})
	q := url.Values{"client_id": {demoClientID}, "post_logout_redirect_uri": {d.base + "/"}}
	if s.idToken != "" {
		q.Set("id_token_hint", s.idToken)
	}
	http.Redirect(w, r, d.rp.GetEndSessionEndpoint()+"?"+q.Encode(), http.StatusSeeOther)
}
