package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// newNoticeEnv is an env whose mail goes to sink, where MFA is required.
func newNoticeEnv(t *testing.T, sink *smtpSink) *env {
	t.Helper()
	e := newSeededEnv(t, nil, func(c *Config) {
		c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS, c.SMTP.From = "127.0.0.1", sink.addr.Port, "none", "gatehouse@example.org"
		c.Organisation.Name, c.Organisation.Helpdesk = "Wales NHS", "call 0300 123 4567"
	})
	e.setRootMFA(storage.MFARequired)
	return e
}

// firstSignIn signs username in at a new app in a Firefox browser,
// setting up an authenticator app named Phone on the way, and returns
// the browser, whose session may make changes on Security info.
func (e *env) firstSignIn(username string) *browser {
	e.t.Helper()
	app := e.addRP(storage.NewID(), false)
	b := e.newBrowser()
	b.userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	a := app.authorize()
	_, p := b.enrolDuringSignIn(b.submitPassword(b.get(a.url), username, alicePassword))
	b.codeFrom(b.pastCodes(p), a)
	return b
}

// sendDue runs the notification sender once, as its loop does.
func (e *env) sendDue() int {
	e.t.Helper()
	n, err := e.server.sender.SendDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// mails are the messages the sink received.
func (s *smtpSink) mails() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// readable is a received mail as a person reads it: whom it went to, its
// headers, and each part decoded.
func readable(t *testing.T, received string) string {
	t.Helper()
	to, raw, _ := strings.Cut(received, "\n")
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "to %s\n", to)
	for k, v := range msg.Header {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(v, ", "))
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	r := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			return b.String()
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p)
		fmt.Fprintf(&b, "\n%s\n%s", p.Header.Get("Content-Type"), strings.ReplaceAll(string(body), "\r\n", "\n"))
	}
}

// TestSecurityInfoNotices: each change on Security info sends the account's
// holder one email through the outbox, once, saying what happened, when,
// from where and whom to tell if it was not them, in text and HTML, with a
// Message-ID; the recovery codes that come with a first method send none
// of their own.
func TestSecurityInfoNotices(t *testing.T) {
	sink := newSMTPSink(t)
	e := newNoticeEnv(t, sink)
	e.addUser("alice", alicePassword)
	b := e.firstSignIn("alice")
	if n := e.sendDue(); n != 1 {
		t.Fatalf("after the first method: %d notices sent, want 1", n)
	}
	if n := e.sendDue(); n != 0 {
		t.Errorf("sent again: %d more", n)
	}
	got := sink.mails()
	if len(got) != 1 {
		t.Fatalf("the SMTP server received %d mails, want 1", len(got))
	}
	first := readable(t, got[0])
	for _, want := range []string{
		"to alice@example.org\n", "Subject: A sign-in method was added to your account", "Message-Id: <",
		"multipart/alternative", "Hello User alice,", "A way to sign in, Authenticator app (Phone), was added to your account.",
		"From: 127.0.0.1, Firefox on Linux", "contact your helpdesk: call 0300 123 4567.", "Wales NHS", "text/html", "<p>Hello User alice,</p>",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the mail lacks %q:\n%s", want, first)
		}
	}

	p := b.get(e.issuer + "/security")
	m := regexp.MustCompile(`name="method" value="([^"]+)"><button type="submit" class="secondary">Remove<span class="visually-hidden"> Authenticator app Phone`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no Remove button for the app:\n%s", p.body)
	}
	b.securityPost("/security/remove", url.Values{"method": {m[1]}})
	b.securityPost("/security/recovery", nil)
	if n := e.sendDue(); n != 2 {
		t.Fatalf("after removing the app and making new recovery codes: %d sent, want 2", n)
	}
	var subjects []string
	for _, m := range sink.mails()[1:] {
		msg, _ := mail.ReadMessage(strings.NewReader(m[strings.Index(m, "\n")+1:]))
		subjects = append(subjects, msg.Header.Get("Subject"))
	}
	slices.Sort(subjects)
	if want := []string{"A sign-in method was removed from your account", "New recovery codes were made for your account"}; !slices.Equal(subjects, want) {
		t.Errorf("subjects %q, want %q", subjects, want)
	}
}

// TestNoticeWaitsForSMTP: while the SMTP server refuses mail the notice
// waits, tried again after 30 seconds, then a minute, and goes once it is
// accepted, once; a notice refused for a day is given up on and audited;
// a change by a user with no email address succeeds, sends nothing, and
// its audit event says why.
func TestNoticeWaitsForSMTP(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	e := newNoticeEnv(t, sink)
	alice := e.addUser("alice", alicePassword)
	sink.refusing.Store(true)
	b := e.firstSignIn("alice")
	if n := e.sendDue(); n != 0 {
		t.Fatalf("sent %d while the server refuses", n)
	}
	list, err := e.store.ListUserNotifications(ctx, alice.ID, 0)
	if err != nil || len(list) != 1 {
		t.Fatalf("alice's notices: %v, %v", list, err)
	}
	n := list[0]
	if n.State != storage.NotificationPending || n.Attempts != 1 || !strings.Contains(n.LastError, "421") || !n.NextAttemptAt.Equal(e.clock.Now().Add(30*time.Second)) {
		t.Errorf("after a refusal: %+v", n)
	}
	e.clock.Advance(29 * time.Second)
	e.sendDue()
	if n, _ := e.store.GetNotification(ctx, n.ID); n.Attempts != 1 {
		t.Errorf("tried again before its time: %d attempts", n.Attempts)
	}
	e.clock.Advance(time.Second)
	e.sendDue()
	if n, _ := e.store.GetNotification(ctx, n.ID); n.Attempts != 2 || !n.NextAttemptAt.Equal(e.clock.Now().Add(time.Minute)) {
		t.Errorf("the second try: %d attempts, next at %v", n.Attempts, n.NextAttemptAt)
	}
	sink.refusing.Store(false)
	e.clock.Advance(time.Minute)
	if sent := e.sendDue(); sent != 1 || len(sink.mails()) != 1 {
		t.Errorf("once the server accepts: %d sent, %d received", sent, len(sink.mails()))
	}
	if n, _ := e.store.GetNotification(ctx, n.ID); n.State != storage.NotificationSent || !n.SentAt.Equal(e.clock.Now()) {
		t.Errorf("recorded as %q at %v", n.State, n.SentAt)
	}

	sink.refusing.Store(true)
	b.securityPost("/security/recovery", nil)
	for range 30 {
		e.sendDue()
		e.clock.Advance(time.Hour)
	}
	list, _ = e.store.ListUserNotifications(ctx, alice.ID, 1)
	if len(list) != 1 || list[0].State != storage.NotificationFailed {
		t.Fatalf("a notice refused for a day: %+v", list)
	}
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "notification.failed"})
	if err != nil || len(events) != 1 || events[0].Details["notification"] != list[0].ID {
		t.Errorf("its audit event: %v, %v", events, err)
	}

	// No address: the change goes through, and nothing waits to be sent.
	nobody := e.addUser("nomail", alicePassword)
	if _, err := e.store.UpdateUser(ctx, nobody.ID, func(u storage.User) (storage.User, error) { u.Email = ""; return u, nil }); err != nil {
		t.Fatal(err)
	}
	e.firstSignIn("nomail")
	if list, _ := e.store.ListUserNotifications(ctx, nobody.ID, 0); len(list) != 0 {
		t.Errorf("notices for a user with no address: %+v", list)
	}
	added, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: nobody.ID, Action: "mfa.method_added", Outcome: storage.OutcomeSuccess})
	if err != nil || len(added) != 1 || added[0].Details["notice"] != "no address" {
		t.Errorf("the change's audit event should say no notice went, for no address: %+v, %v", added, err)
	}
}
