package otp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

func newSealer(t testing.TB) *factors.Sealer {
	t.Helper()
	s, err := factors.NewSealer(make([]byte, factors.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewCode(t *testing.T) {
	six := regexp.MustCompile(`^[0-9]{6}$`)
	seen := map[byte]bool{}
	for range 2000 {
		c := NewCode()
		if !six.MatchString(c) {
			t.Fatalf("code %q is not six digits", c)
		}
		seen[c[0]] = true
	}
	// Leading zeros are kept: every first digit turns up.
	if len(seen) != 10 {
		t.Errorf("first digits seen: %d, want 10", len(seen))
	}
}

var codeInText = regexp.MustCompile(`\b[0-9]{6}\b`)

func TestEmailCode(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	box := NewOutbox(clock)
	f := NewEmail(box, Config{Sealer: newSealer(t), Org: "Gatehouse", Now: clock})
	ctx := context.Background()
	u := storage.User{ID: "u1"}

	c := storage.Challenge{ID: "c1", UserID: u.ID}
	p, err := f.BeginEnrol(ctx, u, factors.EnrolInput{Target: " Jo.Bloggs@Example.ORG "}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "We sent a code to Jo•••@example.org. Enter it below."; p.Message != want {
		t.Errorf("prompt = %q, want %q", p.Message, want)
	}
	mail := box.Items()[0]
	code := codeInText.FindString(mail.Text)
	if mail.To != "Jo.Bloggs@example.org" || code == "" {
		t.Fatalf("mail = %+v", mail)
	}
	if strings.Contains(string(c.CodeHash), code) || strings.Contains(string(c.Data), "example.org") {
		t.Error("the code or address is stored in the clear")
	}
	if !c.ExpiresAt.Equal(now.Add(10 * time.Minute)) {
		t.Errorf("ExpiresAt = %v, want now+10m", c.ExpiresAt)
	}
	if _, err := f.FinishEnrol(ctx, u, c, factors.Response{Code: wrong(code)}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("wrong code: err = %v", err)
	}
	m, err := f.FinishEnrol(ctx, u, c, factors.Response{Code: code[:3] + " " + code[3:]})
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != storage.MethodEmail || m.Target != "Jo.Bloggs@example.org" || m.UserID != u.ID {
		t.Errorf("method = %+v", m)
	}

	// Sign-in: the code is bound to its challenge and expires.
	c1 := storage.Challenge{ID: "c2"}
	if _, err := f.Begin(ctx, u, m, &c1); err != nil {
		t.Fatal(err)
	}
	code1 := codeInText.FindString(box.Items()[0].Text)
	c2 := storage.Challenge{ID: "c3"}
	f.Begin(ctx, u, m, &c2)
	if _, err := f.Verify(ctx, u, m, c2, factors.Response{Code: code1}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("code of another challenge: err = %v", err)
	}
	res, err := f.Verify(ctx, u, m, c1, factors.Response{Code: code1})
	if err != nil || res.AMR != "otp" {
		t.Errorf("right code: AMR %q, err %v", res.AMR, err)
	}
	now = now.Add(10 * time.Minute)
	if _, err := f.Verify(ctx, u, m, c1, factors.Response{Code: code1}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("expired code: err = %v", err)
	}
}

func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

func TestParsePhone(t *testing.T) {
	for _, in := range []string{"07700 900123", "07700900123", "+44 7700 900123", "+447700900123", "(07700) 900-123", "0044 7700 900123"} {
		got, err := ParsePhone(in, nil)
		if err != nil || got != "+447700900123" {
			t.Errorf("ParsePhone(%q) = %q, %v; want +447700900123", in, got, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"+33 6 12 34 56 78", "only UK (+44) numbers are allowed"},
		{"12345", "enter a phone number"},
		{"not a number", "enter a phone number"},
	} {
		_, err := ParsePhone(tc.in, nil)
		if !errors.Is(err, factors.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePhone(%q) err = %v, want ErrBadInput naming %q", tc.in, err, tc.want)
		}
	}
	if got, err := ParsePhone("07400 123456", nil); err != nil || got != "+447400123456" {
		t.Errorf("an allocated UK mobile: %q, %v", got, err)
	}
	if got, err := ParsePhone("+33 6 12 34 56 78", []string{"GB", "FR"}); err != nil || got != "+33612345678" {
		t.Errorf("French number, FR allowed: %q, %v", got, err)
	}
	// libphonenumber takes this 16-digit German number as valid; E.164
	// allows 15 digits, and no gateway sends to more.
	if got, err := ParsePhone("+49 2100 0000 0000 00", []string{"DE"}); !errors.Is(err, factors.ErrBadInput) {
		t.Errorf("a 16-digit number: %q, %v; want ErrBadInput", got, err)
	}
	if got, err := ParsePhone("+49 30 123456", []string{"DE"}); err != nil || got != "+4930123456" {
		t.Errorf("a German landline, DE allowed: %q, %v", got, err)
	}
	// 00 in front of a drama number is no drama number.
	if got, err := ParsePhone("0007700 900000", nil); !errors.Is(err, factors.ErrBadInput) {
		t.Errorf("a drama number behind 00: %q, %v; want ErrBadInput", got, err)
	}
}

// TestPhoneLines: texts go only to mobiles; landlines (VoIP and UAN
// numbers with them) take calls only; numbers that charge the caller or
// ring no one person are refused for both, each refusal naming the rule.
func TestPhoneLines(t *testing.T) {
	for _, tc := range []struct {
		in, e164 string
		line     Line
		call     string // "" when ParsePhone accepts it, else in its error
		text     string // "" when ParseMobile accepts it, else in its error
	}{
		{in: "07700 900123", e164: "+447700900123", line: Mobile},
		{in: "07400 123456", e164: "+447400123456", line: Mobile},
		{in: "01632 960123", e164: "+441632960123", line: Landline,
			text: "01632 960123 is a landline: text messages can only go to a mobile number. Choose Voice call to use this number"},
		{in: "020 7946 0123", e164: "+442079460123", line: Landline, text: "020 7946 0123 is a landline: text messages"},
		{in: "056 1234 5678", e164: "+445612345678", line: Landline, text: "056 1234 5678 is an internet phone (VoIP) number: text messages"},
		{in: "0300 123 4567", e164: "+443001234567", line: Landline, text: "0300 123 4567 is a non-geographic (UAN) number: text messages"},
		{in: "0871 123 4567", call: "0871 123 4567 is a premium-rate number: use a mobile or landline number", text: "premium-rate"},
		{in: "0800 123 4567", call: "is a freephone number", text: "is a freephone number"},
		{in: "07640 123456", call: "is a pager number", text: "is a pager number"},
	} {
		got, err := ParsePhone(tc.in, nil)
		switch {
		case tc.call == "" && (err != nil || got != tc.e164):
			t.Errorf("ParsePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.e164)
		case tc.call != "" && (!errors.Is(err, factors.ErrBadInput) || !strings.Contains(err.Error(), tc.call)):
			t.Errorf("ParsePhone(%q) err = %v, want ErrBadInput naming %q", tc.in, err, tc.call)
		}
		got, err = ParseMobile(tc.in, nil)
		switch {
		case tc.text == "" && (err != nil || got != tc.e164):
			t.Errorf("ParseMobile(%q) = %q, %v; want %q", tc.in, got, err, tc.e164)
		case tc.text != "" && (!errors.Is(err, factors.ErrBadInput) || !strings.Contains(err.Error(), tc.text)):
			t.Errorf("ParseMobile(%q) err = %v, want ErrBadInput naming %q", tc.in, err, tc.text)
		}
		if tc.e164 != "" {
			if got := LineOf(tc.e164); got != tc.line {
				t.Errorf("LineOf(%q) = %q, want %q", tc.e164, got, tc.line)
			}
		}
	}
	// A number of another allowed region is named as dialled from abroad.
	if _, err := ParseMobile("+353 1 234 5678", []string{"GB", "IE"}); err == nil || !strings.Contains(err.Error(), "+353 1 234 5678 is a landline") {
		t.Errorf("Irish landline for texts: err = %v", err)
	}
	if got := LineOf("not a number"); got != "" {
		t.Errorf("LineOf(garbage) = %q, want none", got)
	}
}

func TestParseEmail(t *testing.T) {
	for in, want := range map[string]string{"a@B.org": "a@b.org", " x.y@example.org ": "x.y@example.org"} {
		if got, err := ParseEmail(in); err != nil || got != want {
			t.Errorf("ParseEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "nobody", "Jo <jo@example.org>", "a@b.org, c@d.org", `"a@b"@example.org`, `"a>b"@example.org`, "a\u0085@example.org"} {
		if _, err := ParseEmail(in); !errors.Is(err, factors.ErrBadInput) {
			t.Errorf("ParseEmail(%q) err = %v, want ErrBadInput", in, err)
		}
	}
}

func TestWebhookSignature(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	var got []WebhookMessage
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := VerifyWebhookSignature(secret, r.Header.Get("X-Gatehouse-Timestamp"), r.Header.Get("X-Gatehouse-Signature"), body, now, time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m WebhookMessage
		json.Unmarshal(body, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}))
	defer gw.Close()
	ctx := context.Background()
	hook := &Webhook{URL: gw.URL, Secret: secret, Now: func() time.Time { return now }}
	if err := hook.SendSMS(ctx, "+447700900123", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := hook.Call(ctx, "+447700900123", "press #", "https://id.example.org/cb"); err != nil {
		t.Fatal(err)
	}
	want := []WebhookMessage{
		{Type: "sms", To: "+447700900123", Text: "hello"},
		{Type: "call", To: "+447700900123", Say: "press #", CallbackURL: "https://id.example.org/cb"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	// A gateway with another secret refuses: a non-2xx answer is an error.
	forged := &Webhook{URL: gw.URL, Secret: []byte("guess"), Now: hook.Now}
	if err := forged.SendSMS(ctx, "+447700900123", "x"); err == nil {
		t.Error("a request signed with the wrong secret was accepted")
	}
	stale := &Webhook{URL: gw.URL, Secret: secret, Now: func() time.Time { return now.Add(-time.Hour) }}
	if err := stale.SendSMS(ctx, "+447700900123", "x"); err == nil {
		t.Error("a replayed (old) request was accepted")
	}
	// The documented formula, checked against openssl:
	// printf '1.{}' | openssl dgst -sha256 -hmac k
	if sig, want := WebhookSignature([]byte("k"), "1", []byte("{}")), "sha256=3dd49b2593d0f9a349e9e71c4bde3e2b862c2be4003fe9b4ba81332029310158"; sig != want {
		t.Errorf("signature = %q, want %q", sig, want)
	}
}

// challenges is an in-memory ChallengeUpdater.
type challenges struct {
	mu sync.Mutex
	m  map[string]storage.Challenge
}

func (s *challenges) UpdateChallenge(_ context.Context, id string, update func(storage.Challenge) (storage.Challenge, error)) (storage.Challenge, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[id]
	if !ok {
		return c, storage.ErrNotFound
	}
	c, err := update(c)
	if err != nil {
		return c, err
	}
	s.m[id] = c
	return c, nil
}

func TestVoiceCallback(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	box := NewOutbox(clock)
	store := &challenges{m: map[string]storage.Challenge{}}
	v := NewVoice(box, nil, "https://id.example.org", store, slog.New(slog.DiscardHandler), Config{Sealer: newSealer(t), Org: "Gatehouse", Now: clock})
	box.OnPress(v.Approve)
	ctx := context.Background()
	u := storage.User{ID: "u1"}
	c := storage.Challenge{ID: "c1", Type: storage.MethodVoice}
	p, err := v.BeginEnrol(ctx, u, factors.EnrolInput{Target: "07700 900123"}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != factors.PromptCall || !strings.Contains(p.Message, "••••123") {
		t.Errorf("prompt = %+v", p.Prompt)
	}
	store.m[c.ID] = c
	call := box.Items()[0]
	cb, _ := url.Parse(call.callbackURL)
	if cb.Host != "id.example.org" || cb.Path != CallbackPath || cb.Query().Get("challenge") != c.ID {
		t.Fatalf("callback URL = %s", cb)
	}
	if _, err := v.FinishEnrol(ctx, u, store.m[c.ID], factors.Response{}); !errors.Is(err, factors.ErrNotReady) {
		t.Errorf("before #: err = %v, want ErrNotReady", err)
	}

	for name, edit := range map[string]func(q url.Values){
		"unsigned":       func(q url.Values) { q.Del("sig") },
		"other expiry":   func(q url.Values) { q.Set("exp", "9999999999") },
		"other call":     func(q url.Values) { q.Set("challenge", "c2") },
		"forged sig":     func(q url.Values) { q.Set("sig", strings.Repeat("A", 43)) },
		"non-numeric":    func(q url.Values) { q.Set("exp", "soon") },
		"nothing at all": func(q url.Values) { clear(q) },
	} {
		q := cb.Query()
		edit(q)
		r := httptest.NewRequest(http.MethodPost, CallbackPath+"?"+q.Encode(), nil)
		w := httptest.NewRecorder()
		v.ServeHTTP(w, r)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s callback: status %d, want 403", name, w.Code)
		}
	}
	if store.m[c.ID].Approved {
		t.Fatal("a forged callback approved the call")
	}
	if err := box.Press(ctx, call.ID, "wrong token"); !errors.Is(err, ErrNoCall) {
		t.Errorf("press with a wrong token: err = %v", err)
	}
	if err := box.Press(ctx, call.ID, call.Token); err != nil {
		t.Fatal(err)
	}
	m, err := v.FinishEnrol(ctx, u, store.m[c.ID], factors.Response{})
	if err != nil || m.Target != "+447700900123" || m.Type != storage.MethodVoice {
		t.Errorf("after #: method %+v, err %v", m, err)
	}

	// A signed callback is refused once the call has expired.
	now = now.Add(Lifetime)
	r := httptest.NewRequest(http.MethodPost, cb.RequestURI(), nil)
	w := httptest.NewRecorder()
	v.ServeHTTP(w, r)
	if w.Code != http.StatusForbidden {
		t.Errorf("expired callback: status %d, want 403", w.Code)
	}
}

func TestOutboxIsBounded(t *testing.T) {
	box := NewOutbox(time.Now)
	for range OutboxSize + 10 {
		box.SendSMS(context.Background(), "+447700900123", "x")
	}
	if n := len(box.Items()); n != OutboxSize {
		t.Errorf("outbox holds %d, want %d", n, OutboxSize)
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{"+447700900123": "••••123", "jo@example.org": "jo•••@example.org", "a@b.org": "a•••@b.org"} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWebhookDoesNotFollowRedirects: a redirecting gateway is an error, and
// the signed body never reaches the host it points at.
func TestWebhookDoesNotFollowRedirects(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("X-Gatehouse-Signature") != "")
	}))
	defer elsewhere.Close()
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	}))
	defer gateway.Close()
	w := &Webhook{URL: gateway.URL, Secret: []byte("secret"), Now: time.Now}
	if err := w.SendSMS(context.Background(), "+447700900123", "hello"); err == nil {
		t.Error("a redirecting gateway was taken as delivery")
	}
	if leaked.Load() {
		t.Error("the signed request followed the redirect to another host")
	}
}
