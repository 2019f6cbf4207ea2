package login

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/factors/recovery"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The Security info page: a signed-in user's own methods. Adding, removing
// or changing a method, or turning MFA off, needs a second factor within
// the last ten minutes (a password, for a user with no method yet); the
// page sends the browser through the sign-in journey to get one, and back.

const securityPath = "/security"

// account is the signed-in user behind a Security info request.
type account struct {
	sess    *storage.Session
	user    storage.User
	methods []storage.Method // all of them, allowed or not
	policy  userPolicy
}

// signedIn loads the session's user and methods, or sends the browser to
// sign in and come back. It has answered the request when ok is false.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) (acct account, ok bool) {
	sess, u, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return acct, false
	}
	if sess == nil {
		h.startInternal(w, r, afterVerify(r), nil, policy.AnySession)
		return acct, false
	}
	acct.sess, acct.user = sess, u
	if acct.policy, err = h.loadPolicy(r.Context(), acct.user); err != nil {
		h.serverError(w, r, err)
		return acct, false
	}
	acct.methods = acct.policy.registered
	return acct, true
}

// mfaRule names what the user's role or org unit says about MFA, and
// whether it stops the user turning MFA off.
func mfaRule(up userPolicy) (rule string, locked bool) {
	switch {
	case up.user.Privileged:
		return "Your admin or helpdesk role always needs multi-factor authentication.", true
	case up.org.MFA == storage.MFARequired:
		return "Your organisation (" + up.org.MFAFrom + ") requires multi-factor authentication.", true
	case up.org.MFA == storage.MFAPrompted:
		return "Your organisation (" + up.org.MFAFrom + ") asks everyone to use multi-factor authentication.", true
	}
	return "Your organisation leaves multi-factor authentication up to you.", false
}

// mfaStatus says what the user's next sign-in will ask of them, from the
// very decision that sign-in makes (at an app that honours exceptions),
// so that Security info and the sign-in never disagree.
func mfaStatus(acct account, now time.Time) string {
	acr, amr := policy.PasswordProof()
	d := policy.Decide(policy.Input{
		Need: storage.Requirement{ExceptionsAnswer: true}, FreshPassword: true, User: acct.policy.user, Now: now,
		Session: &policy.Proof{UserID: acct.user.ID, AuthTime: now, AMR: amr, ACR: string(acr)},
	})
	switch {
	case d.Exception != nil:
		return "Exception in force until " + d.Exception.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST") +
			" (" + policy.ReasonLabel(d.Exception.Reason) + "), granted by your helpdesk: you sign in without a second factor until then."
	case d.Outcome == policy.Challenge && acct.policy.user.NoOwnMethod:
		return "You'll be asked for a recovery code, and then to set up a method of your own, at your next sign-in."
	case d.Outcome == policy.Challenge:
		return "On: you are asked for a second factor when you sign in."
	case d.Outcome == policy.RequireEnrolment:
		return "You'll be asked to set up multi-factor authentication at your next sign-in."
	case d.Outcome == policy.OfferEnrolment && !policy.HasMFA(acct.sess.AMR):
		return "You chose Not now: your organisation will ask you to set up multi-factor authentication again at your next sign-in."
	case d.Outcome == policy.OfferEnrolment:
		return "You'll be asked to set up multi-factor authentication at your next sign-in."
	case d.Outcome == policy.Unmet:
		return "Your organisation no longer allows the methods you have: add another before you next sign in."
	}
	return "Off: you sign in with your password only."
}

// enroller is the factor for a method type a user under org may add, or
// nil.
func (h *Handler) enroller(org policy.OrgPolicy, t string) factors.Enroller {
	f, ok := h.factors[t].(factors.Enroller)
	if !ok || !org.Allows(t) {
		return nil
	}
	return f
}

// A Security info change needs a recent proof: a second factor, or a
// password where a second factor cannot be had.
type proofNeeded int

const (
	noProof       proofNeeded = iota // a session is enough
	proofToAdd                       // adding a method
	proofToChange                    // any other change
)

// fresh reports whether the session proved enough, recently enough, for
// a change; if not, it sends the browser to prove it. A recent second
// factor does; so does a recent password for a user with no method yet,
// or, to add a method, with an MFA exception in force: the exception
// already vouches for them while their methods are out of reach (the lost
// phone). An exception never lets a password alone remove or change
// anything.
func (h *Handler) fresh(w http.ResponseWriter, r *http.Request, acct account, need proofNeeded) bool {
	now := h.cfg.Now()
	_, excepted := policy.ActiveException(acct.policy.user.Exceptions, now)
	if len(acct.methods) == 0 || excepted && need == proofToAdd {
		if now.Sub(acct.sess.AuthTime) <= policy.RecentFactor {
			return true
		}
		h.startInternal(w, r, afterVerify(r), acct.sess, policy.RecentPassword)
		return false
	}
	if policy.HasMFA(acct.sess.AMR) && now.Sub(acct.sess.MFAAt) <= policy.RecentFactor {
		return true
	}
	h.startInternal(w, r, afterVerify(r), acct.sess, policy.RecentMFA)
	return false
}

// afterVerify is where "Verify it's you" comes back to: the Security info
// page asked for, or, for a form, the page it was sent from (adding a
// method, changing the password) or one confirming the action it was. A
// form is never replayed: the user presses the button again.
func afterVerify(r *http.Request) string {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return r.URL.RequestURI() // a Security info page: the routes say so
	}
	switch r.URL.Path {
	case passwordPath:
		return passwordPath
	case appPasswordsPath:
		return appPasswordsPath + "/new"
	}
	if t := r.PathValue("type"); t != "" {
		add := securityPath + "/add/" + url.PathEscape(t)
		if back := returnPath(r); back != "" {
			add += "?return=" + url.QueryEscape(back)
		}
		return add
	}
	q := url.Values{"action": {path.Base(r.URL.Path)}}
	for _, k := range []string{"method", "enabled"} {
		if v := r.PostFormValue(k); v != "" {
			q.Set(k, v)
		}
	}
	return securityPath + "/confirm?" + q.Encode()
}

// securityForm is a checked Security info form post. It has answered the
// request when ok is false.
func (h *Handler) securityForm(w http.ResponseWriter, r *http.Request, need proofNeeded) (acct account, ok bool) {
	if !h.parseForm(w, r) {
		return acct, false
	}
	if !h.validCSRF(r) {
		h.formExpired(w, r)
		return acct, false
	}
	if acct, ok = h.signedIn(w, r); !ok {
		return acct, false
	}
	if need != noProof && !h.fresh(w, r, acct, need) {
		return acct, false
	}
	return acct, true
}

func (h *Handler) showSecurity(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	r = h.ensureBrowser(w, r)
	p := templates.SecurityPage{
		Page:       h.signedInPage(r, "Security info"),
		Name:       cmp.Or(acct.user.DisplayName, acct.user.Username),
		Username:   acct.user.Username,
		MFAEnabled: acct.user.MFAEnabled,
		MFAStatus:  mfaStatus(acct, h.cfg.Now()),
		Notice:     notices[r.URL.Query().Get("done")],
		Verified:   r.URL.Query().Get("verified") != "",
	}
	p.MFARule, p.MFALocked = mfaRule(acct.policy)
	_, p.Excepted = policy.ActiveException(acct.policy.user.Exceptions, h.cfg.Now())
	own := 0 // not recovery codes or a pass from the helpdesk
	for _, t := range methodOrder {
		for _, m := range acct.methods {
			f, known := h.factors[m.Type]
			if m.Type != t || !known {
				continue
			}
			allowed := h.offers(acct.policy.org, m.Type)
			row := templates.MethodRow{
				ID: m.ID, Type: m.Type, Label: f.Label(), Name: factors.MethodName(m, f.Label()), Phone: otp.PhoneLabel(m, acct.methods), Target: otp.Mask(m.Target),
				Added: m.CreatedAt, LastUsed: m.LastUsedAt, Preferred: m.ID == acct.user.PreferredMethod,
				Preferable: !m.Fallback() && allowed, NotAllowed: !allowed,
			}
			switch m.Type {
			case storage.MethodRecovery:
				row.Name = fmt.Sprintf("%d of %d codes left", recovery.Remaining(m), recovery.Count)
			case storage.MethodPass:
				row.Name = "From your helpdesk, until " + m.ExpiresAt.UTC().Format("15:04 MST") + ": add a method of your own now"
			}
			if !m.Fallback() {
				own++
			}
			p.Methods = append(p.Methods, row)
		}
	}
	p.SingleMethod, p.HasOwn = own == 1, own > 0
	if p.SingleMethod { // nothing to prefer it to
		for i := range p.Methods {
			p.Methods[i].Preferable = false
		}
	}
	p.CanAdd = h.toAdd(acct.policy.org, func(t string) string { return securityPath + "/add/" + t })
	p.CanRecovery = p.HasOwn && h.offers(acct.policy.org, storage.MethodRecovery)
	p.PasswordChanged = acct.user.PasswordChangedAt
	var err error
	if p.AppPasswords, err = h.appPasswordRows(r, acct); err != nil {
		h.serverError(w, r, err)
		return
	}
	if p.Devices, err = h.deviceRows(r, acct); err != nil {
		h.serverError(w, r, err)
		return
	}
	if p.Back, err = h.backLink(w, r); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.pages.Security(w, http.StatusOK, p)
}

// showConfirm is where "Verify it's you" brings back a Security info form:
// the action again, as a button to press (see afterVerify).
func (h *Handler) showConfirm(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	p := templates.AdminConfirmPage{Action: securityPath + "/" + q.Get("action"), Cancel: securityPath, Fields: map[string]string{}}
	switch q.Get("action") {
	case "remove", "preferred":
		m, ok := ownMethod(acct, q.Get("method"))
		f, known := h.factors[m.Type]
		if !ok || !known {
			http.Redirect(w, r, securityPath, http.StatusSeeOther)
			return
		}
		what := methodLabel(f, m)
		p.Fields["method"] = m.ID
		p.Heading, p.Confirm = "Remove "+what+"?", "Remove"
		if q.Get("action") == "preferred" {
			p.Heading, p.Confirm = "Make "+what+" your preferred method?", "Make preferred"
		}
	case "mfa":
		if q.Get("enabled") != "off" {
			http.Redirect(w, r, securityPath, http.StatusSeeOther)
			return
		}
		p.Fields["enabled"] = "off"
		p.Heading, p.Confirm = "Turn off multi-factor authentication?", "Turn off"
		p.Message = "You will sign in with your password only."
	case "recovery":
		p.Heading, p.Confirm = "Get new recovery codes?", "Get new codes"
		p.Message = "Your old recovery codes will stop working."
	default:
		http.Redirect(w, r, securityPath+"?verified=1", http.StatusSeeOther)
		return
	}
	r = h.ensureBrowser(w, r)
	p.Page = h.signedInPage(r, p.Heading)
	p.Message = strings.TrimSpace("Thanks for verifying it's you. " + p.Message)
	h.pages.AdminConfirm(w, http.StatusOK, p)
}

// methodLabel names a method for the user: its type, and the name they
// gave it if any ("Authenticator app (Work phone)").
func methodLabel(f factors.Factor, m storage.Method) string {
	if name := factors.MethodName(m, f.Label()); name != "" {
		return f.Label() + " (" + name + ")"
	}
	return f.Label()
}

// deviceRows lists the devices that skip the user's second factor now,
// newest first, marking the browser r comes from.
func (h *Handler) deviceRows(r *http.Request, acct account) ([]templates.DeviceRow, error) {
	list, err := h.store.ListUserRememberedDevices(r.Context(), acct.user.ID)
	if err != nil {
		return nil, fmt.Errorf("list remembered devices: %w", err)
	}
	now, here := h.cfg.Now(), hashBrowser(h.browserID(r))
	var rows []templates.DeviceRow
	for _, d := range list {
		if !standsIn(d, acct.policy, acct.user, now) {
			continue
		}
		// The unit's window may have shrunk since the device was remembered.
		until := d.ExpiresAt
		if end := d.CreatedAt.Add(acct.policy.org.RememberMFA); end.Before(until) {
			until = end
		}
		rows = append(rows, templates.DeviceRow{ID: d.ID, Name: deviceName(d.UserAgent), Remembered: d.CreatedAt, Until: until,
			Current: h.browserID(r) != "" && bytes.Equal(d.BrowserHash, here)})
	}
	slices.SortFunc(rows, func(a, b templates.DeviceRow) int { return b.Remembered.Compare(a.Remembered) })
	return rows, nil
}

// notices are the messages shown after an action, by ?done=.
var notices = map[string]string{
	"added":                 "Method added.",
	"removed":               "Method removed.",
	"preferred":             "Preferred method changed.",
	"mfa-on":                "Multi-factor authentication is on.",
	"mfa-off":               "Multi-factor authentication is off.",
	"signedout":             "Your other sessions are signed out.",
	"password":              "Password changed. Your other sessions are signed out.",
	"forgotten":             "Device forgotten: it will ask for your second factor at your next sign-in there.",
	"all-forgotten":         "All devices forgotten: each will ask for your second factor at your next sign-in there.",
	"app-password-revoked":  "App password revoked: the app using it can no longer sign in with it.",
	"app-passwords-revoked": "All your app passwords are revoked.",
}

// sentence capitalises a message's first letter and ends it with a full stop.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// methodName is a new method's name as typed, trimmed to 64 characters;
// none for a method that names itself (an email address), whose page asks
// for no name.
func methodName(f factors.Enroller, s string) string {
	if f.NameExample() == "" {
		return ""
	}
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}

// showAdd asks for what a new method needs (a name, an address or number).
func (h *Handler) showAdd(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	f := h.enroller(acct.policy.org, r.PathValue("type"))
	if f == nil {
		h.notAllowed(w, r)
		return
	}
	if !h.fresh(w, r, acct, proofToAdd) {
		return
	}
	if back := returnPath(r); back != "" {
		if err := h.rememberSignInBack(r.Context(), w, back); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	r = h.ensureBrowser(w, r)
	h.pages.AddMethod(w, http.StatusOK, templates.AddMethodPage{
		Page: h.signedInPage(r, "Add "+strings.ToLower(f.Label())),
		Type: f.Type(), Label: f.Label(), NameExample: f.NameExample(), NeedsTarget: needsTarget(f.Type()), PhoneRule: phoneRule(acct), Return: returnPath(r),
	})
}

// notAllowed answers a request to add a method the user's org unit does not
// allow (or Gatehouse does not offer).
func (h *Handler) notAllowed(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, http.StatusNotFound, "You can't add this method",
		"Your organisation doesn't allow this kind of method. Go back to Security info and choose another.", "method_not_allowed")
}

// phoneRule says which numbers the user's org unit accepts, or "" for the
// server's default.
func phoneRule(acct account) string {
	if r := acct.policy.org.PhoneRegions; len(r) > 0 {
		return sentence(otp.RegionRule(r))
	}
	return ""
}

func needsTarget(t string) string {
	switch t {
	case storage.MethodEmail:
		return "email"
	case storage.MethodSMS, storage.MethodVoice:
		return "phone"
	}
	return ""
}

// postAdd begins enrolment: it may show a QR code, send a code to the new
// address or number, or start a WebAuthn registration.
func (h *Handler) postAdd(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToAdd)
	if !ok {
		return
	}
	f := h.enroller(acct.policy.org, r.PathValue("type"))
	if f == nil {
		h.notAllowed(w, r)
		return
	}
	in := factors.EnrolInput{Name: methodName(f, r.PostFormValue("name")), Target: strings.TrimSpace(r.PostFormValue("target")),
		Regions: acct.policy.org.PhoneRegions}
	if sends(f.Type()) {
		// Enrolment sends a code to an address the user typed: the same
		// budget as resends, so the page cannot be used to spam anyone.
		if _, err := h.throttle.charge(r.Context(), "send:"+acct.user.ID, h.cfg.SendThrottle); err != nil {
			var locked errThrottled
			if !errors.As(err, &locked) {
				h.serverError(w, r, err)
				return
			}
			h.errorPage(w, r, http.StatusTooManyRequests, "Too many codes sent",
				fmt.Sprintf("Wait %s and try again.", humanDuration(locked.until.Sub(h.cfg.Now()))), "throttled")
			return
		}
	}
	now := h.cfg.Now()
	c := storage.Challenge{ID: storage.NewID(), UserID: acct.user.ID, SessionID: acct.sess.ID, Type: f.Type(), CreatedAt: now, ExpiresAt: now.Add(policy.RecentFactor)}
	p, err := f.BeginEnrol(r.Context(), acct.user, in, &c)
	if errors.Is(err, factors.ErrBadInput) {
		// Only an InputError is worded for users; anything else stays in the log.
		msg := "That doesn't look right. Check it and try again."
		var ie *factors.InputError
		if errors.As(err, &ie) {
			msg = sentence(ie.Msg)
		} else {
			h.cfg.Logger.InfoContext(r.Context(), "enrolment input refused", "method", f.Type(), "err", err)
		}
		h.pages.AddMethod(w, http.StatusUnprocessableEntity, templates.AddMethodPage{
			Page: h.signedInPage(r, "Add "+strings.ToLower(f.Label())),
			Type: f.Type(), Label: f.Label(), NameExample: f.NameExample(), NeedsTarget: needsTarget(f.Type()), PhoneRule: phoneRule(acct), Name: in.Name, Target: in.Target, Return: returnPath(r),
			Error: msg,
		})
		return
	}
	if err != nil {
		h.serverError(w, r, fmt.Errorf("begin %s enrolment: %w", f.Type(), err))
		return
	}
	c.Prompt, _ = json.Marshal(p.Prompt) // a WebAuthn retry shows it again
	if err := h.store.CreateChallenge(r.Context(), c); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.showEnrol(w, r, f, c, p, in.Name, http.StatusOK, "")
}

// showEnrol shows an enrolment's prompt; msg is an error, and status 202
// says, without one, that its call is not answered yet.
func (h *Handler) showEnrol(w http.ResponseWriter, r *http.Request, f factors.Enroller, c storage.Challenge, p factors.EnrolPrompt, name string, status int, msg string) {
	h.pages.Enrol(w, status, templates.EnrolPage{
		Page:        h.signedInPage(r, "Add "+strings.ToLower(f.Label())),
		Type:        f.Type(),
		Label:       f.Label(),
		ChallengeID: c.ID,
		Name:        name,
		Kind:        p.Kind,
		Message:     p.Message,
		Options:     string(p.Options),
		QRCode:      p.QRCode,
		Secret:      p.Secret,
		AppURL:      p.AppURL,
		Return:      returnPath(r),
		Error:       msg,
		Waiting:     status == http.StatusAccepted,
	})
}

// postFinish checks the first answer and registers the method.
func (h *Handler) postFinish(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToAdd)
	if !ok {
		return
	}
	ctx := r.Context()
	f := h.enroller(acct.policy.org, r.PathValue("type"))
	if f == nil {
		h.notAllowed(w, r)
		return
	}
	c, err := h.store.GetChallenge(ctx, r.PostFormValue("challenge"))
	// An enrolment challenge of this session and type only: not a sign-in's.
	if err != nil || c.AuthRequestID != "" || c.SessionID != acct.sess.ID || c.UserID != acct.user.ID || c.Type != f.Type() || !h.cfg.Now().Before(c.ExpiresAt) {
		h.errorPage(w, r, http.StatusBadRequest, "That took too long", "Start adding the method again.", "expired_challenge")
		return
	}
	newName := methodName(f, r.PostFormValue("name"))
	if c.Type == storage.MethodVoice && !c.Approved {
		// Continue before answering the call is not a guess.
		h.showEnrol(w, r, f, c, callPrompt(c), newName, http.StatusAccepted, "")
		return
	}
	var m storage.Method
	err = h.check(r, answer{user: acct.user, c: c, key: "enrol:" + acct.user.ID + ":" + f.Type(), action: "mfa.method_added",
		details: map[string]string{"method": f.Type(), "during": "enrolment"},
		verify: func(ctx context.Context, c storage.Challenge) (err error) {
			m, err = f.FinishEnrol(ctx, acct.user, c, factors.Response{Code: r.PostFormValue("code"), WebAuthn: []byte(r.PostFormValue("webauthn"))})
			m.Name = newName // blank is no name: pages show the type's label alone
			return err
		},
		passed: func(tx storage.Tx) error {
			// The first method becomes the preferred one, and turns MFA on:
			// a user who set up a second factor means to use it.
			return h.accountChange(r, acct, "mfa.method_added", factors.AuditDetails(m),
				all(func(tx storage.Tx) error { return tx.CreateMethod(m) }, selfUpdate(acct, func(u *storage.User) {
					if u.PreferredMethod == "" {
						u.PreferredMethod = m.ID
					}
					u.MFAEnabled = true
				})))(tx)
		}})
	var locked errThrottled
	switch {
	case errors.As(err, &locked):
		h.errorPage(w, r, http.StatusTooManyRequests, "Too many failed attempts",
			fmt.Sprintf("Wait %s and start adding the method again.", humanDuration(locked.until.Sub(h.cfg.Now()))), "throttled")
		return
	case errors.Is(err, errOutOfGuesses):
		h.errorPage(w, r, http.StatusBadRequest, "Too many wrong answers", "Start adding the method again.", "too_many_guesses")
		return
	case errors.Is(err, factors.ErrReplayed):
		// Single use: another request finished this enrolment first.
		h.errorPage(w, r, http.StatusConflict, "This method was already added", "Go back to Security info.", "already_added")
		return
	case errors.Is(err, factors.ErrNotReady):
		h.showEnrol(w, r, f, c, callPrompt(c), newName, http.StatusAccepted, "")
		return
	case userError(err):
		p, perr := enrolPromptAgain(ctx, f, acct.user, c)
		if perr != nil {
			h.serverError(w, r, perr)
			return
		}
		h.showEnrol(w, r, f, c, p, newName, http.StatusUnauthorized, msgWrongAnswer)
		return
	case err != nil:
		h.serverError(w, r, err)
		return
	}
	next := securityPath + "?done=added"
	if back := returnPath(r); back != "" {
		// The sign-in this enrolment was part of.
		if err := h.countEnrolment(w, r, acct, back, f, m); err != nil {
			h.serverError(w, r, err)
			return
		}
		next = back
	}
	// With a first method of their own comes a way back in without it.
	first := !slices.ContainsFunc(acct.methods, func(o storage.Method) bool { return !o.Fallback() })
	hasCodes := slices.ContainsFunc(acct.methods, func(o storage.Method) bool { return o.Type == storage.MethodRecovery })
	if first && !hasCodes && h.offers(acct.policy.org, storage.MethodRecovery) {
		h.showNewRecoveryCodes(w, r, acct, next, true)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// enrolPromptAgain is the prompt for another try at an enrolment's first
// answer, after a wrong answer: the same as first shown where it can
// be (an authenticator app's QR code and key, a security key's ceremony),
// else a box for the code again.
func enrolPromptAgain(ctx context.Context, f factors.Enroller, u storage.User, c storage.Challenge) (factors.EnrolPrompt, error) {
	if rf, ok := f.(factors.EnrolResumer); ok {
		return rf.ResumeEnrol(ctx, u, c)
	}
	p := factors.EnrolPrompt{Prompt: factors.Prompt{Kind: factors.PromptCode, Message: "Enter the code again."}}
	var stored factors.Prompt
	if json.Unmarshal(c.Prompt, &stored) == nil && stored.Kind == factors.PromptWebAuthn {
		p.Prompt = stored // the same ceremony, to try again
	}
	return p, nil
}

// callPrompt is the prompt of an enrolment's call again, for its page
// shown once more while the call waits for its answer.
func callPrompt(c storage.Challenge) factors.EnrolPrompt {
	var p factors.Prompt
	json.Unmarshal(c.Prompt, &p)
	return factors.EnrolPrompt{Prompt: p}
}

// ownMethod finds one of the account's methods by the form's id.
func ownMethod(acct account, id string) (storage.Method, bool) {
	i := slices.IndexFunc(acct.methods, func(m storage.Method) bool { return m.ID == id })
	if i < 0 {
		return storage.Method{}, false
	}
	return acct.methods[i], true
}

func (h *Handler) postRemove(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToChange)
	if !ok {
		return
	}
	m, ok := ownMethod(acct, r.PostFormValue("method"))
	if !ok {
		h.errorPage(w, r, http.StatusNotFound, "Method not found", "Go back to Security info.", "not_found")
		return
	}
	h.changeSelf(w, r, acct, all(deleteMethod(m.ID), selfUpdate(acct, func(u *storage.User) {
		if u.PreferredMethod == m.ID {
			u.PreferredMethod = ""
		}
		if !slices.ContainsFunc(acct.methods, func(o storage.Method) bool { return o.ID != m.ID && !o.Fallback() }) {
			u.MFAEnabled = false // no method of their own left to ask for
		}
	})), "mfa.method_removed", factors.AuditDetails(m), "removed")
}

func (h *Handler) postPreferred(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToChange)
	if !ok {
		return
	}
	m, ok := ownMethod(acct, r.PostFormValue("method"))
	if !ok || m.Type == storage.MethodRecovery {
		h.errorPage(w, r, http.StatusNotFound, "Method not found", "Go back to Security info.", "not_found")
		return
	}
	h.changeSelf(w, r, acct, selfUpdate(acct, func(u *storage.User) { u.PreferredMethod = m.ID }),
		"mfa.preferred_changed", factors.AuditDetails(m), "preferred")
}

// postRecovery makes a new set of recovery codes, replacing any old set,
// and shows them once.
func (h *Handler) postRecovery(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToChange)
	if !ok {
		return
	}
	// The page offers the button only where the org unit allows the codes;
	// a post made without it is refused the same.
	if !h.offers(acct.policy.org, storage.MethodRecovery) {
		h.notAllowed(w, r)
		return
	}
	h.showNewRecoveryCodes(w, r, acct, securityPath, false)
}

// showNewRecoveryCodes makes the user a new set of recovery codes,
// replacing any old set, and shows them once, with where to go next.
func (h *Handler) showNewRecoveryCodes(w http.ResponseWriter, r *http.Request, acct account, next string, afterFirst bool) {
	codes, m := recovery.Generate(acct.user.ID, h.cfg.Now())
	details := map[string]string{"method_id": m.ID}
	if afterFirst {
		details["reason"] = reasonFirstMethod
	}
	if err := h.store.Atomically(r.Context(), h.accountChange(r, acct, "mfa.recovery_codes_generated", details, func(tx storage.Tx) error {
		for _, old := range acct.methods {
			if old.Type == storage.MethodRecovery {
				if err := deleteMethod(old.ID)(tx); err != nil {
					return err
				}
			}
		}
		return tx.CreateMethod(m)
	})); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.pages.RecoveryCodes(w, http.StatusOK, templates.RecoveryCodesPage{
		Page: h.signedInPage(r, "Your recovery codes"), Codes: codes, Next: next, AfterFirst: afterFirst,
		Download: recoveryDownload(h.cfg.Organisation, acct.user.Username, codes),
	})
}

// recoveryDownload is the codes as a text file, for the page's download
// link: a data URL, since the codes are kept only as hashes.
func recoveryDownload(org, username string, codes []string) template.URL {
	text := fmt.Sprintf("%s recovery codes for %s\r\nEach code works once.\r\n\r\n%s\r\n", org, username, strings.Join(codes, "\r\n"))
	return template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))
}

// postMFA turns the user's own MFA switch on or off. Turning it off needs
// a recent factor like any change, and is refused where the org unit
// prompts for or requires MFA, or the user holds a role.
func (h *Handler) postMFA(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, noProof)
	if !ok {
		return
	}
	on := r.PostFormValue("enabled") == "on"
	if !on && !h.fresh(w, r, acct, proofToChange) {
		return
	}
	if on && !slices.ContainsFunc(acct.policy.methods, func(m storage.Method) bool { return !m.Fallback() }) {
		http.Redirect(w, r, securityPath, http.StatusSeeOther)
		return
	}
	if rule, locked := mfaRule(acct.policy); !on && locked {
		h.errorPage(w, r, http.StatusForbidden, "You can't turn off multi-factor authentication", rule, "mfa_locked")
		return
	}
	action, done := "mfa.disabled", "mfa-off"
	if on {
		action, done = "mfa.enabled", "mfa-on"
	}
	h.changeSelf(w, r, acct, selfUpdate(acct, func(u *storage.User) { u.MFAEnabled = on }), action, nil, done)
}

// changeSelf makes a change to the signed-in user's account, with its
// audit event, and goes back to Security info with a notice.
func (h *Handler) changeSelf(w http.ResponseWriter, r *http.Request, acct account, change func(storage.Tx) error, action string, details map[string]string, done string) {
	if err := h.store.Atomically(r.Context(), h.accountChange(r, acct, action, details, change)); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, securityPath+"?done="+done, http.StatusSeeOther)
}

// accountChange is change to the signed-in user's account, its audit
// event and the notice it sends them, to make in one transaction: a crash
// leaves all or none.
func (h *Handler) accountChange(r *http.Request, acct account, action string, details map[string]string, change func(storage.Tx) error) func(storage.Tx) error {
	notices, unsent, err := h.notices(r, acct, action, details)
	if err != nil {
		return func(storage.Tx) error { return err }
	}
	if unsent != "" {
		details = with(details, "notice", unsent)
	}
	return all(change, h.recorded(r, userEvent(acct.user, action, storage.OutcomeSuccess, details)), addNotices(notices))
}

// addNotices adds notices to the outbox.
func addNotices(notices []storage.Notification) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		for _, n := range notices {
			if err := tx.AddNotification(n); err != nil {
				return err
			}
		}
		return nil
	}
}

// reasonFirstMethod marks the recovery codes made with a first method.
const reasonFirstMethod = "with the first method"

// notices are the notices a change to acct's user sends them (what it was
// done to: a method, from details; when; from where), or why they are
// told nothing of a change people are told of (see
// notify.Notifier.Notices).
func (h *Handler) notices(r *http.Request, acct account, action string, details map[string]string) (_ []storage.Notification, unsent string, _ error) {
	n := h.cfg.Notifier
	if n == nil || details["reason"] == reasonFirstMethod {
		// The codes that come with a first method are part of adding it,
		// whose notice says so.
		return nil, "", nil
	}
	return n.Notices(acct.user, action, notify.Facts{Details: details, When: h.cfg.Now(), IP: h.clientIP(r),
		Browser: deviceName(r.UserAgent()), Mobile: storage.MobilePhone(acct.methods)})
}

// selfUpdate is a change to the account's user.
func selfUpdate(acct account, change func(*storage.User)) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		_, err := tx.UpdateUser(acct.user.ID, func(u storage.User) (storage.User, error) {
			change(&u)
			return u, nil
		})
		return err
	}
}

// deleteMethod deletes a method; one deleted meanwhile is no error.
func deleteMethod(id string) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		if err := tx.DeleteMethod(id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	}
}

// postSignOutOthers ends every session of the user but this one.
func (h *Handler) postSignOutOthers(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, noProof)
	if !ok {
		return
	}
	others, err := h.otherSessions(r.Context(), acct)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.changeSelf(w, r, acct, endSessions(others), "session.others_ended", map[string]string{"count": fmt.Sprint(len(others))}, "signedout")
}

// otherSessions lists the sessions of the account's user but its own.
func (h *Handler) otherSessions(ctx context.Context, acct account) ([]string, error) {
	sessions, err := h.store.ListUserSessions(ctx, acct.user.ID)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range sessions {
		if s.ID != acct.sess.ID {
			ids = append(ids, s.ID)
		}
	}
	return ids, nil
}

// endSessions deletes the sessions ids in tx; one ended meanwhile is no
// error.
func endSessions(ids []string) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		for _, id := range ids {
			if err := tx.DeleteSession(id); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		return nil
	}
}

// postForgetDevice forgets one of the user's remembered devices: its next
// sign-in asks for a second factor again. Like signing out elsewhere, it
// only ever asks more of a sign-in, so the session is proof enough.
func (h *Handler) postForgetDevice(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, noProof)
	if !ok {
		return
	}
	ctx := r.Context()
	d, err := h.store.GetRememberedDevice(ctx, r.PostFormValue("device"))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	if err != nil || d.UserID != acct.user.ID {
		h.errorPage(w, r, http.StatusNotFound, "Device not found", "It may have been forgotten already. Go back to Security info.", "not_found")
		return
	}
	h.changeSelf(w, r, acct, func(tx storage.Tx) error {
		if err := tx.DeleteRememberedDevice(d.ID); !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	}, "mfa.device_forgotten", map[string]string{"device": d.ID, "name": deviceName(d.UserAgent)}, "forgotten")
}

// postForgetDevices forgets every device remembered for the user.
func (h *Handler) postForgetDevices(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, noProof)
	if !ok {
		return
	}
	h.changeSelf(w, r, acct, func(tx storage.Tx) error { return tx.DeleteUserRememberedDevices(acct.user.ID) },
		"mfa.devices_forgotten", nil, "all-forgotten")
}

// The user's own password, changed on Security info: the current password
// (throttled, and counted, as at sign-in), the same rules as any new
// password, and a recent factor, as for any other change. Like an admin's
// reset, a change ends the user's other sessions and revokes their tokens
// (whoever knew the old password may hold them); this session goes on.

const passwordPath = securityPath + "/password"

const (
	fieldCurrent         = "current_password"
	msgWrongCurrent      = "Your current password is incorrect."
	actionPasswordChange = "user.password_changed"
)

func (h *Handler) showOwnPassword(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.signedIn(w, r)
	if !ok || !h.fresh(w, r, acct, proofToChange) {
		return
	}
	h.ownPasswordPage(w, h.ensureBrowser(w, r), acct.user, http.StatusOK, "", "")
}

// ownPasswordPage shows the change-password form, with msg about field.
func (h *Handler) ownPasswordPage(w http.ResponseWriter, r *http.Request, u storage.User, status int, field, msg string) {
	h.pages.ChangePassword(w, status, templates.ChangePasswordPage{
		Page: h.signedInPage(r, "Change your password"), Username: u.Username, Current: true,
		Error: msg, ErrorField: field, MinLength: password.MinLength,
	})
}

func (h *Handler) postOwnPassword(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToChange)
	if !ok {
		return
	}
	ctx, u := r.Context(), acct.user
	current, pw := r.PostFormValue(fieldCurrent), r.PostFormValue("new_password")
	switch {
	case current == "":
		h.ownPasswordPage(w, r, u, http.StatusUnprocessableEntity, fieldCurrent, "Enter your current password.")
		return
	case len(current) > 4*password.MaxLength:
		// No password is this long: not worth a hash.
		h.ownPasswordPage(w, r, u, http.StatusUnauthorized, fieldCurrent, msgWrongCurrent)
		return
	}
	valid, err := h.checkPassword(r, actionPasswordChange, u.Username, u, current)
	if msg, refused := h.msgRefused(err); refused {
		h.ownPasswordPage(w, r, u, http.StatusTooManyRequests, fieldCurrent, msg)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if !valid {
		h.ownPasswordPage(w, r, u, http.StatusUnauthorized, fieldCurrent, msgWrongCurrent)
		return
	}
	if msg := h.newPasswordProblem(u, pw, r.PostFormValue("confirm_password")); msg != "" {
		h.ownPasswordPage(w, r, u, http.StatusUnprocessableEntity, "new_password", msg)
		return
	}
	if subtle.ConstantTimeCompare([]byte(pw), []byte(current)) == 1 {
		h.ownPasswordPage(w, r, u, http.StatusUnprocessableEntity, "new_password", "Choose a password different from your current one.")
		return
	}
	hash, err := h.hasher.Hash(ctx, pw)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	others, err := h.otherSessions(ctx, acct)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.changeSelf(w, r, acct, all(passwordSet(u.ID, hash, h.cfg.Now()), endSessions(others), func(tx storage.Tx) error { return tx.RevokeUserTokens(u.ID) }),
		actionPasswordChange, map[string]string{"reason": "changed on Security info", "sessions_ended": fmt.Sprint(len(others))}, "password")
}
