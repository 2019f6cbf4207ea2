package otp

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mailer sends an email.
type Mailer interface {
	SendMail(ctx context.Context, m Mail) error
}

// Mail is one email: plain text, and, if HTML is set, an HTML version of
// the same text beside it (multipart/alternative).
type Mail struct {
	To, Subject, Text, HTML string
	// ID, when set, makes the Message-ID, so that the same message sent
	// twice (a retry after a crash) is recognisable as one.
	ID string
}

// Gateway sends text messages and places voice calls. Call reads say to
// whoever answers; when they press #, the gateway POSTs to callbackURL
// (signed by Gatehouse) to confirm.
type Gateway interface {
	SendSMS(ctx context.Context, to, text string) error
	Call(ctx context.Context, to, say, callbackURL string) error
}

// SMTP TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: only for a relay on the same host
)

// SMTP sends email through an SMTP server.
type SMTP struct {
	Host     string
	Port     int
	TLS      string // TLSStartTLS, TLSImplicit or TLSNone
	Username string // PLAIN auth when set
	Password string
	From     string
	// Timeout bounds the whole exchange; 0 means 30 seconds.
	Timeout time.Duration
	// TLSConfig is for tests; nil verifies the server's certificate for
	// Host.
	TLSConfig *tls.Config
}

var _ Mailer = (*SMTP)(nil)

// LogValue keeps the password out of logs.
func (s *SMTP) LogValue() slog.Value {
	return slog.GroupValue(slog.String("host", s.Host), slog.Int("port", s.Port), slog.String("tls", s.TLS), slog.String("username", s.Username))
}

func (s *SMTP) SendMail(ctx context.Context, m Mail) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	tlsConfig := s.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	var c *smtp.Client
	switch s.TLS {
	case TLSImplicit:
		c = smtp.NewClient(tls.Client(conn, tlsConfig))
	case TLSNone:
		c = smtp.NewClient(conn)
	default:
		if c, err = smtp.NewClientStartTLS(conn, tlsConfig); err != nil {
			conn.Close()
			return fmt.Errorf("smtp starttls %s: %w", addr, err)
		}
	}
	defer c.Close()
	if s.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.Username, s.Password)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	msg, err := s.compose(m, time.Now())
	if err != nil {
		return err
	}
	if err := c.SendMail(s.From, []string{m.To}, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return c.Quit()
}

// compose writes m as a message: its text alone, or its text and HTML
// as multipart/alternative, the text first (RFC 2046 section 5.1.4: the
// preferred version last).
func (s *SMTP) compose(m Mail, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", s.From, m.To, mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z))
	if m.ID != "" {
		_, domain, _ := strings.Cut(s.From, "@")
		fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", m.ID, strings.Trim(domain, "<> "))
	}
	b.WriteString("MIME-Version: 1.0\r\nAuto-Submitted: auto-generated\r\n")
	if m.HTML == "" {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(crlf(m.Text))
		return b.Bytes(), nil
	}
	w := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%s\r\n\r\n", w.Boundary())
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {part.typ + "; charset=utf-8"}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(crlf(part.body))); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// crlf is text with CRLF line ends, ending in one, as SMTP wants.
func crlf(text string) string {
	return strings.ReplaceAll(strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\n"), "\n", "\r\n") + "\r\n"
}

// Webhook is a Gateway that POSTs each text or call, as JSON, to a URL the
// operator's SMS provider bridge serves:
//
//	{"type":"sms","to":"+447700900123","text":"Your Gatehouse code is …"}
//	{"type":"call","to":"+447700900123","say":"…","callback_url":"https://…"}
//
// Each request carries X-Gatehouse-Timestamp (Unix seconds) and
// X-Gatehouse-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>.
type Webhook struct {
	URL    string
	Secret []byte
	// Client defaults to one with a 10-second timeout.
	Client *http.Client
	Now    func() time.Time
}

var _ Gateway = (*Webhook)(nil)

// LogValue keeps the secret out of logs.
func (w *Webhook) LogValue() slog.Value { return slog.StringValue(w.URL) }

// WebhookMessage is the JSON a Webhook posts.
type WebhookMessage struct {
	Type        string `json:"type"` // sms or call
	To          string `json:"to"`   // E.164
	Text        string `json:"text,omitempty"`
	Say         string `json:"say,omitempty"`
	CallbackURL string `json:"callback_url,omitempty"`
}

func (w *Webhook) SendSMS(ctx context.Context, to, text string) error {
	return w.post(ctx, WebhookMessage{Type: "sms", To: to, Text: text})
}

func (w *Webhook) Call(ctx context.Context, to, say, callbackURL string) error {
	return w.post(ctx, WebhookMessage{Type: "call", To: to, Say: say, CallbackURL: callbackURL})
}

func (w *Webhook) post(ctx context.Context, msg WebhookMessage) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gatehouse-Timestamp", ts)
	req.Header.Set("X-Gatehouse-Signature", WebhookSignature(w.Secret, ts, body))
	client := w.Client
	if client == nil {
		client = webhookClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", msg.Type, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: gateway answered %s", msg.Type, resp.Status)
	}
	return nil
}

// WebhookSignature is the X-Gatehouse-Signature value for a request.
func WebhookSignature(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp + "."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhookSignature is how a gateway checks a request: the signature
// must match, in constant time, and the timestamp be within maxAge of now.
func VerifyWebhookSignature(secret []byte, timestamp, signature string, body []byte, now time.Time, maxAge time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxAge || d < -maxAge {
		return errors.New("timestamp out of range")
	}
	if !hmac.Equal([]byte(signature), []byte(WebhookSignature(secret, timestamp, body))) {
		return errors.New("bad signature")
	}
	return nil
}

// webhookClient sends webhooks when none is configured. It does not follow
// redirects: a redirect would carry the signed body and its signature to
// another host.
var webhookClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}
