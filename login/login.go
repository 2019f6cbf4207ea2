// Package login is the hosted sign-in journey: an explicit state machine
// over one auth request. The dispatcher (GET /login) looks at the request's
// stored step and the browser session and decides what happens next; every
// form posts back and redirects to the dispatcher, so no step can be skipped
// by going straight to a later URL. A code is issued only when the stored
// step is done, and only to the browser that started the request.
package login

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Config configures the journey.
type Config struct {
	Issuer            string
	SessionLifetime   time.Duration
	CookieKeyRotation time.Duration
	AccountThrottle   ThrottleRule
	IPThrottle        ThrottleRule
	// MFAThrottle budgets second-factor failures per user and method;
	// SendThrottle the codes and calls sent per user.
	MFAThrottle  ThrottleRule
	SendThrottle ThrottleRule
	// StartRule budgets the auth requests one client address may create,
	// through /authorize or one of Gatehouse's own pages.
	StartRule RateRule
	// Proxies are the reverse proxies whose X-Forwarded-For is believed;
	// every client address (throttles, audit, sessions) is read through it.
	Proxies clientip.Proxies
	// OneTimeLifetime is how long a one-time password stored without an
	// expiry lasts: see storage.User.OneTimePasswordExpiry.
	OneTimeLifetime time.Duration
	// ServiceWords are the words of this service a new password must not
	// be built on, as it must not be on its owner's names: see
	// password.Context.
	ServiceWords []string
	// Organisation is the organisation's name, as users know it.
	Organisation string
	// Helpdesk says how users reach their helpdesk, for when none of their
	// methods can be used.
	Helpdesk string
	// MethodOrder lists method types to offer first, to add: see
	// OfferOrder.
	MethodOrder []string
	// Observer is told of every policy decision, for metrics; nil tells
	// no one.
	Observer Observer
	// Notifier composes the notices a change to an account sends its
	// holder; nil sends none.
	Notifier *notify.Notifier
	Now      func() time.Time
	Logger   *slog.Logger
}

// Observer is told what the journey decides. Everything else a sign-in
// does is in the audit log already; a decision is audited only when it
// moves the journey.
type Observer interface {
	// Decided: the policy answered what a sign-in still needs, as it is
	// asked at every page of the journey.
	Decided(policy.Outcome)
}

type noObserver struct{}

func (noObserver) Decided(policy.Outcome) {}

// Store is the part of storage.Storage the journey reads and writes.
type Store interface {
	storage.OrgUnits
	storage.Users
	storage.Methods
	storage.Challenges
	storage.AuthRequests
	storage.Sessions
	storage.RememberedDevices
	storage.Secrets
	storage.Throttle
	storage.AppPasswords
	GetClient(ctx context.Context, id string) (storage.Client, error)
	FindProtectedApp(ctx context.Context, host, path string) (storage.Client, error)
	ListUserExceptions(ctx context.Context, userID string) ([]storage.Exception, error)
	RevokeUserTokens(ctx context.Context, userID string) error
	AppendAudit(ctx context.Context, e storage.AuditEvent) error
	Atomically(ctx context.Context, fn func(storage.Tx) error) error
}

// Handler serves the login, callback and logout pages.
type Handler struct {
	cfg      Config
	store    Store
	provider *provider.Provider
	hasher   *password.Hasher
	factors  factors.Registry
	pages    *templates.Templates
	cookies  atomic.Pointer[sessions.CookieStore] // replaced by RotateCookieKeys
	throttle throttle
	// appPasswordUses coalesces the writes app password uses make.
	appPasswordUses appPasswordUses
	starts          *rateLimiter
	// browserMACKey keys the MACs bound to a browser cookie: form tokens
	// and the known-device cookie. (Stored under the purpose "csrf", its
	// first use.)
	browserMACKey []byte
	secure        bool
	// offerOrder is the order methods are offered to add in.
	offerOrder []string
}

// New builds the handler, loading (or creating) its cookie keys.
func New(ctx context.Context, cfg Config, store Store, p *provider.Provider, hasher *password.Hasher, fs factors.Registry, pages *templates.Templates) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("parse issuer: %w", err)
	}
	offerOrder, err := OfferOrder(cfg.MethodOrder)
	if err != nil {
		return nil, fmt.Errorf("method order: %w", err)
	}
	h := &Handler{
		cfg: cfg, store: store, provider: p, hasher: hasher, factors: fs, pages: pages,
		throttle:   throttle{store: store, now: cfg.Now},
		starts:     newRateLimiter(cfg.StartRule, cfg.Now),
		secure:     issuer.Scheme == "https",
		offerOrder: offerOrder,
	}
	if err := h.RotateCookieKeys(ctx); err != nil {
		return nil, err
	}
	if h.browserMACKey, err = storage.EnsureSecret(ctx, store, "csrf", 32, cfg.Now()); err != nil {
		return nil, err
	}
	return h, nil
}

// RotateCookieKeys loads the cookie keys, adding a new one when the newest
// is due and dropping ones no live cookie can carry. Call it periodically.
func (h *Handler) RotateCookieKeys(ctx context.Context) error {
	pairs, err := cookieKeys(ctx, h.store, h.cfg.Now(), h.cfg.CookieKeyRotation, h.cfg.SessionLifetime)
	if err != nil {
		return err
	}
	cs := sessions.NewCookieStore(pairs...)
	cs.Options = &sessions.Options{Path: "/", HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode}
	cs.MaxAge(int(h.cfg.SessionLifetime.Seconds()))
	h.cookies.Store(cs)
	return nil
}

// LoginURL is the page op sends the browser to for a new auth request.
func LoginURL(issuer string) func(string) string {
	return func(id string) string { return issuer + "/login?id=" + url.QueryEscape(id) }
}

// Register adds the journey's routes to mux. They override op's own
// callback and end_session endpoints, which know nothing of browsers.
func (h *Handler) Register(mux *http.ServeMux) {
	// Journey forms are refused cross-origin as well as without the form
	// token. end_session is not: RPs may legitimately POST to it, and it
	// confirms before acting on any request it cannot trust.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(h.formExpired))
	mux.HandleFunc("GET /login", h.dispatch)
	mux.Handle("POST /login/password", cop.Handler(http.HandlerFunc(h.postPassword)))
	mux.Handle("POST /login/change-password", cop.Handler(http.HandlerFunc(h.postChangePassword)))
	mux.Handle("POST /login/second-factor", cop.Handler(http.HandlerFunc(h.postSecondFactor)))
	mux.HandleFunc("GET /login/call-status", h.signInCallStatus)
	mux.HandleFunc("GET /login/methods", h.showMethods)
	mux.Handle("POST /login/method", cop.Handler(http.HandlerFunc(h.postMethod)))
	mux.Handle("POST /login/resend", cop.Handler(http.HandlerFunc(h.postResend)))
	mux.Handle("POST /login/not-now", cop.Handler(http.HandlerFunc(h.postNotNow)))
	mux.HandleFunc("GET "+securityPath, h.showSecurity)
	mux.HandleFunc("GET "+securityPath+"/add/{type}", h.showAdd)
	mux.HandleFunc("GET "+securityPath+"/confirm", h.showConfirm)
	mux.HandleFunc("GET "+securityPath+"/call-status", h.enrolCallStatus)
	mux.HandleFunc("GET "+passwordPath, h.showOwnPassword)
	mux.HandleFunc("GET "+appPasswordsPath+"/new", h.showNewAppPassword)
	for path, handle := range map[string]http.HandlerFunc{
		"/add/{type}":               h.postAdd,
		"/add/{type}/finish":        h.postFinish,
		"/remove":                   h.postRemove,
		"/preferred":                h.postPreferred,
		"/recovery":                 h.postRecovery,
		"/mfa":                      h.postMFA,
		"/sign-out-others":          h.postSignOutOthers,
		"/password":                 h.postOwnPassword,
		"/devices/forget":           h.postForgetDevice,
		"/devices/forget-all":       h.postForgetDevices,
		"/app-passwords":            h.postAppPassword,
		"/app-passwords/revoke":     h.postRevokeAppPassword,
		"/app-passwords/revoke-all": h.postRevokeAppPasswords,
	} {
		mux.Handle("POST "+securityPath+path, cop.Handler(handle))
	}
	h.registerForward(mux)
	mux.HandleFunc("GET /authorize/callback", h.callback)
	// Every other method too: op's own callback would issue a code for any
	// done request, in any browser, as often as asked.
	mux.HandleFunc("/authorize/callback", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "This page cannot be used that way", "Go back to the app you were using and sign in again.", "invalid_request")
	})
	mux.HandleFunc("/end_session", h.endSessionEndpoint)
	mux.HandleFunc("GET /logged-out", h.loggedOut)
}

// maxFormBytes bounds every form body: the largest legitimate one is a
// password form.
const maxFormBytes = 16 << 10

// parseForm reads a bounded form body; a failure gets a 400 page.
func (h *Handler) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "We could not read that form", "The form was too large or malformed. Go back and try again.", "invalid_request")
		return false
	}
	return true
}

func (h *Handler) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, msg, code string) {
	h.pages.Error(w, status, templates.ErrorPage{Page: templates.Page{Title: heading}, Heading: heading, Message: msg, Code: code})
}

// formExpired refuses a journey form without the right form token, or
// posted cross-origin.
func (h *Handler) formExpired(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusForbidden, "This form has expired", "Go back to the app you were using and sign in again.", "csrf")
}

// serverError logs err once, here at the edge, and shows a generic page
// with a reference the helpdesk can search for.
func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The browser went away (or the server is stopping) while the
		// request waited: nobody reads a page, and nothing failed here.
		h.cfg.Logger.InfoContext(r.Context(), "login request abandoned", "path", r.URL.Path, "err", err)
		return
	}
	ref := storage.RandomString(6)
	h.cfg.Logger.ErrorContext(r.Context(), "login request failed", "ref", ref, "path", r.URL.Path, "err", err)
	status := http.StatusInternalServerError
	msg := "Something went wrong on our side. Try again in a moment."
	switch {
	case errors.Is(err, password.ErrBusy):
		status = http.StatusServiceUnavailable
		msg = "Gatehouse is busy right now. Try again in a moment."
	case errors.Is(err, storage.ErrUnavailable):
		// Each step is one transaction: the page can be sent again.
		status = http.StatusServiceUnavailable
		msg = "Sign-in is unavailable for a moment. Try again shortly."
		w.Header().Set("Retry-After", "5")
	}
	h.errorPage(w, r, status, "Sorry, something went wrong", msg, ref)
}

// authRequestFor loads the auth request a page names and checks it belongs
// to this browser. It has answered the request when ok is false.
func (h *Handler) authRequestFor(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, bool) {
	a, err := h.store.GetAuthRequest(r.Context(), id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return a, false
	}
	if err != nil || id == "" || h.cfg.Now().After(a.ExpiresAt) {
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in link has expired",
			"Go back to the app you were using and sign in again.", "expired_request")
		return a, false
	}
	if !h.sameBrowser(r, a) {
		h.audit(r, storage.AuditEvent{Action: "login.browser_mismatch", Outcome: storage.OutcomeDenied,
			Details: map[string]string{"auth_request": a.ID, "client_id": a.ClientID}})
		h.errorPage(w, r, http.StatusForbidden, "This sign-in started in another browser",
			"For your security, finish signing in in the browser where you started. Go back to the app and sign in again.", "browser_mismatch")
		return a, false
	}
	return a, true
}

// fail sends an OAuth error back to the client. It deletes the auth
// request: it cannot be answered twice.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, e *oidc.Error) {
	if err := h.store.DeleteAuthRequest(r.Context(), a.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	if a.ReturnTo != "" {
		h.errorPage(w, r, http.StatusForbidden, "We couldn't verify it's you", e.Description, string(e.ErrorType))
		return
	}
	h.provider.Fail(w, r, a, e)
}

// startInternal signs the browser in, or checks a recent password or second
// factor, for one of Gatehouse's own pages, through the same journey relying
// parties use, and comes back to returnTo, a local path. page says what the
// page needs.
func (h *Handler) startInternal(w http.ResponseWriter, r *http.Request, returnTo string, sess *storage.Session, page policy.Page) {
	h.startFor(w, r, returnTo, sess, policy.ForPage(page), "")
}

// startFor is startInternal for a sign-in that needs need, on behalf of
// client clientID (a protected app, named on the sign-in pages), or of
// none.
func (h *Handler) startFor(w http.ResponseWriter, r *http.Request, returnTo string, sess *storage.Session, need storage.Requirement, clientID string) {
	r = h.ensureBrowser(w, r)
	now := h.cfg.Now()
	a := storage.AuthRequest{
		ID: storage.NewID(), ClientID: clientID, ReturnTo: returnTo, BrowserHash: hashBrowser(h.browserID(r)),
		CreatedAt: now, ExpiresAt: now.Add(30 * time.Minute), Step: string(StepPassword),
		Requirement: need,
	}
	if sess != nil {
		a.HintUserID = sess.UserID
	}
	if until, ok := h.admitStart(r, ""); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(max(int(until.Sub(now).Seconds()), 1)))
		h.errorPage(w, r, http.StatusTooManyRequests, "Too many sign-ins",
			"Too many sign-ins were started from your network. Wait "+humanDuration(until.Sub(now))+" and try again.", "too_many_requests")
		return
	}
	if err := h.store.CreateAuthRequest(r.Context(), a); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
}

// audit records e, an event of request r, in a write of its own.
func (h *Handler) audit(r *http.Request, e storage.AuditEvent) {
	e = h.event(r, e)
	if err := h.store.AppendAudit(r.Context(), e); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "append audit event", "action", e.Action, "err", err)
	}
}

// recorded is audit's write, to make in a step's transaction.
func (h *Handler) recorded(r *http.Request, e storage.AuditEvent) func(storage.Tx) error {
	e = h.event(r, e)
	return func(tx storage.Tx) error { return tx.AppendAudit(e) }
}

// event is e as it happened now, in request r.
func (h *Handler) event(r *http.Request, e storage.AuditEvent) storage.AuditEvent {
	e.Time = h.cfg.Now()
	e.IP = h.clientIP(r)
	e.UserAgent = r.UserAgent()
	return e
}

// userEvent is an event a user did to their own account.
func userEvent(u storage.User, action, outcome string, details map[string]string) storage.AuditEvent {
	return storage.AuditEvent{Actor: u.ID, Subject: u.ID, OrgUnitID: u.OrgUnitID, Action: action, Outcome: outcome, Details: details}
}

// auditUser records an event a user did to their own account.
func (h *Handler) auditUser(r *http.Request, u storage.User, action, outcome string, details map[string]string) {
	h.audit(r, userEvent(u, action, outcome, details))
}

// clientIP is the client's address: the connection's, or behind a trusted
// proxy the one it forwarded.
func (h *Handler) clientIP(r *http.Request) string { return h.cfg.Proxies.ClientIP(r) }
