package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/storage"
)

var sentCode = regexp.MustCompile(`code is ([0-9]{6})`)

// smtpSink is a real SMTP server on loopback that keeps what it receives.
type smtpSink struct {
	addr *net.TCPAddr
	mu   sync.Mutex
	msgs []string // "To: …\r\n…body"
	// refusing makes it answer every mail 421, as a server that is down
	// for a while.
	refusing atomic.Bool
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	sink := &smtpSink{}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: sink}, nil }))
	s.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink.addr = ln.Addr().(*net.TCPAddr)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return sink
}

// lastCode is the code in the newest mail, and whom it went to.
func (s *smtpSink) lastCode(t *testing.T) (code, to string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		t.Fatal("no mail received")
	}
	msg := s.msgs[len(s.msgs)-1]
	m := sentCode.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no code in mail:\n%s", msg)
	}
	to, _, _ = strings.Cut(msg, "\n")
	return m[1], to
}

type smtpSession struct {
	sink *smtpSink
	to   string
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if s.sink.refusing.Load() {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service not available, try again later"}
	}
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.to+"\n"+string(b))
	s.sink.mu.Unlock()
	return nil
}

// gateway is an SMS and voice provider's bridge: it checks Gatehouse's
// signature on each webhook and keeps what it was asked to send.
type gateway struct {
	srv    *httptest.Server
	secret string
	now    func() time.Time // the env's clock, set once it exists
	mu     sync.Mutex
	msgs   []otp.WebhookMessage
	forged int // requests refused for their signature
}

func newGateway(t *testing.T) *gateway {
	g := &gateway{secret: "a webhook secret of some length", now: time.Now}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		defer g.mu.Unlock()
		if err := otp.VerifyWebhookSignature([]byte(g.secret), r.Header.Get("X-Gatehouse-Timestamp"), r.Header.Get("X-Gatehouse-Signature"), body, g.now(), 5*time.Minute); err != nil {
			g.forged++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m otp.WebhookMessage
		json.Unmarshal(body, &m)
		g.msgs = append(g.msgs, m)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// newGatewayEnv is newOTPEnv with texts and calls going to a gateway
// that keeps time by the env's clock.
func newGatewayEnv(t *testing.T) (*gateway, *env, *relyingParty, *browser) {
	t.Helper()
	g := newGateway(t)
	e, app, b := newOTPEnv(t, func(c *Config) {
		c.SMS.Gateway, c.SMS.WebhookURL, c.SMS.WebhookSecret = "webhook", g.srv.URL, g.secret
	})
	g.mu.Lock()
	g.now = e.clock.Now
	g.mu.Unlock()
	return g, e, app, b
}

// last is the newest message of a type.
func (g *gateway) last(t *testing.T, typ string) otp.WebhookMessage {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.msgs) - 1; i >= 0; i-- {
		if g.msgs[i].Type == typ {
			return g.msgs[i]
		}
	}
	t.Fatalf("gateway got no %s", typ)
	return otp.WebhookMessage{}
}

func (g *gateway) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.msgs)
}

// press answers a call with #: the gateway POSTs its callback URL.
func (g *gateway) press(t *testing.T, callbackURL string) int {
	t.Helper()
	resp, err := http.Post(callbackURL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// startEnrol posts the add form for a method with a target; it returns the
// enrol page.
func (b *browser) startEnrol(typ, name, target string) page {
	b.e.t.Helper()
	p := b.get(b.e.issuer + "/security/add/" + typ)
	f := p.form()
	if f.Get("csrf") == "" {
		b.e.t.Fatalf("add %s page: status %d\n%s", typ, p.status(), p.body)
	}
	f.Set("name", name)
	f.Set("target", target)
	return b.post("/security/add/"+typ, f)
}

// finishEnrol answers the enrol page p with code ("" for a call).
func (b *browser) finishEnrol(typ string, p page, code string) page {
	b.e.t.Helper()
	f := p.form()
	f.Set("code", code)
	return b.pastCodes(b.post("/security/add/"+typ+"/finish", f))
}

func wantAdded(t *testing.T, p page) {
	t.Helper()
	if !strings.Contains(p.body, "Method added.") {
		t.Fatalf("enrolment not finished: status %d\n%s", p.status(), p.body)
	}
}

// signInAgain signs alice in at app again (prompt=login) and returns the
// challenge page.
func signInAgain(t *testing.T, e *env, b *browser, app *relyingParty) (authorization, page) {
	t.Helper()
	a := app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p := b.submitPassword(b.get(a.url), "alice", alicePassword)
	if !strings.Contains(p.body, "Verify it's you") {
		t.Fatalf("expected a challenge, got status %d:\n%s", p.status(), p.body)
	}
	return a, p
}

// wantMFA exchanges the code p carries and checks the token proves amr.
func wantMFA(t *testing.T, b *browser, app *relyingParty, a authorization, p page, amr string) {
	t.Helper()
	tok, err := app.exchange(a, b.codeFrom(p, a))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := claimsAMR(t, tok), []string{"pwd", amr, "mfa"}; !slices.Equal(got, want) {
		t.Errorf("amr = %v, want %v", got, want)
	}
	if tok.claims["acr"] != "mfa" {
		t.Errorf("acr = %v, want mfa", tok.claims["acr"])
	}
}

// newOTPEnv is an env with alice signed in (password only) in a browser.
func newOTPEnv(t *testing.T, configure ...func(*Config)) (*env, *relyingParty, *browser) {
	t.Helper()
	e := newSeededEnv(t, nil, configure...)
	e.addUser("alice", alicePassword)
	app := e.addRP("app", false)
	b := e.newBrowser()
	a := app.authorize()
	if _, err := app.exchange(a, b.signIn(app, a, "alice", alicePassword)); err != nil {
		t.Fatal(err)
	}
	return e, app, b
}

// TestEmailCode: email codes go out over real SMTP; a user adds an address
// and signs in with the code mailed to it.
func TestEmailCode(t *testing.T) {
	sink := newSMTPSink(t)
	e, app, b := newOTPEnv(t, func(c *Config) {
		c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS, c.SMTP.From = "127.0.0.1", sink.addr.Port, "none", "gatehouse@example.org"
	})
	p := b.startEnrol("email", "Work email", "Alice@Example.ORG")
	if !strings.Contains(p.body, "We sent a code to Al•••@example.org") {
		t.Fatalf("enrol page: status %d\n%s", p.status(), p.body)
	}
	code, to := sink.lastCode(t)
	if to != "Alice@example.org" {
		t.Errorf("mail went to %q", to)
	}
	wantAdded(t, b.finishEnrol("email", p, code))
	if p := b.get(e.issuer + "/dev/outbox"); strings.Contains(p.body, "Alice@") {
		t.Error("with smtp.host set, email still went to the dev outbox")
	}

	a, p := signInAgain(t, e, b, app)
	if !strings.Contains(p.body, "We sent a code to Al•••@example.org") {
		t.Errorf("challenge page lacks the masked address:\n%s", p.body)
	}
	code, _ = sink.lastCode(t)
	wantMFA(t, b, app, a, b.passChallenge(p, code), "otp")
}

// TestSMSCode: texts go through the signed webhook; numbers are stored as
// E.164 and only UK numbers are accepted.
func TestSMSCode(t *testing.T) {
	gw, e, app, b := newGatewayEnv(t)

	p := b.startEnrol("sms", "Mobile", "+33 6 12 34 56 78")
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(htmlUnescape(p.body), "Only UK (+44) numbers are allowed.") {
		t.Errorf("French number: status %d, want 422 naming the rule:\n%s", p.status(), p.body)
	}
	p = b.startEnrol("sms", "Mobile", "07700 900123")
	msg := gw.last(t, "sms")
	if msg.To != "+447700900123" || !strings.Contains(p.body, "We sent a code to ••••123") {
		t.Fatalf("text to %q; enrol page:\n%s", msg.To, p.body)
	}
	wantAdded(t, b.finishEnrol("sms", p, sentCode.FindStringSubmatch(msg.Text)[1]))

	a, p := signInAgain(t, e, b, app)
	msg = gw.last(t, "sms")
	wantMFA(t, b, app, a, b.passChallenge(p, sentCode.FindStringSubmatch(msg.Text)[1]), "sms")

	// A gateway that does not know Gatehouse's secret refuses, and the
	// user sees a plain error, not a code.
	gw.mu.Lock()
	gw.secret = "another secret entirely"
	gw.mu.Unlock()
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	p = b.submitPassword(b.get(a.url), "alice", alicePassword)
	gw.mu.Lock()
	forged := gw.forged
	gw.mu.Unlock()
	if p.status() != http.StatusInternalServerError || forged != 1 {
		t.Errorf("gateway refusing: status %d, forged %d", p.status(), forged)
	}
}

// TestVoiceCall: the gateway places the call and, when # is pressed, POSTs
// the signed callback; the user then selects Continue. Forged callbacks
// are refused.
func TestVoiceCall(t *testing.T) {
	gw, e, app, b := newGatewayEnv(t)

	p := b.startEnrol("voice", "Desk phone", "07700900123")
	if !strings.Contains(p.body, "calling ••••123") {
		t.Fatalf("enrol page: status %d\n%s", p.status(), p.body)
	}
	enrolCall := gw.last(t, "call")
	p = b.finishEnrol("voice", p, "")
	if !strings.Contains(htmlUnescape(p.body), "We haven't had your answer yet") || p.status() != http.StatusAccepted {
		t.Errorf("Continue before #: status %d\n%s", p.status(), p.body)
	}
	if got := gw.press(t, enrolCall.CallbackURL); got != http.StatusNoContent {
		t.Fatalf("callback: status %d", got)
	}
	wantAdded(t, b.finishEnrol("voice", p, ""))

	a, p := signInAgain(t, e, b, app)
	call := gw.last(t, "call")
	if call.To != "+447700900123" || call.CallbackURL == enrolCall.CallbackURL || !strings.HasPrefix(call.CallbackURL, e.issuer+otp.CallbackPath+"?") {
		t.Fatalf("call = %+v", call)
	}
	if p := b.passChallenge(p, ""); p.status() != http.StatusAccepted {
		t.Errorf("Continue before #: status %d, want 202", p.status())
	}
	cb, _ := url.Parse(call.CallbackURL)
	for name, edit := range map[string]func(q url.Values){
		"unsigned":        func(q url.Values) { q.Del("sig") },
		"forged":          func(q url.Values) { q.Set("sig", strings.Repeat("A", 43)) },
		"longer expiry":   func(q url.Values) { q.Set("exp", "9999999999") },
		"enrolment's sig": func(q url.Values) { q.Set("sig", mustQuery(enrolCall.CallbackURL).Get("sig")) },
	} {
		q := cb.Query()
		edit(q)
		if got := gw.press(t, e.issuer+otp.CallbackPath+"?"+q.Encode()); got != http.StatusForbidden {
			t.Errorf("%s callback: status %d, want 403", name, got)
		}
	}
	if got := gw.press(t, enrolCall.CallbackURL); got != http.StatusForbidden {
		t.Errorf("the finished enrolment's callback again: status %d, want 403", got)
	}
	if p := b.passChallenge(p, ""); p.status() != http.StatusAccepted {
		t.Fatalf("Continue after forged callbacks: status %d, want 202", p.status())
	}
	if got := gw.press(t, call.CallbackURL); got != http.StatusNoContent {
		t.Fatalf("callback: status %d", got)
	}
	wantMFA(t, b, app, a, b.passChallenge(p, ""), "tel")
}

// TestPhoneLines: a landline is refused for text messages, with the rule
// named, the number kept in the form and nothing stored, and taken for
// calls; a mobile is taken for both.
func TestPhoneLines(t *testing.T) {
	gw, e, _, b := newGatewayEnv(t)
	alice, err := e.store.GetUserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}

	sent := gw.count()
	p := b.startEnrol("sms", "Desk", "01632 960123")
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(htmlUnescape(p.body),
		"01632 960123 is a landline: text messages can only go to a mobile number. Choose Voice call to use this number.") {
		t.Errorf("landline for texts: status %d, want 422 naming the rule:\n%s", p.status(), p.body)
	}
	if !strings.Contains(p.body, `value="01632 960123"`) || !strings.Contains(p.body, `value="Desk"`) {
		t.Errorf("the refused form lost what was typed:\n%s", p.body)
	}
	if gw.count() != sent || len(e.methodsOf(alice)) != 0 {
		t.Errorf("a refused landline sent %d messages and stored %d methods", gw.count()-sent, len(e.methodsOf(alice)))
	}

	p = b.startEnrol("voice", "Desk", "01632 960123")
	if call := gw.last(t, "call"); call.To != "+441632960123" || !strings.Contains(p.body, "calling ••••123") {
		t.Fatalf("landline for calls: call to %q; enrol page: status %d\n%s", call.To, p.status(), p.body)
	}
	gw.press(t, gw.last(t, "call").CallbackURL)
	wantAdded(t, b.finishEnrol("voice", p, ""))

	// A second method needs a second factor first: the desk phone.
	p = b.startEnrol("sms", "Mobile", "07700 900123")
	gw.press(t, gw.last(t, "call").CallbackURL)
	b.passChallenge(p, "")
	p = b.startEnrol("sms", "Mobile", "07700 900123")
	msg := gw.last(t, "sms")
	if msg.To != "+447700900123" {
		t.Fatalf("mobile for texts: text to %q; enrol page: status %d\n%s", msg.To, p.status(), p.body)
	}
	wantAdded(t, b.finishEnrol("sms", p, sentCode.FindStringSubmatch(msg.Text)[1]))
	p = b.startEnrol("voice", "Mobile", "07700 900123")
	if call := gw.last(t, "call"); call.To != "+447700900123" {
		t.Fatalf("mobile for calls: call to %q", call.To)
	}
	gw.press(t, gw.last(t, "call").CallbackURL)
	wantAdded(t, b.finishEnrol("voice", p, ""))

	got := map[string]string{}
	for _, m := range e.methodsOf(alice) {
		if !m.Fallback() { // the recovery codes made with the first
			got[m.Type+" "+m.Name] = m.Target
		}
	}
	want := map[string]string{"voice Desk": "+441632960123", "sms Mobile": "+447700900123", "voice Mobile": "+447700900123"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("methods stored (-want +got):\n%s", diff)
	}
}

// TestCallStatus: the page waiting on a call asks after it: waiting, then
// answered once # is pressed, then gone with the step. Only the browser
// and session the call belongs to hear anything; Continue pressed early
// says so neutrally and is no guess.
func TestCallStatus(t *testing.T) {
	gw, e, app, b := newGatewayEnv(t)
	e.addUser("bob", alicePassword)
	bob := e.newBrowser()
	a := app.authorize()
	if _, err := app.exchange(a, bob.signIn(app, a, "bob", alicePassword)); err != nil {
		t.Fatal(err)
	}
	stranger := e.newBrowser()
	status := func(b *browser, path string) (int, string) {
		t.Helper()
		p := b.get(e.issuer + path)
		if ct := p.resp.Header.Get("Content-Type"); ct != "application/json" || p.resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Content-Type %q, Cache-Control %q", path, ct, p.resp.Header.Get("Cache-Control"))
		}
		return p.status(), strings.TrimSpace(p.body)
	}
	want := func(b *browser, who, path string, wantCode int, wantBody string) {
		t.Helper()
		if code, body := status(b, path); code != wantCode || body != wantBody {
			t.Errorf("%s asks %s: %d %s, want %d %s", who, path, code, body, wantCode, wantBody)
		}
	}
	const waiting, answered, ended, nothing = `{"status":"waiting"}`, `{"status":"answered"}`, `{"status":"ended"}`, `{}`

	// Adding a phone.
	p := b.startEnrol("voice", "Desk phone", "01632 960123")
	enrol := "/security/call-status?challenge=" + url.QueryEscape(p.form().Get("challenge"))
	if !strings.Contains(p.body, `data-call-status="`+strings.ReplaceAll(enrol, "&", "&amp;")+`"`) {
		t.Errorf("the enrol page does not poll %s:\n%s", enrol, p.body)
	}
	want(b, "the user", enrol, http.StatusOK, waiting)
	want(bob, "another user's session", enrol, http.StatusNotFound, nothing)
	want(stranger, "a browser with no session", enrol, http.StatusNotFound, nothing)
	want(b, "the user", "/security/call-status?challenge=nonesuch", http.StatusNotFound, nothing)
	for range 7 { // more than a challenge's five guesses
		early := b.finishEnrol("voice", p, "")
		if early.status() != http.StatusAccepted || !strings.Contains(htmlUnescape(early.body), "We haven't had your answer yet") || strings.Contains(early.body, "error-summary") {
			t.Fatalf("Continue before #: status %d, want 202 and a neutral note:\n%s", early.status(), early.body)
		}
	}
	gw.press(t, gw.last(t, "call").CallbackURL)
	want(b, "the user", enrol, http.StatusOK, answered)
	want(bob, "another user's session", enrol, http.StatusNotFound, nothing)
	wantAdded(t, b.finishEnrol("voice", p, ""))
	want(b, "the user", enrol, http.StatusNotFound, nothing)

	// Signing in.
	_, p = signInAgain(t, e, b, app)
	signIn := "/login/call-status?id=" + url.QueryEscape(p.form().Get("id"))
	want(b, "the browser signing in", signIn, http.StatusOK, waiting)
	want(bob, "another browser", signIn, http.StatusNotFound, nothing)
	want(stranger, "a browser with no session", signIn, http.StatusNotFound, nothing)
	gw.press(t, gw.last(t, "call").CallbackURL)
	want(b, "the browser signing in", signIn, http.StatusOK, answered)
	want(bob, "another browser", signIn, http.StatusNotFound, nothing)

	// A call left unanswered ends.
	_, p = signInAgain(t, e, b, app)
	signIn = "/login/call-status?id=" + url.QueryEscape(p.form().Get("id"))
	want(b, "the browser signing in", signIn, http.StatusOK, waiting)
	e.clock.Advance(11 * time.Minute)
	want(b, "the browser signing in", signIn, http.StatusOK, ended)
}

func mustQuery(raw string) url.Values {
	u, _ := url.Parse(raw)
	return u.Query()
}

// outboxCode is the code in the newest message on the dev outbox page.
func (e *env) outboxCode() string {
	e.t.Helper()
	p := e.newBrowser().get(e.issuer + "/dev/outbox")
	m := sentCode.FindStringSubmatch(p.body)
	if m == nil {
		e.t.Fatalf("no code on the dev outbox page: status %d\n%s", p.status(), p.body)
	}
	return m[1]
}

// outboxCount is how many codes the dev outbox shows.
func (e *env) outboxCount() int {
	e.t.Helper()
	return len(sentCode.FindAllString(e.newBrowser().get(e.issuer+"/dev/outbox").body, -1))
}

// TestDevOutbox: the embedded default sends texts and calls to the dev
// outbox page (email too: see TestCodeAttacks), where # is pressed with a
// protected button.
func TestDevOutbox(t *testing.T) {
	e, app, b := newOTPEnv(t)
	p := b.startEnrol("voice", "Desk phone", "07700 900123")
	box := e.newBrowser().get(e.issuer + "/dev/outbox")
	if !strings.Contains(box.body, "Voice call to") || !strings.Contains(box.body, "Press # to approve") {
		t.Fatalf("outbox page: status %d\n%s", box.status(), box.body)
	}
	f := box.form()
	forged := url.Values{"call": {f.Get("call")}, "token": {"guess"}}
	if got := b.post("/dev/outbox/press", forged); got.status() != http.StatusNotFound {
		t.Errorf("press with a wrong token: status %d, want 404", got.status())
	}
	req := e.request(http.MethodPost, "/dev/outbox/press", "application/x-www-form-urlencoded", f.Encode(), "Sec-Fetch-Site", "cross-site")
	if got := e.send(req); got.status() != http.StatusForbidden {
		t.Errorf("cross-site press: status %d, want 403", got.status())
	}
	if got := b.post("/dev/outbox/press", f); !strings.Contains(got.body, "You pressed #") {
		t.Fatalf("press: status %d\n%s", got.status(), got.body)
	}
	wantAdded(t, b.finishEnrol("voice", p, ""))

	// Signing in calls the preferred method, the first one added.
	a, p := signInAgain(t, e, b, app)
	if got := b.post("/dev/outbox/press", e.newBrowser().get(e.issuer+"/dev/outbox").form()); !strings.Contains(got.body, "You pressed #") {
		t.Fatalf("press: status %d\n%s", got.status(), got.body)
	}
	wantMFA(t, b, app, a, b.passChallenge(p, ""), "tel")
}

// TestCallScripts: a call says what it is for: at enrolment that this
// phone is being set up, at sign-in that someone is signing in; both in
// the organisation's name.
func TestCallScripts(t *testing.T) {
	e, app, b := newOTPEnv(t, func(c *Config) { c.Organisation.Name = "Ysbyty Gwynedd" })
	p := b.startEnrol("voice", "Desk phone", "01632 960123")
	if got, want := e.newestCall(), "This is Ysbyty Gwynedd. You are setting up this phone for Ysbyty Gwynedd sign-in. To confirm, press the hash key. If you did not ask for this, hang up."; got != want {
		t.Errorf("enrolment call says %q, want %q", got, want)
	}
	b.post("/dev/outbox/press", e.newBrowser().get(e.issuer+"/dev/outbox").form())
	wantAdded(t, b.finishEnrol("voice", p, ""))

	signInAgain(t, e, b, app)
	if got, want := e.newestCall(), "This is Ysbyty Gwynedd. Someone is signing in to Ysbyty Gwynedd as you. If it is you, press the hash key. If not, hang up."; got != want {
		t.Errorf("sign-in call says %q, want %q", got, want)
	}
}

// newestCall is what the newest call on the dev outbox page says.
func (e *env) newestCall() string {
	e.t.Helper()
	p := e.newBrowser().get(e.issuer + "/dev/outbox")
	m := regexp.MustCompile(`(?s)<h2 id="[^"]+">Voice call to [^<]*</h2>.*?<p class="outbox-text">([^<]*)</p>\s*<form`).FindStringSubmatch(p.body)
	if m == nil {
		e.t.Fatalf("no call on the dev outbox page:\n%s", p.body)
	}
	return htmlUnescape(m[1])
}

// TestCodeAttacks: a code works once, for the sign-in that asked for it,
// within ten minutes and five guesses; resending is throttled.
func TestCodeAttacks(t *testing.T) {
	e, app, b := newOTPEnv(t)
	wantAdded(t, b.finishEnrol("email", b.startEnrol("email", "Work", "alice@example.org"), e.outboxCode()))

	t.Run("five wrong guesses retire the code", func(t *testing.T) {
		a, p := signInAgain(t, e, b, app)
		code := e.outboxCode()
		for i := range 5 {
			if p = b.passChallenge(p, wrongCode(code)); p.status() != http.StatusUnauthorized {
				t.Fatalf("wrong code %d: status %d", i+1, p.status())
			}
		}
		p = b.passChallenge(p, code)
		if !strings.Contains(p.body, "Too many wrong answers") {
			t.Fatalf("the right code after five wrong ones: status %d, want the challenge retired", p.status())
		}
		e.wantNoCode(t, "retired code", p)
		e.clock.Advance(2 * time.Second) // past the per-user lock
		if p = b.passChallenge(p, code); p.status() != http.StatusUnauthorized {
			t.Errorf("the retired challenge's code: status %d, want 401", p.status())
		}
		e.clock.Advance(5 * time.Second)
		wantMFA(t, b, app, a, b.passChallenge(p, e.outboxCode()), "otp")
	})

	t.Run("an expired code is refused", func(t *testing.T) {
		_, p := signInAgain(t, e, b, app)
		code := e.outboxCode()
		e.clock.Advance(11 * time.Minute)
		p = b.passChallenge(p, code)
		e.wantNoCode(t, "expired code", p)
		if !strings.Contains(p.body, "Verify it's you") || e.outboxCode() == code {
			t.Errorf("after an expired code: status %d, want a new challenge with a new code", p.status())
		}
	})

	t.Run("a code from another sign-in is refused", func(t *testing.T) {
		e.freshSendBudget("alice") // every sign-in here sends a code
		a1, p1 := signInAgain(t, e, b, app)
		code1 := e.outboxCode()
		other := e.newBrowser()
		_, p2 := e.startSignIn(other, app)
		p2 = other.submitPassword(p2, "alice", alicePassword)
		if e.outboxCode() == code1 {
			t.Fatal("the second sign-in sent no new code")
		}
		if p := other.passChallenge(p2, code1); p.status() != http.StatusUnauthorized {
			t.Errorf("code of another sign-in: status %d, want 401", p.status())
		}
		wantMFA(t, b, app, a1, b.passChallenge(p1, code1), "otp")

		// The same code never works twice.
		_, p := signInAgain(t, e, b, app)
		if p = b.passChallenge(p, code1); p.status() != http.StatusUnauthorized {
			t.Errorf("reused code: status %d, want 401", p.status())
		}
	})

	t.Run("resend is throttled", func(t *testing.T) {
		e.freshSendBudget("alice")
		_, p := signInAgain(t, e, b, app)
		before, throttled := e.outboxCount(), false
		for range 6 {
			f := p.form()
			if p = b.post("/login/resend", f); p.status() == http.StatusTooManyRequests {
				throttled = strings.Contains(p.body, "sent several codes already")
				break
			}
		}
		if !throttled {
			t.Fatal("six resends in a row were not throttled")
		}
		if sent := e.outboxCount() - before; sent > 5 {
			t.Errorf("%d codes sent by resending, want at most 5", sent)
		}
	})
}

func wrongCode(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// TestDeliveryConfig: the outbox only for a loopback issuer; a webhook
// needs its URL and secret; SMTP needs a From address.
func TestDeliveryConfig(t *testing.T) {
	_, err := load(t, []string{"--issuer", "https://id.example.org", "--sms.gateway", "outbox", "--smtp.host", "mail.example.org", "--phone.allowed-regions", "GB,XX"}, nil)
	for _, want := range []string{
		"sms.gateway: outbox is for development only and is refused unless the issuer is localhost",
		"smtp.from: must be an email address",
		`phone.allowed_regions: "XX" is not a region`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	_, err = load(t, []string{"--sms.gateway", "webhook"}, nil)
	for _, want := range []string{"sms.webhook_url: must be an absolute URL", "sms.webhook_secret: must be at least 16 characters"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	// A production issuer with nothing configured offers no code methods
	// rather than an outbox.
	c, err := load(t, []string{"--issuer", "https://id.example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.smsGateway() != gatewayNone || c.emailOutbox() {
		t.Errorf("https issuer: gateway %q, email outbox %v; want none and false", c.smsGateway(), c.emailOutbox())
	}
}

// TestEnrolmentSendsAreThrottled: adding a method sends a code to an
// address the user types, so it shares the send budget: the Security info
// page cannot be used to flood someone's phone.
func TestEnrolmentSendsAreThrottled(t *testing.T) {
	g, _, _, b := newGatewayEnv(t)
	for i := range 5 {
		if p := b.startEnrol("sms", "Phone", "07700 900123"); p.status() != http.StatusOK {
			t.Fatalf("enrolment send %d: status %d", i+1, p.status())
		}
	}
	sent := g.count()
	if p := b.startEnrol("sms", "Phone", "07700 900123"); p.status() != http.StatusOK {
		t.Fatalf("fourth send (charged into a lock): status %d", p.status())
	}
	if p := b.startEnrol("sms", "Phone", "07700 900123"); p.status() != http.StatusTooManyRequests {
		t.Errorf("fifth send in a row: status %d, want 429", p.status())
	}
	if got := g.count(); got != sent+1 {
		t.Errorf("texts sent after the lock: %d more, want 1", got-sent)
	}
}

// freshSendBudget forgets a user's codes sent so far, as an hour's quiet
// would; the ID tokens' real-time expiry rules out moving the clock.
func (e *env) freshSendBudget(username string) {
	e.t.Helper()
	u, err := e.store.GetUserByUsername(context.Background(), username)
	if err != nil {
		e.t.Fatal(err)
	}
	key := "send:" + u.ID
	if _, err := e.store.UpdateAttempts(context.Background(), key, func(storage.Attempts) (storage.Attempts, error) {
		return storage.Attempts{Key: key}, nil
	}); err != nil {
		e.t.Fatal(err)
	}
}

// TestChoosingAMethodAgainIsThrottled: re-choosing the same method starts
// a new challenge, and each send is charged, so the password alone cannot
// flood the user's inbox or phone.
func TestChoosingAMethodAgainIsThrottled(t *testing.T) {
	e, app, b := newOTPEnv(t)
	wantAdded(t, b.finishEnrol("email", b.startEnrol("email", "Work", "alice@example.org"), e.outboxCode()))
	e.freshSendBudget("alice")
	_, p := signInAgain(t, e, b, app)
	before := e.outboxCount()
	methodID := regexp.MustCompile(`name="method" value="([^"]+)"`)
	for range 20 {
		choices := b.get(e.issuer + "/login/methods?id=" + url.QueryEscape(p.form().Get("id")))
		f := choices.form()
		m := methodID.FindStringSubmatch(choices.body)
		if m == nil {
			t.Fatalf("no method to choose:\n%s", choices.body)
		}
		f.Set("method", m[1])
		if p = b.post("/login/method", f); p.status() == http.StatusTooManyRequests {
			break
		}
	}
	if p.status() != http.StatusTooManyRequests || !strings.Contains(p.body, "sent several codes already") {
		t.Errorf("choosing the method again and again: status %d, want 429", p.status())
	}
	if sent := e.outboxCount() - before; sent > 5 {
		t.Errorf("%d codes sent by re-choosing the method, want at most 5", sent)
	}
}

// TestOutboxOnlyForThisMachine: the outbox shows every code, so only a
// loopback client may read it, whatever address the server listens on, and
// a trusted proxy on this machine cannot carry anyone else to it.
func TestOutboxOnlyForThisMachine(t *testing.T) {
	local, err := clientip.ParseProxies([]string{"127.0.0.1", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		proxies clientip.Proxies
		addr    string
		xff     string
		want    int
	}{
		{addr: "127.0.0.1:5000", want: 200},
		{addr: "[::1]:5000", want: 200},
		{addr: "172.17.0.1:5000", want: 403},
		{addr: "192.0.2.7:5000", want: 403},
		{addr: "192.0.2.7:5000", xff: "127.0.0.1", want: 403},
		{proxies: local, addr: "127.0.0.1:5000", want: 200},
		{proxies: local, addr: "127.0.0.1:5000", xff: "127.0.0.1", want: 200},
		{proxies: local, addr: "127.0.0.1:5000", xff: "192.0.2.7", want: 403},
		{proxies: local, addr: "10.0.0.1:5000", xff: "127.0.0.1", want: 403},
	}
	for _, tt := range tests {
		h := loopbackOnly(tt.proxies, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("codes")) })
		req := httptest.NewRequest(http.MethodGet, "/dev/outbox", nil)
		req.RemoteAddr = tt.addr
		if tt.xff != "" {
			req.Header.Set("X-Forwarded-For", tt.xff)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("outbox from %s (X-Forwarded-For %q): status %d, want %d", tt.addr, tt.xff, rec.Code, tt.want)
		}
	}
}
