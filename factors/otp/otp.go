// Package otp is the one-time-code factors: a code by email, a code by text
// message, and a voice call answered with #. It owns making and checking
// codes, checking addresses and phone numbers, and delivery: SMTP for
// email, a Gateway (an HTTP webhook, or the dev Outbox) for texts and calls.
//
// Codes are six digits from crypto/rand, stored only as an HMAC bound to
// their challenge (so a code from another sign-in never matches), and
// expire after ten minutes. The login journey owns the rest: binding the
// challenge to one sign-in, five guesses per challenge, throttling sends and
// guesses, and deleting the challenge when it passes, so a code works once.
package otp

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Lifetime is how long a code, or a call, can be answered.
const Lifetime = 10 * time.Minute

// codeDigits is the length of a code; codeSpace is 10^codeDigits.
const codeDigits = 6

var codeSpace = big.NewInt(1_000_000)

// NewCode returns a uniformly random six-digit code.
func NewCode() string {
	n, err := rand.Int(rand.Reader, codeSpace)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%0*d", codeDigits, n)
}

// Config is what every code factor shares.
type Config struct {
	Sealer *factors.Sealer
	// Org names the organisation in what is sent: "Your <Org> code is".
	Org string
	Now func() time.Time
}

// message is the text of a code, short enough for one SMS.
func (s *sender) message(code string) string {
	return "Your " + s.org + " code is " + code + ". It expires in 10 minutes. Never share it."
}

// sender is what each factor does differently: how it checks a target and
// how it gets a code (or a call) to it. Everything else is shared.
type sender struct {
	typ, label, amr string
	// description and nameExample are for the list of methods to add and
	// its name field (see factors.Enroller).
	description, nameExample string
	sealer                   *factors.Sealer
	org                      string
	now                      func() time.Time
	// parse checks and normalises a target the user typed; regions, when
	// set, are the phone regions the user's org unit accepts.
	parse func(raw string, regions []string) (string, error)
	// deliver sends the challenge to target and returns the prompt;
	// enrolling says the target is being set up, not signed in with.
	deliver func(ctx context.Context, target string, c *storage.Challenge, enrolling bool) (factors.Prompt, error)
}

func (s *sender) Type() string        { return s.typ }
func (s *sender) Label() string       { return s.label }
func (s *sender) Description() string { return s.description }
func (s *sender) NameExample() string { return s.nameExample }

// AMR is the factor's method reference: otp, sms or tel.
func (s *sender) AMR(storage.Method) string { return s.amr }

func (s *sender) Begin(ctx context.Context, _ storage.User, m storage.Method, c *storage.Challenge) (factors.Prompt, error) {
	c.ExpiresAt = s.now().Add(Lifetime)
	return s.deliver(ctx, m.Target, c, false)
}

// sendCode makes a code for c, keeps only its HMAC and returns the code.
func (s *sender) sendCode(c *storage.Challenge) string {
	code := NewCode()
	c.CodeHash = s.sealer.CodeHash(c.ID, code)
	return code
}

// check reports whether resp answers c: the code it was sent, in time.
func (s *sender) check(c storage.Challenge, resp factors.Response) error {
	if !s.now().Before(c.ExpiresAt) || len(c.CodeHash) == 0 {
		return factors.ErrWrongAnswer
	}
	if !s.sealer.CodeMatches(c.ID, factors.NormalizeCode(resp.Code), c.CodeHash) {
		return factors.ErrWrongAnswer
	}
	return nil
}

func (s *sender) Verify(_ context.Context, _ storage.User, _ storage.Method, c storage.Challenge, resp factors.Response) (factors.Result, error) {
	if err := s.check(c, resp); err != nil {
		return factors.Result{}, err
	}
	return s.passed(), nil
}

// passed is a passed check; the journey deletes the challenge, so the
// same answer never passes twice.
func (s *sender) passed() factors.Result {
	now := s.now()
	return factors.Result{AMR: s.amr, Apply: func(m storage.Method) (storage.Method, error) {
		m.LastUsedAt = now
		return m, nil
	}}
}

// BeginEnrol checks the target and sends a code (or places a call) to it;
// the target waits, sealed, in the challenge until the answer comes back.
func (s *sender) BeginEnrol(ctx context.Context, u storage.User, in factors.EnrolInput, c *storage.Challenge) (factors.EnrolPrompt, error) {
	target, err := s.parse(in.Target, in.Regions)
	if err != nil {
		return factors.EnrolPrompt{}, err
	}
	c.Data = s.sealer.Seal([]byte(target), u.ID+"\x00"+c.ID)
	c.ExpiresAt = s.now().Add(Lifetime)
	p, err := s.deliver(ctx, target, c, true)
	return factors.EnrolPrompt{Prompt: p}, err
}

// FinishEnrol checks the code and returns the method for the target it
// reached.
func (s *sender) FinishEnrol(_ context.Context, u storage.User, c storage.Challenge, resp factors.Response) (storage.Method, error) {
	if err := s.check(c, resp); err != nil {
		return storage.Method{}, err
	}
	return s.enrolled(u, c)
}

func (s *sender) enrolled(u storage.User, c storage.Challenge) (storage.Method, error) {
	target, err := s.sealer.Open(c.Data, u.ID+"\x00"+c.ID)
	if err != nil {
		return storage.Method{}, err
	}
	now := s.now()
	return storage.Method{
		ID: storage.NewID(), UserID: u.ID, Type: s.typ, Target: string(target),
		CreatedAt: now, LastUsedAt: now,
	}, nil
}

// Email sends codes by email.
type Email struct{ sender }

// SMS sends codes by text message.
type SMS struct{ sender }

var (
	_ factors.Enroller = (*Email)(nil)
	_ factors.Enroller = (*SMS)(nil)
)

// newSender is what a code factor of typ is before its delivery is set.
func newSender(typ, label, amr string, cfg Config, parse func(string, []string) (string, error)) sender {
	return sender{typ: typ, label: label, amr: amr, sealer: cfg.Sealer, org: cfg.Org, now: cfg.Now, parse: parse}
}

// NewEmail is the email-code factor (AMR "otp").
func NewEmail(mail Mailer, cfg Config) *Email {
	f := &Email{newSender(storage.MethodEmail, "Email code", "otp", cfg, func(raw string, _ []string) (string, error) { return ParseEmail(raw) })}
	// The address names the method: it needs no other name.
	f.description = "A code sent to an email address. Choose one you can read without signing in here."
	f.deliver = f.codeBy("email code", func(ctx context.Context, to, text string) error {
		return mail.SendMail(ctx, Mail{To: to, Subject: "Your " + cfg.Org + " code", Text: text})
	})
	return f
}

// NewSMS is the text-message factor (AMR "sms"); it accepts mobile
// numbers in the allowed regions (ISO 3166 codes such as "GB").
func NewSMS(gw Gateway, regions []string, cfg Config) *SMS {
	f := &SMS{newSender(storage.MethodSMS, "Text message", "sms", cfg, phoneParser(ParseMobile, regions))}
	f.description, f.nameExample = "A code sent by text to your mobile phone. Needs signal.", "Work phone"
	f.deliver = f.codeBy("text code", gw.SendSMS)
	return f
}

// codeBy is a deliver function that sends a new code as text with send.
func (s *sender) codeBy(what string, send func(ctx context.Context, to, text string) error) func(context.Context, string, *storage.Challenge, bool) (factors.Prompt, error) {
	return func(ctx context.Context, to string, c *storage.Challenge, _ bool) (factors.Prompt, error) {
		if err := send(ctx, to, s.message(s.sendCode(c))); err != nil {
			return factors.Prompt{}, fmt.Errorf("%s: %w", what, err)
		}
		return factors.Prompt{Kind: factors.PromptCode, Message: "We sent a code to " + Mask(to) + ". Enter it below."}, nil
	}
}

// Mask shows enough of a phone number or address to recognise it:
// ••••123, jo•••@example.org.
func Mask(target string) string {
	if at := strings.LastIndex(target, "@"); at >= 0 {
		local := []rune(target[:at])
		return string(local[:min(2, len(local))]) + "•••" + target[at:]
	}
	if len(target) <= 3 {
		return target
	}
	return "••••" + target[len(target)-3:]
}
