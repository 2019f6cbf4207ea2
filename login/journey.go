package login

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// errClientGone: the client of a sign-in in progress was deleted.
var errClientGone = errors.New("client no longer registered")

// errStaleRequest: an auth request stored by an older Gatehouse, without
// what its sign-in needs.
var errStaleRequest = errors.New("auth request from before requirements were stored")

func journeyURL(id string) string { return "/login?id=" + url.QueryEscape(id) }

// dispatch is the one place that decides what the browser sees next.
func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request) {
	a, ok := h.authRequestFor(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	switch step := stepOf(a); step {
	case StepPassword, StepDecide, StepSecondFactor, StepEnrol:
		sess, u, err := h.currentSession(r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		if step != StepPassword && (sess == nil || sess.ID != a.SessionID) {
			// The session this journey built is gone (signed out in
			// another tab): start over.
			h.restart(w, r, a)
			return
		}
		h.decide(w, r, a, sess, u)
	case StepChangePassword:
		u, err := h.store.GetUser(r.Context(), a.UserID)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		h.showChangePassword(w, r, a, u, http.StatusOK, "")
	case StepDone:
		http.Redirect(w, r, "/authorize/callback?id="+url.QueryEscape(a.ID), http.StatusSeeOther)
	default:
		h.serverError(w, r, fmt.Errorf("auth request %s has unknown step %q", a.ID, step))
	}
}

// decide asks the policy what the session (of user u) still lacks for this
// request, and acts on the answer.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, sess *storage.Session, u storage.User) {
	in, up, err := h.policyInput(r, a, sess, u)
	if errors.Is(err, errClientGone) {
		h.errorPage(w, r, http.StatusBadRequest, "This app is no longer registered",
			"The app you were signing in to has been removed. Go back to it, or contact your helpdesk.", "invalid_client")
		return
	}
	if errors.Is(err, errStaleRequest) {
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in link has expired",
			"Go back to the app you were using and sign in again.", "expired_request")
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := policy.Decide(in)
	h.cfg.Observer.Decided(d.Outcome)
	switch d.Outcome {
	case policy.LoginRequired:
		h.fail(w, r, a, oidc.ErrLoginRequired().WithDescription("The user must sign in."))
	case policy.InteractionRequired:
		h.fail(w, r, a, oidc.ErrInteractionRequired().WithDescription("The user must complete a second factor."))
	case policy.Unmet:
		h.unmet(w, r, a, u, d)
	case policy.Reauthenticate:
		if stepOf(a) != StepPassword {
			h.restart(w, r, a)
			return
		}
		h.showPassword(w, r, a, http.StatusOK, "")
	case policy.OfferEnrolment, policy.RequireEnrolment:
		if a, ok := h.moveOn(w, r, a, sess, u, d, StepEnrol, EvEnrol); ok {
			h.showSetup(w, r, a, up, d, in.Session != nil && policy.HasMFA(in.Session.AMR))
		}
	case policy.Challenge, policy.StepUp:
		if a, ok := h.moveOn(w, r, a, sess, u, d, StepSecondFactor, EvChallenge); ok {
			h.showChallenge(w, r, a, u, up, d.Methods, http.StatusOK, "")
		}
	case policy.Done:
		h.complete(w, r, a, sess, u, up, d)
	default:
		h.serverError(w, r, fmt.Errorf("unexpected policy outcome %q", d.Outcome))
	}
}

// moveOn takes the journey to step by ev for decision d, binding it to the
// session, unless it is there already; the decision is audited once, when
// it moves the journey.
func (h *Handler) moveOn(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, sess *storage.Session, u storage.User, d policy.Decision, step Step, ev Event) (storage.AuthRequest, bool) {
	if stepOf(a) == step {
		return a, true
	}
	return h.advance(w, r, a, ev, func(a *storage.AuthRequest) { a.UserID, a.SessionID = sess.UserID, sess.ID },
		h.recorded(r, decisionEvent(a, u, storage.OutcomeSuccess, d)))
}

// policyInput gathers what the decision needs, for the session of user u;
// up is u's policy (zero without a session), for the page decide shows.
func (h *Handler) policyInput(r *http.Request, a storage.AuthRequest, sess *storage.Session, u storage.User) (in policy.Input, up userPolicy, err error) {
	ctx := r.Context()
	in = policy.Input{
		Need: a.Requirement, HintUserID: a.HintUserID, EnrolmentDeclined: a.EnrolmentDeclined,
		// Past the password step the session has already been checked
		// against the request (a password entered here, or single sign-on
		// that went on to a challenge).
		FreshPassword: stepOf(a) != StepPassword,
		Now:           h.cfg.Now(),
	}
	if a.ReturnTo == "" {
		// Every client's request is built with who asks for its acr; one
		// without began before requirements were stored, and what it asked
		// (acr_values, max_age, prompt) is lost: it must start again.
		if a.Requirement.ACRBy == "" {
			return in, up, errStaleRequest
		}
		// A client's requirements are never skipped: if it cannot be read
		// (or was deleted mid-sign-in), the sign-in stops; if it now asks
		// for more than when the sign-in began, it gets it.
		c, err := h.store.GetClient(ctx, a.ClientID)
		if errors.Is(err, storage.ErrNotFound) {
			return in, up, errClientGone
		}
		if err != nil {
			return in, up, fmt.Errorf("get client: %w", err)
		}
		in.Need = policy.WithClient(a.Requirement, c)
	}
	if sess == nil {
		return in, up, nil
	}
	in.Session = &policy.Proof{UserID: sess.UserID, AuthTime: sess.AuthTime, AMR: sess.AMR, ACR: sess.ACR, MFAAt: sess.MFAAt}
	if up, err = h.loadPolicy(ctx, u); err != nil {
		return in, up, err
	}
	in.User = up.user
	if _, in.RememberedDevice, err = h.rememberedDevice(ctx, r, up, u); err != nil {
		return in, up, err
	}
	return in, up, nil
}

// userPolicy is a user as the policy sees them: their org unit's policy,
// the methods it allows (of those Gatehouse offers), and the decision's
// view of them.
type userPolicy struct {
	org        policy.OrgPolicy
	methods    []storage.Method
	registered []storage.Method // all of them, allowed or not
	user       policy.User
}

// loadUserPolicy is loadPolicy for a user id.
func (h *Handler) loadUserPolicy(ctx context.Context, userID string) (userPolicy, error) {
	u, err := h.store.GetUser(ctx, userID)
	if err != nil {
		return userPolicy{}, fmt.Errorf("get user: %w", err)
	}
	return h.loadPolicy(ctx, u)
}

func (h *Handler) loadPolicy(ctx context.Context, u storage.User) (userPolicy, error) {
	all, err := h.store.ListUserMethods(ctx, u.ID)
	if err != nil {
		return userPolicy{}, fmt.Errorf("list methods: %w", err)
	}
	// An expired or spent pass is gone, whether or not it is deleted yet.
	now := h.cfg.Now()
	all = slices.DeleteFunc(all, func(m storage.Method) bool { return !m.LiveAt(now) })
	exceptions, err := h.store.ListUserExceptions(ctx, u.ID)
	if err != nil {
		return userPolicy{}, fmt.Errorf("list exceptions: %w", err)
	}
	chain, err := storage.OrgUnitChain(ctx, h.store, u.OrgUnitID)
	if err != nil {
		return userPolicy{}, err
	}
	up := userPolicy{org: policy.Effective(chain), registered: all}
	var types []string
	for _, m := range all {
		if h.offers(up.org, m.Type) {
			up.methods = append(up.methods, m)
			if !slices.Contains(types, m.Type) {
				types = append(types, m.Type)
			}
		}
	}
	up.user = policy.User{
		OrgUnit: up.org.MFA, OrgUnitName: up.org.MFAFrom, Privileged: len(u.Roles) > 0,
		MFAEnabled: u.MFAEnabled, Methods: types, Registered: len(all), Exceptions: exceptions,
		NoOwnMethod: !slices.ContainsFunc(all, func(m storage.Method) bool { return !m.Fallback() }),
	}
	return up, nil
}

// offers reports whether users under org can use methods of type t: a
// factor is configured for it and the org unit allows it (a temporary
// access pass, which the helpdesk issues rather than the user registers,
// whatever the unit allows).
func (h *Handler) offers(org policy.OrgPolicy, t string) bool {
	_, ok := h.factors[t]
	return ok && (t == storage.MethodPass || org.Allows(t))
}

// Reevaluate implements provider.Journey: continuous evaluation at a
// refresh. It says why u's token family may not go on (their org unit,
// roles, MFA switch, methods or exceptions, or the client, now need more
// than its sign-in proved), or else what now stands in for its second
// factor, which the new tokens carry. A device remembered at sign-in
// counts as it would in a browser: within the unit's window of the second
// factor that passed there, and after any MFA reset.
func (h *Handler) Reevaluate(ctx context.Context, u storage.User, rt storage.RefreshToken, c storage.Client) (storage.Waiver, string, error) {
	up, err := h.loadPolicy(ctx, u)
	if err != nil {
		return storage.Waiver{}, "", fmt.Errorf("load policy: %w", err)
	}
	family := policy.Proof{UserID: u.ID, AuthTime: rt.AuthTime, AMR: rt.AMR, ACR: rt.ACR}
	if policy.HasMFA(rt.AMR) {
		family.MFAAt = rt.AuthTime
	}
	now := h.cfg.Now()
	remembered := policy.Remembered(rt.RememberedAt, u.MFAResetAt, up.org.RememberMFA, now)
	if remembered && rt.DeviceID != "" {
		// The device must still be remembered: forgetting it ends its tokens.
		d, err := h.store.GetRememberedDevice(ctx, rt.DeviceID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storage.Waiver{}, "", fmt.Errorf("get remembered device: %w", err)
		}
		remembered = err == nil && standsIn(d, up, u, now)
	}
	d := policy.Refresh(up.user, family, remembered, c, now)
	if d.Outcome != policy.Done {
		return storage.Waiver{}, d.Reason, nil
	}
	return waiver(d, rt.Waiver), "", nil
}

// waiver is what stood in for the second factor in decision d: remembered
// names the remembered device and when the second factor passed there.
func waiver(d policy.Decision, remembered storage.Waiver) storage.Waiver {
	var w storage.Waiver
	if e := d.Exception; e != nil {
		w.Exception = &storage.ExceptionClaim{ID: e.ID, Kind: e.Kind, ExpiresAt: e.ExpiresAt}
	}
	if d.Remembered {
		w.RememberedAt, w.DeviceID = remembered.RememberedAt, remembered.DeviceID
	}
	return w
}

// NextSignIn answers the admin pages' question: what will this user meet
// at their next sign-in, and why?
func (h *Handler) NextSignIn(ctx context.Context, userID string) (policy.Decision, error) {
	up, err := h.loadUserPolicy(ctx, userID)
	if err != nil {
		return policy.Decision{}, err
	}
	return policy.NextSignIn(up.user, h.cfg.Now()), nil
}

// decisionEvent records what the policy decided for u's sign-in, and why,
// in u's org unit, where their org admins see it.
func decisionEvent(a storage.AuthRequest, u storage.User, outcome string, d policy.Decision) storage.AuditEvent {
	details := map[string]string{"auth_request": a.ID, "client_id": a.ClientID, "outcome": string(d.Outcome), "reason": d.Reason}
	if d.Exception != nil {
		details["exception"] = d.Exception.ID
	}
	return userEvent(u, "login.decision", outcome, details)
}

// unmet tells the client the user cannot reach the level it requires.
func (h *Handler) unmet(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, u storage.User, d policy.Decision) {
	h.audit(r, decisionEvent(a, u, storage.OutcomeDenied, d))
	h.fail(w, r, a, &oidc.Error{ErrorType: "unmet_authentication_requirements", Description: "The sign-in cannot meet this application's requirements."})
}

// complete marks the request done with what the session proved, and sends
// the browser to the callback, which issues the code; up is u's policy.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, sess *storage.Session, u storage.User, up userPolicy, d policy.Decision) {
	if d.Outcome != policy.Done {
		h.serverError(w, r, fmt.Errorf("complete called with outcome %q", d.Outcome))
		return
	}
	var remembered storage.Waiver
	if d.Remembered {
		dev, _, err := h.rememberedDevice(r.Context(), r, up, u)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		remembered = storage.Waiver{RememberedAt: dev.CreatedAt, DeviceID: dev.ID}
	}
	if _, ok := h.advance(w, r, a, EvSatisfied, func(a *storage.AuthRequest) {
		a.UserID, a.SessionID = sess.UserID, sess.ID
		a.AuthTime, a.AMR, a.ACR = sess.AuthTime, sess.AMR, sess.ACR
		a.Waiver = waiver(d, remembered)
	}, h.recorded(r, decisionEvent(a, u, storage.OutcomeSuccess, d))); !ok {
		return
	}
	h.starts.give(ipKey(h.clientIP(r))) // a finished sign-in does not use the start budget up
	http.Redirect(w, r, "/authorize/callback?id="+url.QueryEscape(a.ID), http.StatusSeeOther)
}

// restart sends the journey back to the password step.
func (h *Handler) restart(w http.ResponseWriter, r *http.Request, a storage.AuthRequest) {
	if _, ok := h.advance(w, r, a, EvRestart, func(a *storage.AuthRequest) { a.UserID, a.SessionID = "", "" }); ok {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
	}
}

func (h *Handler) clientName(ctx context.Context, id string) string {
	c, err := h.store.GetClient(ctx, id)
	if err != nil {
		return ""
	}
	return c.Name
}

func (h *Handler) showPassword(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, status int, msg string) {
	username, locked := r.PostFormValue("username"), false
	if username == "" {
		username = a.LoginHint
	}
	if a.HintUserID != "" {
		// id_token_hint names who must sign in: their name, not to be changed.
		if u, err := h.store.GetUser(r.Context(), a.HintUserID); err == nil {
			username, locked = u.Username, true
		}
	}
	h.pages.Login(w, status, templates.LoginPage{
		Page:           templates.Page{Title: "Sign in", CSRF: h.csrfToken(r)},
		ClientName:     h.clientName(r.Context(), a.ClientID),
		AuthRequestID:  a.ID,
		Username:       username,
		UsernameLocked: locked,
		Error:          msg,
	})
}

func (h *Handler) showChangePassword(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, u storage.User, status int, msg string) {
	h.pages.ChangePassword(w, status, templates.ChangePasswordPage{
		Page:          templates.Page{Title: "Choose a new password", CSRF: h.csrfToken(r)},
		AuthRequestID: a.ID,
		Username:      u.Username,
		Error:         msg,
		MinLength:     password.MinLength,
	})
}

// formRequest checks the common parts of a journey form post (size, CSRF,
// browser, expected step) and returns its auth request.
func (h *Handler) formRequest(w http.ResponseWriter, r *http.Request, step Step) (storage.AuthRequest, bool) {
	if !h.parseForm(w, r) {
		return storage.AuthRequest{}, false
	}
	a, ok := h.authRequestFor(w, r, r.PostFormValue("id"))
	if !ok {
		return a, false
	}
	if !h.validCSRF(r) {
		h.formExpired(w, r)
		return a, false
	}
	if stepOf(a) != step {
		// A stale or forged form for another step: show the real one.
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return a, false
	}
	return a, true
}

const msgBadCredentials = "The username or password is incorrect."

func (h *Handler) postPassword(w http.ResponseWriter, r *http.Request) {
	a, ok := h.formRequest(w, r, StepPassword)
	if !ok {
		return
	}
	ctx := r.Context()
	login, pw := strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password")
	if login == "" || pw == "" {
		h.showPassword(w, r, a, http.StatusUnprocessableEntity, "Enter your username and password.")
		return
	}
	if len(pw) > 4*password.MaxLength {
		h.showPassword(w, r, a, http.StatusUnprocessableEntity, msgBadCredentials)
		return
	}
	u, err := h.findUser(ctx, login)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}

	valid, err := h.checkPassword(r, "login.password", login, u, pw)
	if msg, refused := h.msgRefused(err); refused {
		h.showPassword(w, r, a, http.StatusTooManyRequests, msg)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !valid {
		h.showPassword(w, r, a, http.StatusUnauthorized, msgBadCredentials)
		return
	}
	if u.Disabled {
		// Said only after a correct password, so it reveals nothing to a guesser.
		h.auditUser(r, u, "login.password", storage.OutcomeDenied, map[string]string{"reason": "disabled"})
		h.showPassword(w, r, a, http.StatusForbidden, "This account is disabled. Contact your helpdesk.")
		return
	}
	if u.OneTimePasswordExpired(h.cfg.Now(), h.cfg.OneTimeLifetime) {
		// A one-time password waits on paper or in a message for its
		// owner; one never used must not work for ever.
		expired := u.OneTimePasswordExpiry(h.cfg.OneTimeLifetime).UTC().Format(time.RFC3339)
		h.auditUser(r, u, "login.password", storage.OutcomeDenied, map[string]string{"reason": "one-time password expired", "expired": expired})
		h.showPassword(w, r, a, http.StatusForbidden, "This one-time password has expired. Ask your helpdesk for a new one.")
		return
	}
	if a.HintUserID != "" && u.ID != a.HintUserID {
		// The client asked for the user its id_token_hint names; a
		// positive answer for anyone else is not one (OIDC Core 3.1.2.1).
		h.auditUser(r, u, "login.password", storage.OutcomeDenied, map[string]string{"reason": "id_token_hint names another user", "client_id": a.ClientID})
		h.fail(w, r, a, oidc.ErrLoginRequired().WithDescription("The account that signed in is not the one this sign-in was for."))
		return
	}
	// Once a global admin turns it on, the password used from a browser
	// not signed in from before is told of.
	notices, err := h.newBrowserNotices(r, u)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.rememberDevice(w, r, u.ID)

	// A one-time password proves enough to choose a new one and no more:
	// the browser gets no session until it has.
	ev, sess, writes := EvOneTimePassword, storage.Session{}, []func(storage.Tx) error{addNotices(notices)}
	if !u.MustChangePassword {
		old, _, err := h.currentSession(r)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		var write func(storage.Tx) error
		sess, write = h.newSession(r, old, u.ID, h.passwordProof())
		ev, writes = EvPassword, append(writes, write)
	}
	writes = append(writes, h.recorded(r, userEvent(u, "login.password", storage.OutcomeSuccess, map[string]string{"client_id": a.ClientID, "session": sess.ID})))
	if _, ok := h.advance(w, r, a, ev, func(a *storage.AuthRequest) { a.UserID, a.SessionID = u.ID, sess.ID }, writes...); !ok {
		return
	}
	if sess.ID != "" {
		if err := h.setSessionCookie(w, r, sess); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
}

// newBrowserNotices are the notices telling u that their password was
// used from this browser, where it is one they had not signed in from
// and the event is on.
func (h *Handler) newBrowserNotices(r *http.Request, u storage.User) ([]storage.Notification, error) {
	n := h.cfg.Notifier
	if n == nil || !n.On(eventNewBrowser) || h.knownDevice(r, u.ID) {
		return nil, nil
	}
	list, _, err := n.Notices(u, eventNewBrowser, notify.Facts{When: h.cfg.Now(), IP: h.clientIP(r), Browser: deviceName(r.UserAgent())})
	return list, err
}

const eventNewBrowser = "login.new_browser"

// accountKey is the throttle key for a sign-in name. A known user is keyed
// by id, so "Alice", a width variant and her email share one budget; a
// browser she has signed in from before gets a budget of its own.
func (h *Handler) accountKey(r *http.Request, login, userID string) string {
	switch {
	case userID != "" && h.knownDevice(r, userID):
		return "account:" + userID + ":device:" + base64.RawURLEncoding.EncodeToString(hashBrowser(h.browserID(r))[:12])
	case userID != "":
		return "account:" + userID
	}
	name, err := storage.NormalizeUsername(login)
	if err != nil {
		name = storage.NormalizeEmail(login)
	}
	// Hashed: the name is whatever was typed (a NUL byte, 16 KB of it), and
	// a key must be short and storable by any backend.
	sum := sha256.Sum256([]byte(name))
	return "account:name:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkPassword checks pw as u's password (u is zero for a login that
// names no one) at sign-in, or on Security info, where a wrong current
// password counts as a wrong password at sign-in does. It is refused,
// audited under action, while the address or the account is locked, or
// while the account has attempts in flight that would lock it were they
// all to fail (errThrottled, errBusy). Only a wrong password counts
// against the account and the address, and is audited; a right one
// clears the account's failures and takes one back from the address.
func (h *Handler) checkPassword(r *http.Request, action, login string, u storage.User, pw string) (valid bool, err error) {
	ctx := r.Context()
	accountKey, ipKey := h.accountKey(r, login, u.ID), ipKey(h.clientIP(r))
	refused := func(key string, err error) (bool, error) {
		reason := "throttled"
		if errors.Is(err, errBusy) {
			reason = "attempts in flight"
		}
		h.audit(r, storage.AuditEvent{Subject: u.ID, Action: action, Outcome: storage.OutcomeDenied,
			Details: map[string]string{"login": login, "reason": reason, "key": strings.SplitN(key, ":", 2)[0]}})
		return false, err
	}
	var locked errThrottled
	if err := h.throttle.check(ctx, ipKey); errors.As(err, &locked) {
		return refused(ipKey, err)
	} else if err != nil {
		return false, err
	}
	l, err := h.throttle.admit(ctx, accountKey, h.cfg.AccountThrottle)
	if errors.As(err, &locked) || errors.Is(err, errBusy) {
		return refused(accountKey, err)
	} else if err != nil {
		return false, err
	}
	valid, err = h.verifyPassword(ctx, u, pw)
	outcome := settledFailed
	switch {
	case err != nil:
		outcome = settledUnchecked
	case valid:
		outcome = settledPassed
	}
	acct, serr := h.throttle.settle(ctx, l, h.cfg.AccountThrottle, outcome)
	switch {
	case err != nil || serr != nil:
		return false, cmp.Or(err, serr)
	case valid:
		return true, h.throttle.refund(ctx, ipKey, h.cfg.IPThrottle)
	}
	if err := h.throttle.fail(ctx, ipKey, h.cfg.IPThrottle); err != nil {
		return false, err
	}
	h.recordFailure(r, action, login, u, acct)
	return false, nil
}

// msgRefused tells the user why checkPassword refused to check, or says
// ok false for another error.
func (h *Handler) msgRefused(err error) (msg string, ok bool) {
	var locked errThrottled
	switch {
	case errors.As(err, &locked):
		return h.msgThrottled(locked), true
	case errors.Is(err, errBusy):
		return "Another sign-in to this account is being checked. Wait a moment and try again.", true
	}
	return "", false
}

// msgThrottled tells the user how long a password lock lasts.
func (h *Handler) msgThrottled(locked errThrottled) string {
	return fmt.Sprintf("Too many failed attempts. Wait %s and try again, or contact your helpdesk.", humanDuration(locked.until.Sub(h.cfg.Now())))
}

// verifyPassword checks pw against u's password, upgrading a hash made
// with older parameters. Without a user or a usable hash it spends the
// same time and says no, so timing does not tell which accounts exist or
// have no password.
func (h *Handler) verifyPassword(ctx context.Context, u storage.User, pw string) (bool, error) {
	if u.ID == "" || u.PasswordHash == "" {
		return false, h.hasher.VerifyDummy(ctx, pw)
	}
	valid, rehash, err := h.hasher.Verify(ctx, u.PasswordHash, pw)
	if errors.Is(err, password.ErrMalformedHash) {
		return false, h.hasher.VerifyDummy(ctx, pw)
	}
	if err == nil && valid && rehash {
		h.rehash(ctx, u.ID, pw)
	}
	return valid, err
}

// findUser looks a sign-in name up as a username, then as an email.
func (h *Handler) findUser(ctx context.Context, login string) (storage.User, error) {
	if name, err := storage.NormalizeUsername(login); err == nil {
		u, err := h.store.GetUserByUsername(ctx, name)
		if !errors.Is(err, storage.ErrNotFound) {
			return u, err
		}
	}
	if strings.Contains(login, "@") {
		return h.store.GetUserByEmail(ctx, storage.NormalizeEmail(login))
	}
	return storage.User{}, storage.ErrNotFound
}

func (h *Handler) rehash(ctx context.Context, userID, pw string) {
	hash, err := h.hasher.Hash(ctx, pw)
	if err == nil {
		_, err = h.store.UpdateUser(ctx, userID, func(u storage.User) (storage.User, error) {
			u.PasswordHash = hash
			return u, nil
		})
	}
	if err != nil {
		h.cfg.Logger.WarnContext(ctx, "rehash password", "user", userID, "err", err)
	}
}

// recordFailure audits a wrong password under action; the attempt was
// charged already.
func (h *Handler) recordFailure(r *http.Request, action, login string, u storage.User, acct storage.Attempts) {
	failures := fmt.Sprint(acct.Failures)
	h.auditUser(r, u, action, storage.OutcomeFailure, map[string]string{"login": login, "failures": failures})
	if acct.LockedUntil.After(h.cfg.Now()) {
		h.audit(r, storage.AuditEvent{Subject: u.ID, OrgUnitID: u.OrgUnitID, Action: "login.locked", Outcome: storage.OutcomeDenied,
			Details: map[string]string{"login": login, "until": acct.LockedUntil.UTC().Format(time.RFC3339), "failures": failures}})
	}
}

// postChangePassword replaces a one-time password. The browser has no
// session yet; the auth request, bound to this browser, carries the user
// the one-time password proved.
func (h *Handler) postChangePassword(w http.ResponseWriter, r *http.Request) {
	a, ok := h.formRequest(w, r, StepChangePassword)
	if !ok {
		return
	}
	ctx := r.Context()
	u, err := h.store.GetUser(ctx, a.UserID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	pw := r.PostFormValue("new_password")
	if msg := h.newPasswordProblem(u, pw, r.PostFormValue("confirm_password")); msg != "" {
		h.showChangePassword(w, r, a, u, http.StatusUnprocessableEntity, msg)
		return
	}
	if same, _, err := h.hasher.Verify(ctx, u.PasswordHash, pw); err != nil && !errors.Is(err, password.ErrMalformedHash) {
		h.serverError(w, r, err)
		return
	} else if same {
		h.showChangePassword(w, r, a, u, http.StatusUnprocessableEntity, "Choose a password different from the one-time password.")
		return
	}
	hash, err := h.hasher.Hash(ctx, pw)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	old, _, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// The password, the session it starts and the step, in one write: a
	// step another tab took first changes nothing.
	sess, begin := h.newSession(r, old, u.ID, h.passwordProof())
	if _, ok := h.advance(w, r, a, EvPasswordChanged, func(a *storage.AuthRequest) { a.SessionID = sess.ID },
		passwordSet(u.ID, hash, h.cfg.Now()), begin,
		h.recorded(r, userEvent(u, "user.password_changed", storage.OutcomeSuccess, map[string]string{"reason": "one-time password replaced at sign-in"}))); !ok {
		return
	}
	if err := h.setSessionCookie(w, r, sess); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
}

// newPasswordProblem says, for the page, what is wrong with pw as u's new
// password, confirmed as confirm, or "": NIST SP 800-63B's rules (see
// password.CheckPolicy), with u's names as the words it must not be built on.
func (h *Handler) newPasswordProblem(u storage.User, pw, confirm string) string {
	known := password.Context{Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Service: h.cfg.ServiceWords}
	if err := password.CheckPolicy(pw, known); err != nil {
		// CheckPolicy's errors are worded to follow "Your new".
		return "Your new " + err.Error() + "."
	}
	if pw != confirm {
		return "The two passwords do not match."
	}
	return ""
}

// passwordSet makes hash the password the user userID chose, ending any
// one-time password.
func passwordSet(userID, hash string, now time.Time) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		_, err := tx.UpdateUser(userID, func(u storage.User) (storage.User, error) {
			u.PasswordHash, u.MustChangePassword, u.PasswordChangedAt, u.UpdatedAt = hash, false, now, now
			u.OneTimePasswordExpiresAt = time.Time{}
			return u, nil
		})
		return err
	}
}

// callback replaces op's: it answers with a code only for a done request,
// in the browser that started it, once.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	a, ok := h.authRequestFor(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	if stepOf(a) != StepDone {
		http.Redirect(w, r, journeyURL(a.ID), http.StatusSeeOther)
		return
	}
	alreadyDone := func() {
		h.errorPage(w, r, http.StatusBadRequest, "You are already signed in",
			"This sign-in has been completed. Go back to the app you were using.", "code_already_issued")
	}
	if a.CodeIssued {
		alreadyDone()
		return
	}
	if a.ReturnTo == "" {
		// Issuing the code marks the request answered, in one write: of
		// two tabs racing here, the second gets access_denied.
		h.provider.Finish(w, r, a)
		return
	}
	// Gatehouse's own page: no code, just back to it, once: deleting the
	// request spends it.
	if err := h.store.DeleteAuthRequest(r.Context(), a.ID); errors.Is(err, storage.ErrNotFound) {
		alreadyDone()
		return
	} else if err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, a.ReturnTo, http.StatusSeeOther)
}

func humanDuration(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 60:
		return plural(max(s, 1), "second")
	case s < 3600:
		return plural((s+59)/60, "minute")
	case s < 2*86400:
		return plural((s+3599)/3600, "hour")
	default:
		return plural((s+86399)/86400, "day")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
