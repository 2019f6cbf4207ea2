package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/login/notify"
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

// mailsTo are the mails with subject, by recipient, as a person reads
// them.
func mailsTo(t *testing.T, sink *smtpSink, subject string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range sink.mails() {
		r := readable(t, m)
		if strings.Contains(r, "Subject: "+subject+"\n") {
			to, _, _ := strings.Cut(strings.TrimPrefix(r, "to "), "\n")
			out[to] += r
		}
	}
	return out
}

// TestExceptionNotices: a long-term request tells the admins who may
// approve it, the requester and an admin of another unit excepted, and
// each morning they are sent a digest of what still waits, once; once
// approved the user is told, the day before it ends, and when it has.
func TestExceptionNotices(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	e := newNoticeEnv(t, sink)
	alice := e.addUser("alice", alicePassword)
	e.firstSignIn("alice")
	e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	e.withRole(e.addUser("chief", alicePassword), storage.RoleGlobalAdmin)
	root, _ := findOrgUnit(ctx, e.store, "")
	if err := e.store.CreateOrgUnit(ctx, storage.OrgUnit{ID: "wales", Name: "Wales", ParentID: root.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateUser(ctx, e.addUser("wales-admin", alicePassword).ID, func(u storage.User) (storage.User, error) {
		u.Roles = []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "wales"}}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	e.withRole(e.addUser("nomail", alicePassword), storage.RoleOrgAdmin)
	if _, err := e.store.UpdateUser(ctx, mustUser(t, e, "nomail").ID, func(u storage.User) (storage.User, error) { u.Email = ""; return u, nil }); err != nil {
		t.Fatal(err)
	}

	hd, _ := e.adminSignIn(t, "hd")
	p := hd.post("/admin/users/"+alice.ID+"/exceptions", url.Values{"csrf": {hd.adminCSRF(t)}, "kind": {"long_term"}, "reason": {"accessibility"},
		"evidence": {"Occupational health letter, ref 12"}})
	if len(userExceptions(t, e, alice.ID)[storage.ExceptionRequested]) != 1 {
		t.Fatalf("the long-term request: status %d\n%s", p.status(), p.body)
	}
	e.sendDue()
	waiting := mailsTo(t, sink, "A long-term exception is waiting for your approval")
	if got := slices.Sorted(maps.Keys(waiting)); !slices.Equal(got, []string{"boss@example.org", "chief@example.org"}) {
		t.Fatalf("told of the request: %q, want boss and chief", got)
	}
	for _, want := range []string{"User alice (alice), Accessibility needs, asked for by User hd on", e.issuer + "/admin/exceptions", "Hello User boss,"} {
		if !strings.Contains(waiting["boss@example.org"], want) {
			t.Errorf("boss's message lacks %q:\n%s", want, waiting["boss@example.org"])
		}
	}

	// The next morning, one digest each, however often it is made.
	now := e.clock.Now()
	e.clock.Advance(time.Date(now.Year(), now.Month(), now.Day()+1, 9, 0, 0, 0, time.UTC).Sub(now))
	for range 2 {
		if _, err := e.server.admin.SendDigests(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.sendDue()
	digests := mailsTo(t, sink, "Long-term exceptions still waiting for approval")
	if got := slices.Sorted(maps.Keys(digests)); !slices.Equal(got, []string{"boss@example.org", "chief@example.org"}) || strings.Count(digests["chief@example.org"], "Subject:") != 1 {
		t.Fatalf("the morning's digests: %q\n%v", got, digests)
	}

	boss, _ := e.adminSignIn(t, "boss")
	request := userExceptions(t, e, alice.ID)[storage.ExceptionRequested][0]
	p = boss.post("/admin/exceptions/"+request.ID+"/approve", url.Values{"csrf": {boss.adminCSRF(t)}})
	if len(userExceptions(t, e, alice.ID)[storage.ExceptionApproved]) != 1 {
		t.Fatalf("approving: status %d\n%s", p.status(), p.body)
	}
	e.sendDue()
	if got := mailsTo(t, sink, "An exception to multi-factor authentication was granted on your account"); len(got["alice@example.org"]) == 0 {
		t.Fatalf("alice was not told of the grant: %v", got)
	}
	e.clock.Advance(179*24*time.Hour + time.Minute)
	e.sendDue()
	ending := mailsTo(t, sink, "The exception to multi-factor authentication on your account ends tomorrow")["alice@example.org"]
	if !strings.Contains(ending, "long-term, Accessibility needs, until") || strings.Count(ending, "Subject:") != 1 {
		t.Errorf("the day before it ends:\n%s", ending)
	}
	if got := mailsTo(t, sink, "The exception to multi-factor authentication on your account has expired"); len(got) != 0 {
		t.Errorf("told it expired a day early: %v", got)
	}
	e.clock.Advance(24 * time.Hour)
	e.sendDue()
	if got := mailsTo(t, sink, "The exception to multi-factor authentication on your account has expired"); strings.Count(got["alice@example.org"], "Subject:") != 1 {
		t.Errorf("when it ended: %v", got)
	}
}

// TestNoticeByText: a user with no email address is texted at their
// mobile when an admin resets their MFA, and the dev outbox marks the
// text a notification.
func TestNoticeByText(t *testing.T) {
	ctx := context.Background()
	e := newSeededEnv(t, nil)
	bob := e.addUser("bob", alicePassword)
	if _, err := e.store.UpdateUser(ctx, bob.ID, func(u storage.User) (storage.User, error) { u.Email = ""; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateMethod(ctx, storage.Method{ID: storage.NewID(), UserID: bob.ID, Type: storage.MethodSMS, Target: "+447700900123", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	boss, _ := e.adminSignIn(t, "boss")
	p := boss.confirm(t, boss.adminForm(t, "/admin/users/"+bob.ID+"/mfa", url.Values{"turn_off": {"on"}}))
	if !strings.Contains(p.body, "MFA turned off for User bob") {
		t.Fatalf("resetting bob's MFA: status %d\n%s", p.status(), p.body)
	}
	e.sendDue()
	box := e.newBrowser().get(e.issuer + "/dev/outbox").body
	for _, want := range []string{"Notification text message to &#43;447700900123", "Gatehouse: An administrator reset multi-factor authentication on your account"} {
		if !strings.Contains(box, want) {
			t.Errorf("the dev outbox lacks %q:\n%s", want, box)
		}
	}
	if p := boss.get(e.issuer + "/admin/users/" + bob.ID); !strings.Contains(p.body, "<td>Sent by text ") {
		t.Errorf("bob's page does not say the notice went by text:\n%s", p.body)
	}
}

// TestNoticeSettings: a global admin turns an event off and the optional
// new-browser notice on, on the admin pages, audited; a change of the
// event turned off is told to nobody and its audit event says so, and a
// password used from a new browser is told of, once per browser. Anyone
// else is refused the page.
func TestNoticeSettings(t *testing.T) {
	ctx := context.Background()
	sink := newSMTPSink(t)
	e := newNoticeEnv(t, sink)
	alice := e.addUser("alice", alicePassword)
	e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	chief := e.withRole(e.addUser("chief", alicePassword), storage.RoleGlobalAdmin)
	boss, _ := e.adminSignIn(t, "boss")
	if p := boss.get(e.issuer + "/admin/notifications"); p.status() != http.StatusForbidden {
		t.Errorf("an org admin at the notifications page: status %d", p.status())
	}
	c, _ := e.adminSignIn(t, "chief")
	p := c.get(e.issuer + "/admin/notifications")
	form := p.form()
	if !strings.Contains(p.body, `id="event_mfa.method_removed" name="on" value="mfa.method_removed" checked`) || strings.Contains(p.body, `value="login.new_browser" checked`) {
		t.Fatalf("the notifications page, as it starts:\n%s", p.body)
	}
	var on []string
	for _, ev := range notify.Events {
		if !ev.Off && ev.Name != "mfa.method_removed" {
			on = append(on, ev.Name)
		}
	}
	p = c.post("/admin/notifications", url.Values{"csrf": {form.Get("csrf")}, "on": append(on, "login.new_browser")})
	if !strings.Contains(p.body, "Saved.") || !strings.Contains(p.body, `value="login.new_browser" checked`) || strings.Contains(p.body, `value="mfa.method_removed" checked`) {
		t.Fatalf("after saving: status %d\n%s", p.status(), p.body)
	}
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{Action: "settings.notices_changed"})
	if err != nil || len(events) != 1 || events[0].Actor != chief.ID || events[0].Details["mfa.method_removed"] != "false" || events[0].Details["login.new_browser"] != "true" || len(events[0].Details) != 2 {
		t.Errorf("the audit of the change: %+v, %v", events, err)
	}

	b := e.firstSignIn("alice")
	e.sendDue()
	newBrowser := mailsTo(t, sink, "Your password was used from a new browser")["alice@example.org"]
	if !strings.Contains(newBrowser, "From: 127.0.0.1, Firefox on Linux") || strings.Count(newBrowser, "Subject:") != 1 {
		t.Errorf("the new-browser notice:\n%s", newBrowser)
	}
	p = b.get(e.issuer + "/security")
	m := regexp.MustCompile(`name="method" value="([^"]+)"><button type="submit" class="secondary">Remove`).FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no Remove button:\n%s", p.body)
	}
	b.securityPost("/security/remove", url.Values{"method": {m[1]}})
	e.sendDue()
	if got := mailsTo(t, sink, "A sign-in method was removed from your account"); len(got) != 0 {
		t.Errorf("told of an event turned off: %v", got)
	}
	removed, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID, Action: "mfa.method_removed"})
	if err != nil || len(removed) != 1 || removed[0].Details["notice"] != "off" {
		t.Errorf("the removal's audit event: %+v, %v", removed, err)
	}
}

// TestMalformedAddressRefused: an address a notice could not go to is
// refused when an admin saves it, with the field's error, and the user
// keeps the one they had.
func TestMalformedAddressRefused(t *testing.T) {
	e := newSeededEnv(t, nil)
	alice := e.addUser("alice", alicePassword)
	e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	boss, _ := e.adminSignIn(t, "boss")
	for _, bad := range []string{"alice@@example.org", "alice", "Alice <alice@example.org>", "alice@example.org\r\nBcc: eve@example.org"} {
		p := boss.adminForm(t, "/admin/users/"+alice.ID, url.Values{"display_name": {"Alice"}, "email": {bad}})
		if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#email">Enter an email address, like name@example.org</a>`) {
			t.Errorf("saving %q: status %d\n%s", bad, p.status(), p.body)
		}
	}
	if u := mustUser(t, e, "alice"); u.Email != alice.Email {
		t.Errorf("alice's address is %q after refused saves, want %q", u.Email, alice.Email)
	}
}
