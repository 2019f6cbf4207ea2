// Package notify tells people what happened to their accounts. A change
// adds its notices to the outbox in its own transaction (Notifier.Notices),
// so a crash can neither lose a notice nor send one for a change that did
// not happen; a Sender delivers the outbox, retrying until it gives up.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Retention is how long a notice is kept after it is due, sent or not,
// for the admin pages; GiveUp is how long a notice is retried.
const (
	Retention = 30 * 24 * time.Hour
	GiveUp    = 24 * time.Hour
)

// An Event is something people are told of: its audit action, the
// subject of the message, and what the admin pages call it.
type Event struct {
	Name, Subject, Label string
	// Texted events reach a user with no email address by text message,
	// at the mobile phone they had when it happened.
	Texted bool
	// Off events are sent only once a global admin turns them on.
	Off bool
}

// Events are what people are told of, in the order the admin pages list
// them.
var Events = []Event{
	{Name: "mfa.method_added", Label: "A way to sign in is added to an account", Subject: "A sign-in method was added to your account", Texted: true},
	{Name: "mfa.method_removed", Label: "A way to sign in is removed from an account", Subject: "A sign-in method was removed from your account", Texted: true},
	{Name: "mfa.disabled", Label: "A user turns multi-factor authentication off", Subject: "Multi-factor authentication was turned off for your account", Texted: true},
	{Name: "mfa.recovery_codes_generated", Label: "A user makes new recovery codes", Subject: "New recovery codes were made for your account", Texted: true},
	{Name: "user.password_changed", Label: "A user changes their password", Subject: "Your password was changed", Texted: true},
	{Name: "mfa.reset", Label: "An admin resets a user's multi-factor authentication", Subject: "Your multi-factor authentication was reset", Texted: true},
	{Name: "user.password_reset", Label: "An admin resets a user's password", Subject: "Your password was reset", Texted: true},
	{Name: "access_pass.issued", Label: "The helpdesk issues a user a temporary access pass", Subject: "A temporary access pass was made for your account", Texted: true},
	{Name: "app_password.created", Label: "A user creates an app password", Subject: "An app password was created for your account"},
	{Name: "exception.approved", Label: "An exception is granted (told to the user)", Subject: "An exception to multi-factor authentication was granted on your account"},
	{Name: "exception.revoked", Label: "An exception is revoked (told to the user)", Subject: "The exception to multi-factor authentication on your account has ended"},
	{Name: "exception.ending", Label: "A long-term exception ends the next day (told to the user)", Subject: "The exception to multi-factor authentication on your account ends tomorrow"},
	{Name: "exception.expired", Label: "An exception expires (told to the user)", Subject: "The exception to multi-factor authentication on your account has expired"},
	{Name: "exception.waiting", Label: "A long-term exception is asked for (told to the admins who may approve it)", Subject: "A long-term exception is waiting for your approval"},
	{Name: "exception.digest", Label: "Each morning, the long-term exceptions still waiting (told to the admins who may approve them)", Subject: "Long-term exceptions still waiting for approval"},
	{Name: "login.new_browser", Label: "A user's password is used from a browser they had not signed in from", Subject: "Your password was used from a new browser", Off: true},
}

// eventOf is the Event named name.
func eventOf(name string) (Event, bool) {
	i := slices.IndexFunc(Events, func(e Event) bool { return e.Name == name })
	if i < 0 {
		return Event{}, false
	}
	return Events[i], true
}

// sentence says what event did; what names the method or the exception
// it was done to.
func sentence(event, what string, byAdmin bool) string {
	switch {
	case event == "mfa.method_added":
		return "A way to sign in, " + what + ", was added to your account."
	case event == "mfa.method_removed" && byAdmin:
		return "An administrator removed a way to sign in, " + what + ", from your account: it can no longer be used to sign in."
	case event == "mfa.method_removed":
		return "A way to sign in, " + what + ", was removed from your account: it can no longer be used to sign in."
	case event == "mfa.disabled":
		return "Multi-factor authentication was turned off for your account: signing in asks only for your password where your organisation allows it."
	case event == "mfa.recovery_codes_generated":
		return "A new set of recovery codes was made for your account. The old codes no longer work."
	case event == "mfa.reset":
		return "An administrator reset multi-factor authentication on your account: your ways to sign in were removed, and you will set one up again at your next sign-in. Everywhere you were signed in has been signed out."
	case event == "user.password_changed":
		return "Your password was changed. Everywhere else you were signed in has been signed out."
	case event == "user.password_reset":
		return "An administrator reset your password and made you a one-time password. Everywhere you were signed in has been signed out."
	case event == "access_pass.issued":
		return "Your helpdesk made a temporary access pass for your account: for a few hours it lets you sign in without your other ways to sign in."
	case event == "app_password.created":
		return "An app password, " + what + ", was created for your account. It lets an app sign in as you without your second factor."
	case event == "exception.approved":
		return "Your helpdesk granted an exception on your account, " + what + ": until it ends you can sign in without a second factor."
	case event == "exception.revoked":
		return "The exception on your account, " + what + ", has ended: you will be asked for a second factor again when you sign in."
	case event == "exception.ending":
		return "The exception on your account, " + what + ", ends tomorrow: from then on you will be asked for a second factor when you sign in. If you still cannot use your usual way to sign in, contact your helpdesk before then."
	case event == "exception.expired":
		return "The exception on your account, " + what + ", has expired: you will be asked for a second factor again when you sign in."
	case event == "login.new_browser":
		return "Your password was used to sign in to your account from a browser it had not been signed in from before."
	}
	return ""
}

// Notifier composes notices.
type Notifier struct {
	// Org and Helpdesk are the organisation's name and how its users reach
	// their helpdesk, as configured.
	Org, Helpdesk string
	// Exceptions is the address of the admin pages' exception queue, for
	// approvers.
	Exceptions string
	Pages      *templates.Templates
	// Email and Texts report whether notices can go by email and by text
	// message at all.
	Email, Texts bool
	// Labels name the method types ("Authenticator app").
	Labels map[string]string

	settings atomic.Pointer[storage.Settings]
}

// SetSettings makes s the settings notices follow.
func (n *Notifier) SetSettings(s storage.Settings) { n.settings.Store(&s) }

// LoadSettings reads the settings notices follow from the store: at start,
// and then every so often, so that a change made on another replica is
// followed within that while.
func (n *Notifier) LoadSettings(ctx context.Context, store interface {
	GetSettings(context.Context) (storage.Settings, error)
}) error {
	s, err := store.GetSettings(ctx)
	if err != nil {
		return fmt.Errorf("load notice settings: %w", err)
	}
	n.SetSettings(s)
	return nil
}

// On reports whether people are told of event under the settings it
// follows.
func (n *Notifier) On(event string) bool {
	var s storage.Settings
	if p := n.settings.Load(); p != nil {
		s = *p
	}
	return On(s, event)
}

// On reports whether people are told of event under settings s: its
// setting, or its default where s has none.
func On(s storage.Settings, event string) bool {
	e, ok := eventOf(event)
	if !ok {
		return false
	}
	if on, set := s.Notices[event]; set {
		return on
	}
	return !e.Off
}

// Facts are what a notice says beside its event: the details of its
// audit event (the method it was done to: "method", "name"; or the
// exception: "exception", "kind", "reason", "expires"); when; from which
// address and browser, or that an administrator did it; and the number of
// the user's mobile phone when it happened, for a user with no email.
type Facts struct {
	Details     map[string]string
	When        time.Time
	IP, Browser string
	ByAdmin     bool
	Mobile      string
}

// what names what a notice is about: a method, "Authenticator app
// (Phone)", or an exception, "short-term, Lost or broken phone, until 6
// Dec 2026 08:00 UTC".
func (n *Notifier) what(f Facts) string {
	d := f.Details
	if d["app_password"] != "" {
		return "\u201c" + d["name"] + "\u201d"
	}
	if kind, ok := policy.KindOf(d["kind"]); ok {
		what := strings.ToLower(kind.Label)
		if r, ok := kind.Reason(d["reason"]); ok {
			what += ", " + r.Label
		}
		if until, err := time.Parse(time.RFC3339, d["expires"]); err == nil {
			what += ", until " + until.UTC().Format("2 Jan 2006 15:04 MST")
		}
		return what
	}
	what := n.Labels[d["method"]]
	if what == "" {
		what = "a method"
	}
	if name := factors.MethodName(storage.Method{Name: d["name"]}, what); name != "" {
		what += " (" + name + ")"
	}
	return what
}

// Notices are the notices of event about u, to add in the change's
// transaction: to u's email address, or by text to f.Mobile for an event
// texted; for an exception granted, also those that it ends, scheduled
// for then. Where u is told nothing of an event people are told of,
// unsent says why, for the change's audit event: "off" (a global admin
// turned the event off), "no address", or "no email" where Gatehouse can
// send none.
func (n *Notifier) Notices(u storage.User, event string, f Facts) (_ []storage.Notification, unsent string, _ error) {
	e, ok := eventOf(event)
	if !ok {
		return nil, "", nil
	}
	var to, channel string
	switch {
	case n.Email && u.Email != "":
		to, channel = u.Email, storage.ChannelEmail
	case e.Texted && n.Texts && f.Mobile != "":
		to, channel = f.Mobile, storage.ChannelSMS
	case !n.Email && !(e.Texted && n.Texts):
		return nil, "no email", nil
	default:
		return nil, "no address", nil
	}
	var list []storage.Notification
	if n.On(event) {
		m, err := n.notice(u, to, channel, e, f)
		if err != nil {
			return nil, "", err
		}
		list = append(list, m)
	}
	if event == "exception.approved" {
		later, err := n.endings(u, to, channel, f)
		if err != nil {
			return nil, "", err
		}
		list = append(list, later...)
	}
	if len(list) == 0 {
		return nil, "off", nil
	}
	return list, "", nil
}

// endings are the notices that the exception granted as f tells ends,
// scheduled: the day before for a long-term one, and when it has.
func (n *Notifier) endings(u storage.User, to, channel string, f Facts) ([]storage.Notification, error) {
	until, err := time.Parse(time.RFC3339, f.Details["expires"])
	if err != nil {
		return nil, nil
	}
	var list []storage.Notification
	for _, s := range []struct {
		event string
		at    time.Time
		when  bool
	}{
		{"exception.ending", until.Add(-24 * time.Hour), f.Details["kind"] == storage.ExceptionLongTerm},
		{"exception.expired", until, true},
	} {
		if !s.when || !n.On(s.event) {
			continue
		}
		e, _ := eventOf(s.event)
		later, err := n.notice(u, to, channel, e, Facts{Details: f.Details, When: s.at})
		if err != nil {
			return nil, err
		}
		later.DueAt, later.About, later.CreatedAt = s.at, f.Details["exception"], f.When
		list = append(list, later)
	}
	return list, nil
}

// notice is the notice of e about u, due at f.When, to to on channel.
func (n *Notifier) notice(u storage.User, to, channel string, e Event, f Facts) (storage.Notification, error) {
	m := storage.Notification{
		ID: storage.NewID(), UserID: u.ID, Channel: channel, To: to, Event: e.Name, Subject: e.Subject,
		State: storage.NotificationPending, NextAttemptAt: f.When, CreatedAt: f.When, ExpiresAt: f.When.Add(Retention),
	}
	sentence := sentence(e.Name, n.what(f), f.ByAdmin)
	if channel == storage.ChannelSMS {
		m.Text = n.text(sentence, f.When)
		return m, nil
	}
	var err error
	m.Text, m.HTML, err = n.Pages.Notice(templates.NoticeMessage{Org: n.Org, Name: nameOf(u), Sentence: sentence,
		Helpdesk: n.Helpdesk, When: f.When, IP: f.IP, Browser: f.Browser})
	return m, err
}

// text is a text message's notice: short, and naming the organisation
// first, since a text has no sender's name to read.
func (n *Notifier) text(sentence string, when time.Time) string {
	t := n.Org + ": " + sentence + " (" + when.UTC().Format("2 Jan 15:04 MST") + ")"
	if n.Helpdesk != "" {
		return t + " If it was not you, contact your helpdesk: " + n.Helpdesk + "."
	}
	return t + " If it was not you, contact your helpdesk."
}

func nameOf(u storage.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Username
}

// Waiting is a request for a long-term exception waiting for approval,
// as approvers are told of it.
type Waiting struct {
	Exception       storage.Exception
	User, Requester storage.User
}

func (w Waiting) String() string {
	what := nameOf(w.User)
	if what != w.User.Username {
		what += " (" + w.User.Username + ")"
	}
	if kind, ok := policy.KindOf(w.Exception.Kind); ok {
		if r, ok := kind.Reason(w.Exception.Reason); ok {
			what += ", " + r.Label
		}
	}
	return what + ", asked for by " + nameOf(w.Requester) + " on " + w.Exception.RequestedAt.UTC().Format("2 Jan 2006 15:04 MST")
}

// Approvals are the notices telling approvers, by email, that w waits for
// one of them.
func (n *Notifier) Approvals(approvers []storage.User, w Waiting, when time.Time) ([]storage.Notification, error) {
	var list []storage.Notification
	for _, a := range approvers {
		m, ok, err := n.toApprover(a, "exception.waiting", when, templates.NoticeMessage{
			Sentence: "A request for a long-term exception to multi-factor authentication waits for another admin's approval:",
			Items:    []string{w.String()}, When: when,
		})
		if err != nil {
			return nil, err
		}
		if ok {
			list = append(list, m)
		}
	}
	return list, nil
}

// ApprovalDigest is approver's digest of the requests still waiting for
// them on day. Its id names the approver and the day, so that however
// many replicas make it, it is added once.
func (n *Notifier) ApprovalDigest(approver storage.User, waiting []Waiting, day time.Time) (storage.Notification, bool, error) {
	items := make([]string, len(waiting))
	for i, w := range waiting {
		items[i] = w.String()
	}
	m, ok, err := n.toApprover(approver, "exception.digest", day, templates.NoticeMessage{
		Sentence: "These requests for long-term exceptions to multi-factor authentication are still waiting for an admin's approval:",
		Items:    items,
	})
	m.ID = "digest-" + day.UTC().Format("2006-01-02") + "-" + approver.ID
	return m, ok, err
}

// toApprover is a notice of event to approver a by email, or false where
// a has no email or the event is off.
func (n *Notifier) toApprover(a storage.User, event string, when time.Time, msg templates.NoticeMessage) (storage.Notification, bool, error) {
	e, _ := eventOf(event)
	if !n.Email || a.Email == "" || !n.On(event) {
		return storage.Notification{}, false, nil
	}
	msg.Org, msg.Name = n.Org, nameOf(a)
	msg.Closing = "Decide on it under Exceptions on the admin pages, " + n.Exceptions + ". You are told because you are an admin over the user's unit."
	if len(msg.Items) > 1 {
		msg.Closing = "Decide on them under Exceptions on the admin pages, " + n.Exceptions + ". You are told because you are an admin over the users' units."
	}
	text, html, err := n.Pages.Notice(msg)
	return storage.Notification{
		ID: storage.NewID(), UserID: a.ID, Channel: storage.ChannelEmail, To: a.Email, Event: event, Subject: e.Subject,
		Text: text, HTML: html, State: storage.NotificationPending,
		NextAttemptAt: when, CreatedAt: when, ExpiresAt: when.Add(Retention),
	}, true, err
}

// digest is the one message telling of list, notices to one recipient
// held back because they had been sent their hourly Budget: its subject,
// text and HTML.
func (n *Notifier) digest(list []storage.Notification) (subject, text, html string, err error) {
	subject = fmt.Sprintf("%d things happened to your account", len(list))
	items := make([]string, len(list))
	for i, m := range list {
		items[i] = m.Subject + ", " + m.CreatedAt.UTC().Format("2 Jan 2006 15:04 MST")
	}
	if list[0].Channel == storage.ChannelSMS {
		if len(items) > 3 {
			items = append(items[:3], fmt.Sprintf("and %d more", len(list)-3))
		}
		return subject, n.text(subject+": "+strings.Join(items, "; ")+".", list[len(list)-1].CreatedAt), "", nil
	}
	text, html, err = n.Pages.Notice(templates.NoticeMessage{Org: n.Org, Helpdesk: n.Helpdesk, Items: items,
		Sentence: "Several things happened to your account in a short while. So as not to flood your inbox, this message tells of them together:"})
	return subject, text, html, err
}

// Store is what a Sender needs of storage.
type Store interface {
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.Notification, error)
	UpdateNotification(ctx context.Context, id string, update func(storage.Notification) (storage.Notification, error)) (storage.Notification, error)
	ListUserNotifications(ctx context.Context, userID string, limit int) ([]storage.Notification, error)
	GetException(ctx context.Context, id string) (storage.Exception, error)
	GetSettings(ctx context.Context) (storage.Settings, error)
	AppendAudit(ctx context.Context, e storage.AuditEvent) error
}

// lease is how long a claimed notice is its sender's: longer than one
// send may take (an SMTP exchange is bounded to 30 seconds), so notices
// are claimed one at a time; and short, since after a crash the notices
// its sender held wait for their leases to run out.
const lease = 45 * time.Second

// Budget is how many messages one recipient is sent in an hour, so that
// nobody can use Gatehouse to flood someone's inbox: the last of them
// tells of every notice then due, and notices after it wait for the hour
// to pass, to go together in one digest. None is dropped.
const Budget = 5

// Sender delivers the outbox. At least once: a sender that dies between
// sending and recording it leaves the notice to be sent again when its
// lease runs out, with the same Message-ID.
type Sender struct {
	Store    Store
	Notifier *Notifier
	// Mail and Text send email and text messages; nil where Gatehouse
	// sends none.
	Mail   otp.Mailer
	Text   func(ctx context.Context, to, text string) error
	Logger *slog.Logger
	Now    func() time.Time
}

// Run sends what is due every interval until ctx ends, and follows the
// settings as they change.
func (s *Sender) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := s.Notifier.LoadSettings(ctx, s.Store)
		if err == nil {
			_, err = s.SendDue(ctx)
		}
		if err != nil && ctx.Err() == nil {
			s.Logger.ErrorContext(ctx, "send notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendDue sends the notices due now and says how many messages it sent.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	sent := 0
	for {
		claimed, err := s.Store.ClaimNotifications(ctx, s.Now(), lease, 1)
		if err != nil || len(claimed) == 0 {
			return sent, err
		}
		for _, n := range claimed {
			ok, err := s.deliver(ctx, n)
			if ok {
				sent++
			}
			if err != nil {
				return sent, err
			}
		}
	}
}

// deliver sends n, a notice just claimed, with the others then due to its
// recipient where it is the last their budget allows; or holds it back
// until the budget allows one more; or cancels it, no longer true.
func (s *Sender) deliver(ctx context.Context, n storage.Notification) (sent bool, _ error) {
	why, err := s.stale(ctx, n)
	if err != nil {
		return false, err
	}
	if why != "" {
		_, err := s.Store.UpdateNotification(ctx, n.ID, func(n storage.Notification) (storage.Notification, error) {
			n.State, n.LastError = storage.NotificationCancelled, why
			return n, nil
		})
		return false, err
	}
	batch, until, err := s.budget(ctx, n)
	if err != nil {
		return false, err
	}
	if !until.IsZero() {
		_, err := s.Store.UpdateNotification(ctx, n.ID, func(n storage.Notification) (storage.Notification, error) {
			n.Attempts-- // a hold is no attempt
			n.NextAttemptAt, n.LastError = until, HeldBack+fmt.Sprintf("%d messages were sent in the hour before", Budget)
			return n, nil
		})
		return false, err
	}
	sendErr := s.send(ctx, batch)
	for i, m := range batch {
		if err := s.record(ctx, m, batch[0].ID, i > 0, sendErr); err != nil {
			return false, err
		}
	}
	return sendErr == nil, nil
}

// stale says why n is no longer to be sent: its event was turned off, or
// the exception it says ends was revoked first; "" when it is to be sent.
func (s *Sender) stale(ctx context.Context, n storage.Notification) (string, error) {
	if !s.Notifier.On(n.Event) {
		return "turned off", nil
	}
	if n.About == "" {
		return "", nil
	}
	e, err := s.Store.GetException(ctx, n.About)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "the exception is gone", nil
	case err != nil:
		return "", err
	case e.State != storage.ExceptionApproved:
		return "the exception was " + e.State + " first", nil
	}
	return "", nil
}

// budget is what to send with n: n alone; or, where n is the last message
// n's recipient's budget allows this hour, every notice due to them, all
// claimed; or nothing until the time it returns, when their budget is
// spent.
func (s *Sender) budget(ctx context.Context, n storage.Notification) (batch []storage.Notification, until time.Time, _ error) {
	list, err := s.Store.ListUserNotifications(ctx, n.UserID, 0)
	if err != nil {
		return nil, until, err
	}
	now := s.Now()
	mine := func(m storage.Notification) bool { return m.Channel == n.Channel && m.To == n.To && m.ID != n.ID }
	var sent []time.Time
	for _, m := range list {
		if mine(m) && m.State == storage.NotificationSent && m.SentIn == "" && now.Sub(m.SentAt) < time.Hour {
			sent = append(sent, m.SentAt)
		}
	}
	switch {
	case len(sent) >= Budget:
		return nil, slices.MinFunc(sent, time.Time.Compare).Add(time.Hour), nil
	case len(sent) < Budget-1:
		return []storage.Notification{n}, until, nil
	}
	batch = []storage.Notification{n}
	for _, m := range list {
		if !mine(m) || m.State != storage.NotificationPending || m.NextAttemptAt.After(now) {
			continue
		}
		m, err := s.Store.UpdateNotification(ctx, m.ID, func(m storage.Notification) (storage.Notification, error) {
			if m.State != storage.NotificationPending || m.NextAttemptAt.After(now) {
				return m, errTaken
			}
			m.Attempts++
			m.NextAttemptAt = now.Add(lease)
			return m, nil
		})
		switch {
		case errors.Is(err, errTaken) || errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, until, err
		default:
			batch = append(batch, m)
		}
	}
	slices.SortFunc(batch, func(a, b storage.Notification) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return batch, until, nil
}

// HeldBack starts the LastError of a notice held back by the Budget.
const HeldBack = "held back: "

// errTaken: a notice another sender claimed meanwhile.
var errTaken = errors.New("claimed meanwhile")

// send sends batch as one message: its one notice, or a digest of all,
// with the Message-ID of the first.
func (s *Sender) send(ctx context.Context, batch []storage.Notification) error {
	m := batch[0]
	subject, text, html := m.Subject, m.Text, m.HTML
	if len(batch) > 1 {
		var err error
		if subject, text, html, err = s.Notifier.digest(batch); err != nil {
			return err
		}
	}
	switch {
	case m.Channel == storage.ChannelEmail && s.Mail != nil:
		return s.Mail.SendMail(ctx, otp.Mail{To: m.To, Subject: subject, Text: text, HTML: html, ID: m.ID})
	case m.Channel == storage.ChannelSMS && s.Text != nil:
		return s.Text(ctx, m.To, text)
	}
	return fmt.Errorf("nothing sends by %s", m.Channel)
}

// record writes how a send of n went: sent, in the message with id
// digest when inDigest; or failed, and tried again after a wait that
// doubles each time, up to an hour; or, a day after it was due, given up
// on and audited.
func (s *Sender) record(ctx context.Context, n storage.Notification, digest string, inDigest bool, sendErr error) error {
	now := s.Now()
	n, err := s.Store.UpdateNotification(ctx, n.ID, func(n storage.Notification) (storage.Notification, error) {
		switch {
		case sendErr == nil:
			n.State, n.SentAt, n.LastError = storage.NotificationSent, now, ""
			if inDigest {
				n.SentIn = digest
			}
		case now.Sub(n.CreatedAt) >= GiveUp && now.Sub(n.DueAt) >= GiveUp:
			n.State, n.LastError = storage.NotificationFailed, sendErr.Error()
		default:
			n.LastError, n.NextAttemptAt = sendErr.Error(), now.Add(backoff(n.Attempts))
		}
		return n, nil
	})
	if err != nil {
		return fmt.Errorf("record notification: %w", err)
	}
	if sendErr != nil {
		s.Logger.WarnContext(ctx, "notification not sent", "id", n.ID, "event", n.Event, "attempts", n.Attempts, "err", sendErr)
	}
	if n.State == storage.NotificationFailed {
		return s.Store.AppendAudit(ctx, storage.AuditEvent{Time: now, Subject: n.UserID, Action: "notification.failed", Outcome: storage.OutcomeFailure,
			Details: map[string]string{"notification": n.ID, "event": n.Event, "channel": n.Channel, "attempts": fmt.Sprint(n.Attempts), "error": n.LastError}})
	}
	return nil
}

// backoff is the wait after the attempts-th failed attempt: 30 seconds,
// doubling, at most an hour.
func backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for range attempts - 1 {
		if d *= 2; d >= time.Hour {
			return time.Hour
		}
	}
	return d
}
