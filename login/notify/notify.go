// Package notify tells people what happened to their accounts. A change
// adds its notices to the outbox in its own transaction (Notifier.Notices),
// so a crash can neither lose a notice nor send one for a change that did
// not happen; a Sender delivers the outbox, retrying until it gives up.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// Retention is how long a notice is kept, sent or not, for the admin
// pages; GiveUp is how long a notice is retried.
const (
	Retention = 30 * 24 * time.Hour
	GiveUp    = 24 * time.Hour
)

// subjects are the events a user is told of, with the subject of the
// mail; sentence says what happened.
var subjects = map[string]string{
	"mfa.method_added":             "A sign-in method was added to your account",
	"mfa.method_removed":           "A sign-in method was removed from your account",
	"mfa.disabled":                 "Multi-factor authentication was turned off for your account",
	"mfa.recovery_codes_generated": "New recovery codes were made for your account",
	"mfa.reset":                    "Your multi-factor authentication was reset",
	"user.password_changed":        "Your password was changed",
	"user.password_reset":          "Your password was reset",
	"access_pass.issued":           "A temporary access pass was made for your account",
	"exception.approved":           "An exception to multi-factor authentication was granted on your account",
	"exception.revoked":            "The exception to multi-factor authentication on your account has ended",
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
	case event == "exception.approved":
		return "Your helpdesk granted an exception on your account, " + what + ": until it ends you can sign in without a second factor."
	case event == "exception.revoked":
		return "The exception on your account, " + what + ", has ended: you will be asked for a second factor again when you sign in."
	}
	return ""
}

// Notifier composes notices.
type Notifier struct {
	// Org and Helpdesk are the organisation's name and how its users reach
	// their helpdesk, as configured.
	Org, Helpdesk string
	Pages         *templates.Templates
	// Email reports whether notices can go by email at all.
	Email bool
	// Labels name the method types ("Authenticator app").
	Labels map[string]string
}

// Facts are what a notice says beside its event: the details of its
// audit event (the method it was done to: "method", "name"; or the
// exception: "kind", "reason", "expires"); when; and from which address
// and browser, or that an administrator did it.
type Facts struct {
	Details     map[string]string
	When        time.Time
	IP, Browser string
	ByAdmin     bool
}

// what names what a notice is about: a method, "Authenticator app
// (Phone)", or an exception, "short-term, Lost or broken phone, until 6
// Dec 2026 08:00 UTC".
func (n *Notifier) what(f Facts) string {
	d := f.Details
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
// transaction: one to u's email address, or none when the event is not
// one users are told of or u has no address to tell.
func (n *Notifier) Notices(u storage.User, event string, f Facts) ([]storage.Notification, error) {
	subject, ok := subjects[event]
	if !ok || !n.Email || u.Email == "" {
		return nil, nil
	}
	name := u.DisplayName
	if name == "" {
		name = u.Username
	}
	text, html, err := n.Pages.Notice(templates.NoticeMessage{Org: n.Org, Name: name, Sentence: sentence(event, n.what(f), f.ByAdmin),
		Helpdesk: n.Helpdesk, When: f.When, IP: f.IP, Browser: f.Browser})
	if err != nil {
		return nil, err
	}
	return []storage.Notification{{
		ID: storage.NewID(), UserID: u.ID, Channel: storage.ChannelEmail, To: u.Email, Event: event,
		Subject: subject, Text: text, HTML: html, State: storage.NotificationPending,
		NextAttemptAt: f.When, CreatedAt: f.When, ExpiresAt: f.When.Add(Retention),
	}}, nil
}

// Unsent says why u is told nothing of event, for the change's audit
// event: "no address", or "no email" where Gatehouse sends none; "" when
// u is told, or event is not one users are told of.
func (n *Notifier) Unsent(u storage.User, event string) string {
	if _, ok := subjects[event]; !ok {
		return ""
	}
	switch {
	case !n.Email:
		return "no email"
	case u.Email == "":
		return "no address"
	}
	return ""
}

// Store is what a Sender needs of storage.
type Store interface {
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]storage.Notification, error)
	UpdateNotification(ctx context.Context, id string, update func(storage.Notification) (storage.Notification, error)) (storage.Notification, error)
	AppendAudit(ctx context.Context, e storage.AuditEvent) error
}

// lease is how long a claimed notice is its sender's: longer than one
// send may take (an SMTP exchange is bounded to 30 seconds), so notices
// are claimed one at a time; and short, since after a crash the notices
// its sender held wait for their leases to run out.
const lease = 45 * time.Second

// Sender delivers the outbox. At least once: a sender that dies between
// sending and recording it leaves the notice to be sent again when its
// lease runs out, with the same Message-ID.
type Sender struct {
	Store  Store
	Mail   otp.Mailer
	Logger *slog.Logger
	Now    func() time.Time
}

// Run sends what is due every interval until ctx ends.
func (s *Sender) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
			s.Logger.ErrorContext(ctx, "send notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendDue sends the notices due now and says how many it sent.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	sent := 0
	for {
		claimed, err := s.Store.ClaimNotifications(ctx, s.Now(), lease, 1)
		if err != nil || len(claimed) == 0 {
			return sent, err
		}
		for _, n := range claimed {
			err := s.Mail.SendMail(ctx, otp.Mail{To: n.To, Subject: n.Subject, Text: n.Text, HTML: n.HTML, ID: n.ID})
			if err == nil {
				sent++
			}
			if err := s.record(ctx, n, err); err != nil {
				return sent, err
			}
		}
	}
}

// record writes how a send went: sent; or failed, and tried again after a
// wait that doubles each time, up to an hour; or, a day after the change,
// given up on and audited.
func (s *Sender) record(ctx context.Context, n storage.Notification, sendErr error) error {
	now := s.Now()
	n, err := s.Store.UpdateNotification(ctx, n.ID, func(n storage.Notification) (storage.Notification, error) {
		switch {
		case sendErr == nil:
			n.State, n.SentAt, n.LastError = storage.NotificationSent, now, ""
		case now.Sub(n.CreatedAt) >= GiveUp:
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
