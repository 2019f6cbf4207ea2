package login

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/gatehouse-id/gatehouse/factors/apppassword"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Forward-auth answers a reverse proxy (nginx auth_request, Caddy
// forward_auth, Traefik ForwardAuth) asking, for each request to a
// protected app, whether to let it through: 200 with the user in
// Remote-* headers, or not. Only a trusted proxy is answered, and only
// for a registered app's host.
//
// Gatehouse's session cookie is host-only on the issuer's host, so the
// proxy in front of the app never sees it. After sign-in the browser is
// handed to a callback on the app's own host (ForwardCallback, which the
// proxy passes to Gatehouse) with a single-use code, and gets a cookie
// there: sealed, an hour long, and bound to the Gatehouse session, so that
// signing out or a revoked session ends it at once.
//
// Legacy clients of an app that accepts them sign in with Basic
// authentication and an app password.
const (
	// ForwardPath answers nginx's auth_request: 401 where the browser
	// must sign in, which the nginx configuration turns into a redirect
	// to ForwardStartPath.
	ForwardPath = "/forward-auth"
	// ForwardRedirectPath answers Caddy and Traefik, which pass a 302 on
	// to the browser: it sends the browser to sign in itself.
	ForwardRedirectPath = "/forward-auth/redirect"
	ForwardStartPath    = "/forward-auth/start"
	// ForwardCallback is on the app's host: the proxy passes it to
	// Gatehouse.
	ForwardCallback = "/.gatehouse/callback"

	appCookie        = "app"
	appCookieLife    = time.Hour
	handoffLife      = time.Minute
	challengeHandoff = "forward-handoff"
)

func (h *Handler) registerForward(mux *http.ServeMux) {
	mux.HandleFunc("GET "+ForwardPath, func(w http.ResponseWriter, r *http.Request) { h.forwardAuth(w, r, false) })
	mux.HandleFunc("GET "+ForwardRedirectPath, func(w http.ResponseWriter, r *http.Request) { h.forwardAuth(w, r, true) })
	mux.HandleFunc("GET "+ForwardStartPath, h.forwardStart)
	mux.HandleFunc("GET "+ForwardCallback, h.forwardCallback)
}

// forwardAuth answers whether the request the proxy forwards may reach its
// app. redirect sends a browser that must sign in there with a 302;
// otherwise it is answered 401.
func (h *Handler) forwardAuth(w http.ResponseWriter, r *http.Request, redirect bool) {
	w.Header().Set("Cache-Control", "no-store")
	if !h.cfg.Proxies.Trusted(r) {
		http.Error(w, "forward-auth answers only the proxies in trusted_proxies", http.StatusForbidden)
		return
	}
	orig, err := originalURL(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	app, err := h.protectedApp(r.Context(), orig)
	if errors.Is(err, storage.ErrNotFound) {
		http.Error(w, "no protected app is registered for "+orig.Host+orig.Path, http.StatusForbidden)
		return
	}
	if err != nil {
		h.forwardError(w, r, err)
		return
	}
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Basic") {
		h.forwardBasic(w, r, app)
		return
	}
	u, ok, err := h.appSession(r, app, orig)
	switch {
	case err != nil:
		h.forwardError(w, r, err)
	case ok:
		h.admit(w, r, app, u)
	case app.Forward.AppPasswords && !acceptsHTML(r):
		basicChallenge(w, app)
	case redirect:
		http.Redirect(w, r, h.signInURL(orig), http.StatusFound)
	default:
		// nginx answers the browser itself: the configuration sends it to
		// this Location (see the README).
		w.Header().Set("Location", h.signInURL(orig))
		http.Error(w, "sign in first", http.StatusUnauthorized)
	}
}

// signInURL is where a browser signs in to go on to orig.
func (h *Handler) signInURL(orig *url.URL) string {
	return h.cfg.Issuer + ForwardStartPath + "?rd=" + url.QueryEscape(orig.String())
}

func (h *Handler) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Logger.ErrorContext(r.Context(), "forward-auth", "err", err)
	if errors.Is(err, storage.ErrUnavailable) {
		http.Error(w, "storage unavailable", http.StatusServiceUnavailable)
		return
	}
	http.Error(w, "internal error", http.StatusInternalServerError)
}

func acceptsHTML(r *http.Request) bool { return strings.Contains(r.Header.Get("Accept"), "text/html") }

func basicChallenge(w http.ResponseWriter, app storage.Client) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q, charset=\"UTF-8\"", strings.ReplaceAll(app.Name, `"`, "'")))
	http.Error(w, "sign in with your username and an app password", http.StatusUnauthorized)
}

// maxOriginal bounds the original URL a proxy reports.
const maxOriginal = 8 << 10

// originalURL is the URL the proxy was asked for: X-Original-URL (nginx),
// or X-Forwarded-Proto, -Host and -Uri (Caddy, Traefik).
func originalURL(r *http.Request) (*url.URL, error) {
	raw := r.Header.Get("X-Original-URL")
	if raw == "" {
		proto, host := r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host")
		if proto == "" || host == "" {
			return nil, errors.New("the proxy must send X-Original-URL, or X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri")
		}
		raw = proto + "://" + host + cmp.Or(r.Header.Get("X-Forwarded-Uri"), "/")
	}
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxOriginal || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return nil, errors.New("the original URL is not an absolute http or https URL")
	}
	if !plainPath(u.Path) {
		return nil, errors.New("the original URL's path has dot or empty segments")
	}
	return u, nil
}

// plainPath reports whether p, decoded, has no dot or empty segments: a
// path that has them could name one app (by its path prefix) to
// Gatehouse and another to the proxy or the app, once they resolve it.
func plainPath(p string) bool {
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return p == "" || clean == p
}

// protectedApp is the app registered for u's host whose path prefix is the
// longest that u's path starts with.
func (h *Handler) protectedApp(ctx context.Context, u *url.URL) (storage.Client, error) {
	app, err := h.store.FindProtectedApp(ctx, u.Host, u.Path)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return app, fmt.Errorf("find protected app: %w", err)
	}
	return app, err
}

// appCookieValue is what the app cookie seals.
type appCookieValue struct {
	Session, App string
	// Device is the remembered device the browser presented when it was
	// handed off, if any: on the app's host, only this says so.
	Device  string `json:",omitempty"`
	Expires time.Time
}

// appCookieName is the app cookie's name for app: one of its own, as apps
// that share a host (by path prefix) would otherwise overwrite each
// other's, and a browser moving between them sign in again each time.
func (h *Handler) appCookieName(secure bool, app string) string {
	name := "gatehouse-" + appCookie + "-" + app
	if secure {
		return "__Host-" + name
	}
	return name
}

// appSession is the user whose app cookie, sent with the original
// request, holds a live session that proves what app asks: ok is false
// without one.
func (h *Handler) appSession(r *http.Request, app storage.Client, orig *url.URL) (storage.User, bool, error) {
	var none storage.User
	name := h.appCookieName(orig.Scheme == "https", app.ID)
	c, err := r.Cookie(name)
	if err != nil {
		return none, false, nil
	}
	var v appCookieValue
	if err := securecookie.DecodeMulti(name, c.Value, &v, h.cookies.Load().Codecs...); err != nil {
		return none, false, nil // forged, or sealed with a retired key
	}
	if v.App != app.ID || !h.cfg.Now().Before(v.Expires) {
		return none, false, nil
	}
	s, err := h.store.GetSession(r.Context(), v.Session)
	if errors.Is(err, storage.ErrNotFound) {
		return none, false, nil
	}
	if err != nil {
		return none, false, fmt.Errorf("get session: %w", err)
	}
	u, err := h.store.GetUser(r.Context(), s.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return none, false, nil
	}
	if err != nil {
		return none, false, fmt.Errorf("get user: %w", err)
	}
	ok, err := h.proves(r.Context(), s, u, app, v.Device)
	return u, ok, err
}

// proves reports whether session s of u proves what app asks, decided as
// the journey decides a sign-in and a refresh decides a token: the app's
// minimum and what the user's own policy asks (their unit, a role, their
// switch), with an exception (where the app honours them, and never for
// phr) or a remembered device (where their unit remembers devices)
// standing in for a second factor. A session made by a password whose
// second factor is still to come proves only what a password does.
// device is the remembered device the browser presents, if any.
func (h *Handler) proves(ctx context.Context, s storage.Session, u storage.User, app storage.Client, device string) (bool, error) {
	now := h.cfg.Now()
	if u.Disabled || !now.Before(s.ExpiresAt) {
		return false, nil
	}
	up, err := h.loadPolicy(ctx, u)
	if err != nil {
		return false, fmt.Errorf("load policy: %w", err)
	}
	remembered := false
	if device != "" {
		d, err := h.store.GetRememberedDevice(ctx, device)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return false, fmt.Errorf("get remembered device: %w", err)
		}
		remembered = err == nil && d.UserID == u.ID && standsIn(d, up, u, now)
	}
	proof := policy.Proof{UserID: s.UserID, AuthTime: s.AuthTime, AMR: s.AMR, ACR: s.ACR, MFAAt: s.MFAAt}
	return policy.Refresh(up.user, proof, remembered, app, now).Outcome == policy.Done, nil
}

// browserDevice is the remembered device of u this browser presents, or
// "".
func (h *Handler) browserDevice(r *http.Request, u storage.User) (string, error) {
	browser := h.browserID(r)
	if browser == "" {
		return "", nil
	}
	d, err := h.store.FindRememberedDevice(r.Context(), u.ID, hashBrowser(browser))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find remembered device: %w", err)
	}
	return d.ID, nil
}

// unitMayUse reports whether the org unit whose chain up to the root is
// chain is, or is under, one the app admits.
func unitMayUse(app storage.Client, chain []storage.OrgUnit) bool {
	return len(app.Forward.OrgUnitIDs) == 0 ||
		slices.ContainsFunc(chain, func(ou storage.OrgUnit) bool { return slices.Contains(app.Forward.OrgUnitIDs, ou.ID) })
}

// admit lets u, signed in, through to app, or answers 403 where app does
// not admit u's org unit.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, app storage.Client, u storage.User) {
	chain, err := storage.OrgUnitChain(r.Context(), h.store, u.OrgUnitID)
	switch {
	case err != nil:
		h.forwardError(w, r, err)
	case !unitMayUse(app, chain):
		http.Error(w, "your account may not use this app", http.StatusForbidden)
	default:
		passThrough(w, u, chain)
	}
}

// passThrough answers 200 with who u is: Remote-User, Remote-Email,
// Remote-Name and Remote-Groups (their org unit path, from chain, such as
// /Trust/Wales/Ward 7, and their roles as role:org_admin).
func passThrough(w http.ResponseWriter, u storage.User, chain []storage.OrgUnit) {
	groups := []string{}
	if len(chain) > 0 {
		var path []string
		for _, ou := range slices.Backward(chain) {
			path = append(path, ou.Name)
		}
		groups = append(groups, "/"+strings.Join(path, "/"))
	}
	for _, b := range u.Roles {
		if r := "role:" + b.Role; !slices.Contains(groups, r) {
			groups = append(groups, r)
		}
	}
	for i, g := range groups {
		groups[i] = strings.ReplaceAll(g, ",", " ")
	}
	hd := w.Header()
	hd.Set("Remote-User", headerSafe(u.Username))
	hd.Set("Remote-Email", headerSafe(u.Email))
	hd.Set("Remote-Name", headerSafe(cmp.Or(u.DisplayName, u.Username)))
	hd.Set("Remote-Groups", headerSafe(strings.Join(groups, ",")))
	w.WriteHeader(http.StatusOK)
}

// headerSafe is s without control characters, which a header value cannot
// carry.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// forwardStart is where a browser comes to sign in to a protected app:
// with a session that proves what the app asks, it is handed to the app's
// host; without, it signs in first, through the same journey as any
// sign-in, held to the app's minimum.
func (h *Handler) forwardStart(w http.ResponseWriter, r *http.Request) {
	rd, err := url.Parse(r.URL.Query().Get("rd"))
	// With an https issuer, never hand a sign-in to plain http: the code
	// and the app cookie would cross the network in the clear, for anyone
	// who can answer for the app's host on port 80.
	plain := rd != nil && rd.Scheme == "http" && strings.HasPrefix(h.cfg.Issuer, "https://")
	if err != nil || rd.Host == "" || (rd.Scheme != "http" && rd.Scheme != "https") || plain || rd.User != nil || len(rd.String()) > maxOriginal {
		h.errorPage(w, r, http.StatusBadRequest, "This link is not valid", "Go back to the app you were using and try again.", "invalid_request")
		return
	}
	app, err := h.protectedApp(r.Context(), rd)
	if errors.Is(err, storage.ErrNotFound) {
		// Never a redirect to a host nobody registered.
		h.errorPage(w, r, http.StatusBadRequest, "This app is not set up to sign in with Gatehouse",
			"The address you came from is not a protected app. Contact your helpdesk.", "unknown_app")
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	sess, u, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if sess != nil {
		device, err := h.browserDevice(r, u)
		var ok bool
		if err == nil {
			ok, err = h.proves(r.Context(), *sess, u, app, device)
		}
		var chain []storage.OrgUnit
		if err == nil && ok {
			chain, err = storage.OrgUnitChain(r.Context(), h.store, u.OrgUnitID)
		}
		switch {
		case err != nil:
			h.serverError(w, r, err)
			return
		case ok && !unitMayUse(app, chain):
			h.auditUser(r, u, "forward.denied", storage.OutcomeDenied, map[string]string{"client_id": app.ID, "reason": "org unit not admitted"})
			h.errorPage(w, r, http.StatusForbidden, "You don't have access to "+app.Name,
				"Your part of the organisation does not use this app. Contact your helpdesk if you need it.", "forbidden")
			return
		case ok:
			h.handOff(w, r, *sess, app, rd, device)
			return
		case r.URL.Query().Get("signed_in") != "":
			// The sign-in just made did not prove what the app asks: say
			// so rather than go round again.
			h.errorPage(w, r, http.StatusForbidden, "You can't sign in to "+app.Name+" this way",
				"It needs more than your sign-in proved. Contact your helpdesk.", "insufficient")
			return
		}
	}
	back := ForwardStartPath + "?" + url.Values{"rd": {rd.String()}, "signed_in": {"1"}}.Encode()
	h.startFor(w, r, back, sess, policy.ForClient(app, nil, nil, nil), app.ID)
}

// handoff is what the single-use code handed to the app's host stands
// for.
type handoff struct {
	App, Redirect string
	Device        string `json:",omitempty"` // the remembered device, if any
}

// handOff sends the browser, signed in, to the app's host with a
// single-use code for the app cookie.
func (h *Handler) handOff(w http.ResponseWriter, r *http.Request, s storage.Session, app storage.Client, rd *url.URL, device string) {
	now := h.cfg.Now()
	data, _ := json.Marshal(handoff{App: app.ID, Redirect: rd.String(), Device: device})
	c := storage.Challenge{ID: storage.NewID(), UserID: s.UserID, SessionID: s.ID, Type: challengeHandoff, Data: data, CreatedAt: now, ExpiresAt: now.Add(handoffLife)}
	if err := h.store.CreateChallenge(r.Context(), c); err != nil {
		h.serverError(w, r, err)
		return
	}
	cb := url.URL{Scheme: rd.Scheme, Host: rd.Host, Path: ForwardCallback, RawQuery: url.Values{"code": {c.ID}}.Encode()}
	http.Redirect(w, r, cb.String(), http.StatusSeeOther)
}

// forwardCallback, on the app's host, spends a handoff code and gives the
// browser the app cookie, then sends it where it was going.
func (h *Handler) forwardCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	fail := func() {
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in link has expired", "Go back to the app and try again.", "invalid_request")
	}
	ctx := r.Context()
	c, err := h.store.GetChallenge(ctx, r.URL.Query().Get("code"))
	if err != nil || c.Type != challengeHandoff || !h.cfg.Now().Before(c.ExpiresAt) {
		fail()
		return
	}
	// Spent by deleting: of two uses at once, one deletes it.
	if err := h.store.DeleteChallenge(ctx, c.ID); err != nil {
		fail()
		return
	}
	var ho handoff
	if json.Unmarshal(c.Data, &ho) != nil {
		fail()
		return
	}
	rd, err := url.Parse(ho.Redirect)
	if err != nil || !strings.EqualFold(rd.Host, h.forwardedHost(r)) {
		// Handed to another host than the one it was made for.
		fail()
		return
	}
	secure := rd.Scheme == "https"
	name := h.appCookieName(secure, ho.App)
	v, err := securecookie.EncodeMulti(name, appCookieValue{Session: c.SessionID, App: ho.App, Device: ho.Device, Expires: h.cfg.Now().Add(appCookieLife)}, h.cookies.Load().Codecs...)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: v, Path: "/", MaxAge: int(appCookieLife.Seconds()),
		Secure: secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, rd.String(), http.StatusSeeOther)
}

// forwardedHost is the host the browser asked for: the Host header, or
// from a trusted proxy X-Forwarded-Host.
func (h *Handler) forwardedHost(r *http.Request) string {
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" && h.cfg.Proxies.Trusted(r) {
		return fh
	}
	return r.Host
}

// App password use is recorded at most this often per app password: its
// last use, and an audit event.
const (
	touchEvery = 5 * time.Minute
	auditEvery = time.Hour
)

// appPasswordUses remembers, per app password, when this process last
// recorded its use and audited it.
type appPasswordUses struct {
	mu      sync.Mutex
	touched map[string]time.Time
	audited map[string]time.Time
}

// due reports whether id's use at now is to be written, and audited.
func (u *appPasswordUses) due(id string, now time.Time) (touch, audit bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.touched == nil {
		u.touched, u.audited = map[string]time.Time{}, map[string]time.Time{}
	}
	if now.Sub(u.touched[id]) >= touchEvery {
		u.touched[id], touch = now, true
	}
	if now.Sub(u.audited[id]) >= auditEvery {
		u.audited[id], audit = now, true
	}
	return touch, audit
}

// forwardBasic answers a legacy client's Basic authentication with an
// app password.
func (h *Handler) forwardBasic(w http.ResponseWriter, r *http.Request, app storage.Client) {
	ctx := r.Context()
	if !app.Forward.AppPasswords {
		http.Error(w, app.Name+" does not accept app passwords", http.StatusUnauthorized)
		return
	}
	login, pw, ok := r.BasicAuth()
	if !ok || login == "" || len(login) > 256 || len(pw) > 256 {
		http.Error(w, "malformed Basic authorization", http.StatusBadRequest)
		return
	}
	ipKey := "apppw-" + ipKey(h.clientIP(r))
	if h.basicThrottled(w, r, ipKey) {
		return
	}
	u, err := h.findUser(ctx, login)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.forwardError(w, r, err)
		return
	}
	userKey := "apppw-user:" + u.ID
	if u.ID != "" && h.basicThrottled(w, r, userKey) {
		return
	}
	var chain []storage.OrgUnit
	if u.ID != "" {
		if chain, err = storage.OrgUnitChain(ctx, h.store, u.OrgUnitID); err != nil {
			h.forwardError(w, r, err)
			return
		}
	}
	p, reason, err := h.matchAppPassword(ctx, u, chain, pw)
	if err != nil {
		h.forwardError(w, r, err)
		return
	}
	if reason != "" {
		if err := h.throttle.fail(ctx, ipKey, h.cfg.IPThrottle); err != nil {
			h.forwardError(w, r, err)
			return
		}
		if u.ID != "" {
			if err := h.throttle.fail(ctx, userKey, h.cfg.AccountThrottle); err != nil {
				h.forwardError(w, r, err)
				return
			}
		}
		h.audit(r, storage.AuditEvent{Subject: u.ID, OrgUnitID: u.OrgUnitID, Action: "app_password.used", Outcome: storage.OutcomeFailure,
			Details: map[string]string{"client_id": app.ID, "reason": reason}})
		basicChallenge(w, app)
		return
	}
	if !unitMayUse(app, chain) {
		http.Error(w, "your account may not use this app", http.StatusForbidden)
		return
	}
	if err := h.usedAppPassword(r, u, p, app); err != nil {
		h.forwardError(w, r, err)
		return
	}
	passThrough(w, u, chain)
}

// basicThrottled answers 429 while key is locked by failed app passwords,
// or 500 where that cannot be read; false lets the request on.
func (h *Handler) basicThrottled(w http.ResponseWriter, r *http.Request, key string) bool {
	var locked errThrottled
	switch err := h.throttle.check(r.Context(), key); {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", fmt.Sprint(max(int(locked.until.Sub(h.cfg.Now()).Seconds()), 1)))
		http.Error(w, "too many failed attempts", http.StatusTooManyRequests)
		return true
	case err != nil:
		h.forwardError(w, r, err)
		return true
	}
	return false
}

// matchAppPassword is the app password of u's that pw is, or why it is
// not one that works: no such user, a disabled one, one holding a role,
// one whose unit (with chain, its units up to the root) forbids app
// passwords, or a wrong password.
func (h *Handler) matchAppPassword(ctx context.Context, u storage.User, chain []storage.OrgUnit, pw string) (storage.AppPassword, string, error) {
	var none storage.AppPassword
	switch {
	case u.ID == "":
		return none, "unknown user", nil
	case u.Disabled:
		return none, "disabled", nil
	case len(u.Roles) > 0:
		return none, "holds a role", nil
	}
	if !policy.Effective(chain).AppPasswords {
		return none, "org unit forbids app passwords", nil
	}
	list, err := h.store.ListUserAppPasswords(ctx, u.ID)
	if err != nil {
		return none, "", fmt.Errorf("list app passwords: %w", err)
	}
	p, ok := apppassword.Match(list, pw)
	if !ok {
		return none, "wrong app password", nil
	}
	return p, "", nil
}

// usedAppPassword records a use of p: its last use at most every
// touchEvery, and an audit event at most every auditEvery, in one write.
func (h *Handler) usedAppPassword(r *http.Request, u storage.User, p storage.AppPassword, app storage.Client) error {
	now := h.cfg.Now()
	touch, audit := h.appPasswordUses.due(p.ID, now)
	if !touch && !audit {
		return nil
	}
	ip := h.clientIP(r)
	return h.store.Atomically(r.Context(), func(tx storage.Tx) error {
		if touch {
			if _, err := tx.UpdateAppPassword(p.ID, func(p storage.AppPassword) (storage.AppPassword, error) {
				p.LastUsedAt, p.LastUsedIP = now, ip
				return p, nil
			}); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		if audit {
			e := h.event(r, userEvent(u, "app_password.used", storage.OutcomeSuccess, map[string]string{"app_password": p.ID, "name": p.Name, "client_id": app.ID}))
			return tx.AppendAudit(e)
		}
		return nil
	})
}
