// Package templates embeds every HTML page and the shared stylesheet, parses
// them all at start-up (a missing or broken page fails start-up, not a
// request) and renders each page through one typed function.
package templates

import (
	"bytes"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed *.html mail static
var files embed.FS

// Templates holds the parsed pages, and the notice mails' text and HTML.
type Templates struct {
	pages      map[string]*template.Template
	noticeText *texttemplate.Template
	noticeHTML *template.Template
	logger     *slog.Logger
}

var funcs = template.FuncMap{
	"base64": base64.StdEncoding.EncodeToString,
	"date":   func(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 MST") },
	"iter":   func(n int) []int { return make([]int, n) },
	// groups splits a key into groups of four, for reading and typing.
	"groups": func(s string) []string {
		var out []string
		for len(s) > 4 {
			out = append(out, s[:4])
			s = s[4:]
		}
		return append(out, s)
	},
	// otpauth lets an otpauth:// URL (an authenticator app's key) be a
	// link, as html/template lets only http, https and mailto be; any
	// other scheme still gets html/template's treatment.
	"otpauth": func(s string) any {
		if strings.HasPrefix(s, "otpauth://") {
			return template.URL(s)
		}
		return s
	},
	// errorFor is the error a form's summary has for field, or "".
	"errorFor": func(errs []FormError, field string) string {
		for _, e := range errs {
			if e.Field == field {
				return e.Msg
			}
		}
		return ""
	},
}

// Parse parses the layout with each page (every .html file but the
// layout); logger hears of a page that fails to render. A page that does
// not parse fails start-up.
func Parse(logger *slog.Logger) (*Templates, error) {
	names, err := fs.Glob(files, "*.html")
	if err != nil {
		return nil, err
	}
	t := &Templates{pages: make(map[string]*template.Template, len(names)), logger: logger}
	for _, file := range names {
		if file == "layout.html" {
			continue
		}
		name := strings.TrimSuffix(file, ".html")
		p, err := template.New(name).Funcs(funcs).ParseFS(files, "layout.html", file)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		t.pages[name] = p
	}
	if t.noticeText, err = texttemplate.New("notice.txt").Funcs(texttemplate.FuncMap(funcs)).ParseFS(files, "mail/notice.txt"); err != nil {
		return nil, fmt.Errorf("parse notice text: %w", err)
	}
	if t.noticeHTML, err = template.New("notice.html").Funcs(funcs).ParseFS(files, "mail/notice.html"); err != nil {
		return nil, fmt.Errorf("parse notice HTML: %w", err)
	}
	return t, nil
}

// NoticeMessage is a notice about an account: what happened (Sentence,
// and Items listed after it), when, from where, and whom to tell if it
// was not the account's holder; or, where Closing is set, that instead.
type NoticeMessage struct {
	Org, Name, Sentence, Helpdesk string
	Items                         []string
	When                          time.Time
	IP, Browser                   string
	Closing                       string
}

// Notice renders a notice as a mail's text and HTML.
func (t *Templates) Notice(m NoticeMessage) (text, html string, err error) {
	var tb, hb bytes.Buffer
	if err := t.noticeText.Execute(&tb, m); err != nil {
		return "", "", fmt.Errorf("render notice text: %w", err)
	}
	if err := t.noticeHTML.Execute(&hb, m); err != nil {
		return "", "", fmt.Errorf("render notice HTML: %w", err)
	}
	return tb.String(), hb.String(), nil
}

// Static serves the embedded stylesheet and images under /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(files, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// Page is what every page shares.
type Page struct {
	Title string
	// CSRF is the form token, where the page has a form.
	CSRF string
	// Admin is set on admin pages: the layout adds their navigation.
	Admin *AdminNav
	// SignedIn is set on pages shown to a browser with a session: the
	// layout adds Sign out (admin pages always have it).
	SignedIn bool
	// Back links to the app the user came from, if any.
	Back *BackLink
}

// BackLink is "Back to <Name>": URL is a registered client's page.
type BackLink struct{ Name, URL string }

// AdminNav is the admin pages' navigation: who is signed in, the section
// shown, and the sections the admin may use.
type AdminNav struct {
	Name    string
	Current string
	Links   []NavLink
}

// NavLink is one section in the admin navigation.
type NavLink struct{ Label, URL string }

// LoginPage is the username and password form.
type LoginPage struct {
	Page
	ClientName    string
	AuthRequestID string
	Username      string
	// UsernameLocked: the app asked for this user (id_token_hint).
	UsernameLocked bool
	Error          string
}

// ChangePasswordPage asks for a new password: after a one-time one, in
// the sign-in AuthRequestID names, or on Security info, where the current
// password is asked for too.
type ChangePasswordPage struct {
	Page
	AuthRequestID string
	Username      string
	// Current asks for the current password: the Security info page.
	Current bool
	Error   string
	// ErrorField is the field Error is about; empty: the new password.
	ErrorField string
	MinLength  int
}

// ChallengePage asks for a second factor.
type ChallengePage struct {
	Page
	AuthRequestID string
	MethodLabel   string // "Authenticator app"
	MethodName    string // the user's name for it
	// Kind is code, webauthn or call (see package factors).
	Kind    string
	Message string
	// Options are the WebAuthn request options, as JSON.
	Options      string
	CanResend    bool
	OtherMethods bool
	// RememberFor offers "Don't ask again on this device for ..." when
	// the user's org unit allows it.
	RememberFor string
	Error       string
	// Waiting says Continue came before the call was answered.
	Waiting bool
}

// MethodsPage lists the user's methods to choose from.
type MethodsPage struct {
	Page
	AuthRequestID string
	Methods       []MethodChoice
	// Helpdesk is how to reach the helpdesk, if configured.
	Helpdesk string
}

// MethodChoice is one method on the MethodsPage.
type MethodChoice struct {
	ID, Label, Name string
	// Target is the masked address or number, which tells two unnamed
	// phones apart.
	Target  string
	Current bool
}

// SecurityPage is a user's Security info: their methods and settings.
type SecurityPage struct {
	Page
	Name, Username string
	MFAEnabled     bool
	// MFAStatus says what the next sign-in will ask; MFARule what the
	// user's role or org unit says, and MFALocked whether that stops them
	// turning MFA off.
	MFAStatus, MFARule string
	MFALocked          bool
	// HasOwn: the user has a method of their own, not only recovery codes
	// or a pass from the helpdesk.
	HasOwn  bool
	Methods []MethodRow
	// SingleMethod suggests adding a second method for emergencies.
	SingleMethod bool
	CanAdd       []MethodType
	CanRecovery  bool
	Notice       string
	// Verified says the user just proved it's them: they can go on.
	Verified bool
	// Excepted: an MFA exception is in force, so a password is enough to
	// add a method.
	Excepted bool
	// Devices are the browsers that skip the user's second factor now.
	Devices []DeviceRow
	// AppPasswords is nil where the user may have none and has none.
	AppPasswords *AppPasswordsSection
	// PasswordChanged is when the user's password was last set.
	PasswordChanged time.Time
}

// DeviceRow is one remembered device on the SecurityPage.
type DeviceRow struct {
	ID   string
	Name string // "Firefox on Windows"
	// Remembered is when its second factor passed; Until, when it will
	// ask again.
	Remembered, Until time.Time
	// Current marks the browser showing the page.
	Current bool
}

// MethodRow is one registered method on the SecurityPage. Phone says
// which of the user's phones a text or call method's number is.
type MethodRow struct {
	ID, Type, Label, Name, Phone, Target string
	Added, LastUsed                      time.Time
	Preferred, Preferable                bool
	// NotAllowed marks a method the user's org unit no longer allows.
	NotAllowed bool
}

// MethodType is a kind of method a user can add, and where to add it.
type MethodType struct {
	Type, Label, Description, URL string
	// Recommended marks the one to suggest: the first offered.
	Recommended bool
}

// SetupPage asks a user without a second factor to set one up during
// sign-in.
type SetupPage struct {
	Page
	AuthRequestID string
	// Required hides "Not now".
	Required bool
	// Proved: the user passed a second factor (a temporary access pass, a
	// recovery code) but has no method of their own.
	Proved  bool
	Methods []MethodType
}

// AddMethodPage asks for what a new method needs.
type AddMethodPage struct {
	Page
	Type, Label string
	// NameExample is an example name for the name field, or "" for a
	// method with no name field (an email address names itself).
	NameExample string
	// NeedsTarget is "email", "phone" or "".
	NeedsTarget string
	// PhoneRule says which phone numbers the user's org unit accepts, when
	// it names regions of its own.
	PhoneRule string
	// Return is where to go when the method is added (a sign-in in
	// progress), or "" for Security info.
	Return       string
	Name, Target string
	Error        string
}

// EnrolPage shows a new method's QR code, or asks for the code sent to it,
// or runs a WebAuthn registration.
type EnrolPage struct {
	Page
	Type, Label, ChallengeID, Name string
	Kind, Message, Options         string
	Return                         string
	QRCode                         []byte
	Secret                         string
	// AppURL is the key as an otpauth:// URL, for an authenticator app on
	// the phone showing the page, which cannot scan its own screen.
	AppURL string
	Error  string
	// Waiting says Continue came before the call was answered.
	Waiting bool
}

// RecoveryCodesPage shows a new set of recovery codes, once.
type RecoveryCodesPage struct {
	Page
	Codes []string
	// Download is the codes as a text file (a data URL); Next is where
	// Done goes. AfterFirst: the user has just added their first method.
	Download   template.URL
	Next       string
	AfterFirst bool
}

// ErrorPage explains why a request cannot go on, without internals.
type ErrorPage struct {
	Page
	Heading string
	Message string
	// Code is an OAuth error code or reference a helpdesk can search the log for.
	Code string
}

// LogoutPage asks the user to confirm signing out.
type LogoutPage struct {
	Page
	Username string
	// Params are the end_session parameters, carried through the confirmation.
	Params map[string]string
}

// LoggedOutPage confirms the user is signed out.
type LoggedOutPage struct {
	Page
}

// DemoPage is the demo relying party: a sign-in button, or the claims of
// the signed-in user.
type DemoPage struct {
	Page
	Issuer string
	// SecurityURL is the demo's link to Security info, naming the demo so
	// the page links back to it.
	SecurityURL string
	SignedIn    bool
	Claims      []Claim
	IDTokenJSON string
	Error       string
}

// Claim is one ID token claim for display.
type Claim struct{ Name, Value string }

// OutboxPage is the dev outbox: what Gatehouse would have sent.
type OutboxPage struct {
	Page
	Messages []OutboxMessage
	Notice   string
}

// OutboxMessage is one email, text message or call in the dev outbox.
type OutboxMessage struct {
	ID, Kind, To, Subject, Text string // Kind: email, sms or call
	// Notice marks an email telling of a change to an account.
	Notice bool
	At     time.Time
	// Token is the call's form token, for its "Press #" button.
	Token   string
	Pressed bool
}

func (t *Templates) Login(w http.ResponseWriter, status int, p LoginPage) {
	t.render(w, status, "login", p)
}

func (t *Templates) ChangePassword(w http.ResponseWriter, status int, p ChangePasswordPage) {
	t.render(w, status, "change_password", p)
}

func (t *Templates) Challenge(w http.ResponseWriter, status int, p ChallengePage) {
	t.render(w, status, "challenge", p)
}

func (t *Templates) Methods(w http.ResponseWriter, status int, p MethodsPage) {
	t.render(w, status, "methods", p)
}

func (t *Templates) Security(w http.ResponseWriter, status int, p SecurityPage) {
	t.render(w, status, "security", p)
}

func (t *Templates) Setup(w http.ResponseWriter, status int, p SetupPage) {
	t.render(w, status, "setup", p)
}

func (t *Templates) AddMethod(w http.ResponseWriter, status int, p AddMethodPage) {
	t.render(w, status, "add_method", p)
}

func (t *Templates) Enrol(w http.ResponseWriter, status int, p EnrolPage) {
	t.render(w, status, "enrol", p)
}

func (t *Templates) RecoveryCodes(w http.ResponseWriter, status int, p RecoveryCodesPage) {
	t.render(w, status, "recovery_codes", p)
}

func (t *Templates) Error(w http.ResponseWriter, status int, p ErrorPage) {
	t.render(w, status, "error", p)
}

func (t *Templates) Logout(w http.ResponseWriter, status int, p LogoutPage) {
	t.render(w, status, "logout", p)
}

func (t *Templates) LoggedOut(w http.ResponseWriter, status int, p LoggedOutPage) {
	t.render(w, status, "logged_out", p)
}

func (t *Templates) Demo(w http.ResponseWriter, status int, p DemoPage) {
	t.render(w, status, "demo", p)
}

func (t *Templates) Outbox(w http.ResponseWriter, status int, p OutboxPage) {
	t.render(w, status, "outbox", p)
}

// render executes into a buffer first, so a template error never sends a
// half-written page.
func (t *Templates) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	page, ok := t.pages[name]
	if !ok {
		t.logger.Error("render page", "page", name, "err", "no such page")
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	if err := page.ExecuteTemplate(&buf, "layout", data); err != nil {
		t.logger.Error("render page", "page", name, "err", err)
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
