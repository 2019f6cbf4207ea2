package otp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailServer is a real SMTP server (go-smtp) on loopback that demands
// PLAIN authentication and records what was delivered.
type mailServer struct {
	addr *net.TCPAddr
	pool *x509.CertPool
	mu   sync.Mutex
	got  []string // "user to: message"
}

type mailSession struct {
	srv  *mailServer
	user string
	to   string
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "gatehouse" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.user = user
		return nil
	}), nil
}
func (s *mailSession) Mail(string, *smtp.MailOptions) error {
	if s.user == "" {
		return smtp.ErrAuthRequired
	}
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = to; return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.srv.mu.Lock()
	s.srv.got = append(s.srv.got, s.user+" "+s.to+": "+string(b))
	s.srv.mu.Unlock()
	return err
}
func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

// newMailServer starts a server; implicit is TLS from the first byte,
// otherwise STARTTLS is offered (or not, with noTLS).
func newMailServer(t *testing.T, implicit, noTLS bool) *mailServer {
	t.Helper()
	cert, pool := selfSigned(t)
	m := &mailServer{pool: pool}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{srv: m}, nil }))
	s.Domain = "localhost"
	s.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some cases
	if !noTLS {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	s.AllowInsecureAuth = noTLS
	var ln net.Listener
	var err error
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	m.addr = ln.Addr().(*net.TCPAddr)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return m
}

// selfSigned makes a certificate for localhost and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestSMTPModes: codes go out over STARTTLS and implicit TLS with PLAIN
// authentication; the client verifies the server's certificate, never
// falls back to plain text when STARTTLS is missing, and reports a refused
// login.
func TestSMTPModes(t *testing.T) {
	send := func(srv *mailServer, mode, user, pass string, pool *x509.CertPool) error {
		s := &SMTP{Host: "localhost", Port: srv.addr.Port, TLS: mode, Username: user, Password: pass, From: "gatehouse@example.org",
			Timeout: 5 * time.Second, TLSConfig: &tls.Config{ServerName: "localhost", RootCAs: pool, MinVersion: tls.VersionTLS12}}
		return s.SendMail(context.Background(), Mail{To: "jo@example.org", Subject: "Your code", Text: "Your Gatehouse code is 123456."})
	}
	for _, tc := range []struct {
		name     string
		implicit bool
		mode     string
	}{{"starttls", false, TLSStartTLS}, {"implicit tls", true, TLSImplicit}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newMailServer(t, tc.implicit, false)
			if err := send(srv, tc.mode, "gatehouse", "s3cret", srv.pool); err != nil {
				t.Fatal(err)
			}
			srv.mu.Lock()
			got := srv.got
			srv.mu.Unlock()
			if len(got) != 1 || !strings.HasPrefix(got[0], "gatehouse jo@example.org: ") || !strings.Contains(got[0], "123456") {
				t.Errorf("delivered %q", got)
			}
			if err := send(srv, tc.mode, "gatehouse", "wrong", srv.pool); err == nil || !strings.Contains(err.Error(), "smtp auth") {
				t.Errorf("a wrong password: %v, want an auth error", err)
			}
			if err := send(srv, tc.mode, "gatehouse", "s3cret", x509.NewCertPool()); err == nil {
				t.Error("a certificate the client does not trust was accepted")
			}
		})
	}
	t.Run("starttls required, server offers none", func(t *testing.T) {
		srv := newMailServer(t, false, true)
		if err := send(srv, TLSStartTLS, "gatehouse", "s3cret", srv.pool); err == nil {
			t.Fatal("sent without TLS when STARTTLS was required")
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if len(srv.got) != 0 {
			t.Errorf("delivered in plain text: %q", srv.got)
		}
	})
}

// TestComposeAlternative: a mail with HTML goes as multipart/alternative,
// text first, each part decoding to exactly what was given, with a
// Message-ID made from the mail's ID; a mail without HTML is plain text.
func TestComposeAlternative(t *testing.T) {
	s := &SMTP{From: "Gatehouse <gatehouse@example.org>"}
	m := Mail{To: "jo@example.org", Subject: "A method was added to your account", ID: "n1",
		Text: "An authenticator app was added.\nIf this was not you, contact your helpdesk: 0300 123 4567.",
		HTML: "<p>An authenticator app was added.</p>\n<p>If this was not you, contact your helpdesk: 0300 123 4567. Ünïcode = fine.</p>"}
	raw, err := s.compose(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Header.Get("Message-ID"), "<n1@example.org>"; got != want {
		t.Errorf("Message-ID = %q, want %q", got, want)
	}
	typ, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || typ != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for _, want := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		p, err := r.NextPart() // decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		if got := strings.ReplaceAll(strings.TrimSuffix(string(body), "\r\n"), "\r\n", "\n"); got != want.body || !strings.HasPrefix(p.Header.Get("Content-Type"), want.typ) {
			t.Errorf("part %s: %q, %q; want %q", want.typ, p.Header.Get("Content-Type"), got, want.body)
		}
	}
	if _, err := r.NextPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}

	m.HTML, m.ID = "", ""
	raw, err = s.compose(m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msg, _ = mail.ReadMessage(bytes.NewReader(raw))
	body, _ := io.ReadAll(msg.Body)
	if ct := msg.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || msg.Header.Get("Message-ID") != "" ||
		string(body) != strings.ReplaceAll(m.Text, "\n", "\r\n")+"\r\n" {
		t.Errorf("a text-only mail: Content-Type %q, Message-ID %q, body %q", ct, msg.Header.Get("Message-ID"), body)
	}
}
