package otp

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Outbox is the development Mailer and Gateway: it keeps the last
// OutboxSize emails, texts and calls in memory for the /dev/outbox page,
// where a pending call can be answered with #. Anyone who can read it can
// read every code, so Gatehouse serves it only for a loopback issuer.
type Outbox struct {
	mu    sync.Mutex
	items []OutboxItem // newest first
	now   func() time.Time
	// approve confirms a call's key press, as a gateway's callback would.
	approve func(ctx context.Context, q url.Values) error
}

// OutboxSize bounds what the outbox keeps.
const OutboxSize = 50

// OutboxItem is one email, text or call.
type OutboxItem struct {
	ID      string
	Kind    string // email, sms or call
	To      string
	Subject string // email only
	Text    string // the body, text, or what the call says
	// Notice marks a message telling of a change to an account, not a code.
	Notice bool
	At     time.Time
	// Token guards pressing # on a call against cross-site requests.
	Token       string
	callbackURL string
	Pressed     bool
}

var (
	_ Mailer  = (*Outbox)(nil)
	_ Gateway = (*Outbox)(nil)
)

// NewOutbox returns an empty outbox.
func NewOutbox(now func() time.Time) *Outbox { return &Outbox{now: now} }

// OnPress sets how pressing # confirms a call: with the query of the
// call's signed callback URL (Voice.Approve).
func (o *Outbox) OnPress(approve func(ctx context.Context, q url.Values) error) {
	o.mu.Lock()
	o.approve = approve
	o.mu.Unlock()
}

func (o *Outbox) add(it OutboxItem) {
	it.ID, it.At = storage.NewID(), o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.items = slices.Insert(o.items, 0, it)
	if len(o.items) > OutboxSize {
		o.items = o.items[:OutboxSize]
	}
}

func (o *Outbox) SendMail(_ context.Context, m Mail) error {
	o.add(OutboxItem{Kind: "email", To: m.To, Subject: m.Subject, Text: m.Text, Notice: m.ID != ""})
	return nil
}

func (o *Outbox) SendSMS(_ context.Context, to, text string) error {
	o.add(OutboxItem{Kind: "sms", To: to, Text: text})
	return nil
}

// SendNoticeSMS is SendSMS for a text telling of a change to an account:
// the outbox marks it a notice.
func (o *Outbox) SendNoticeSMS(_ context.Context, to, text string) error {
	o.add(OutboxItem{Kind: "sms", To: to, Text: text, Notice: true})
	return nil
}

func (o *Outbox) Call(_ context.Context, to, say, callbackURL string) error {
	o.add(OutboxItem{Kind: "call", To: to, Text: say, callbackURL: callbackURL, Token: storage.RandomString(32)})
	return nil
}

// Items returns what was sent, newest first.
func (o *Outbox) Items() []OutboxItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.items)
}

// ErrNoCall is a press for a call the outbox does not hold.
var ErrNoCall = errors.New("no such call")

// Press answers call id with #, given the call's token.
func (o *Outbox) Press(ctx context.Context, id, token string) error {
	o.mu.Lock()
	i := slices.IndexFunc(o.items, func(it OutboxItem) bool { return it.ID == id && it.Kind == "call" })
	if i < 0 || subtle.ConstantTimeCompare([]byte(token), []byte(o.items[i].Token)) != 1 {
		o.mu.Unlock()
		return ErrNoCall
	}
	callback, approve := o.items[i].callbackURL, o.approve
	o.mu.Unlock()
	u, err := url.Parse(callback)
	if err != nil || approve == nil {
		return ErrNoCall
	}
	if err := approve(ctx, u.Query()); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.items {
		if o.items[i].ID == id {
			o.items[i].Pressed = true
		}
	}
	return nil
}
