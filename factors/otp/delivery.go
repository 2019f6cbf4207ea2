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
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mailer sends an email.
type Mailer interface {
	SendMail(ctx context.Context, to, subject, body string) error
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

func (s *SMTP) SendMail(ctx context.Context, to, subject, body string) error {
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
	if err := c.SendMail(s.From, []string{to}, bytes.NewReader(s.compose(to, subject, body))); err != nil {
		return fmt.Errorf("smtp send: %w", err)
	}
	return c.Quit()
}

// compose writes a plain-text message.
func (s *SMTP) compose(to, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\n", s.From, to, mime.QEncoding.Encode("utf-8", subject), time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	b.WriteString("\r\n")
	return b.Bytes()
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
