// Package factors defines the second factors behind one small interface.
// Each method is a sub-package (totp, webauthn, otp for email, SMS and
// voice, recovery); optional abilities, such as enrolment, are found by type
// assertion. The login journey and the Security info page drive them: they
// own challenges, guess counting, throttling and audit, so a factor only
// knows how to ask and how to check.
package factors

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Errors a check returns. The journey shows one generic message for all of
// them and logs the detail.
var (
	ErrWrongAnswer = errors.New("wrong answer")
	ErrReplayed    = errors.New("already used")
	ErrNotReady    = errors.New("not answered yet") // a call not yet answered with #
	ErrBadInput    = errors.New("invalid input")
)

// InputError is something wrong with what someone typed, worded for them:
// the one kind of error a page may show as it is. Field names the form
// field, where a form has several. It is ErrBadInput. The admin pages use
// it too.
type InputError struct{ Field, Msg string }

func (e *InputError) Error() string {
	if e.Field != "" {
		return ErrBadInput.Error() + ": " + e.Field + ": " + e.Msg
	}
	return ErrBadInput.Error() + ": " + e.Msg
}
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

// Prompt kinds: what the challenge page shows.
const (
	PromptCode     = "code"     // a box for a code
	PromptWebAuthn = "webauthn" // a button that runs a WebAuthn ceremony
	PromptCall     = "call"     // "answer the call and press #", then Continue
)

// Prompt is what a challenge asks of the user.
type Prompt struct {
	Kind    string
	Message string
	// Options are the WebAuthn options, as JSON, for PromptWebAuthn.
	Options []byte
}

// Response is the user's answer.
type Response struct {
	Code string
	// WebAuthn is the credential JSON the browser returned.
	WebAuthn []byte
}

// Result is a passed check.
type Result struct {
	// AMR is the RFC 8176 method reference the check proves: otp, sms,
	// tel, hwk or swk.
	AMR string
	// Apply records the use on the stored method. It runs inside the
	// method's update transaction and refuses a use that another request
	// recorded first (ErrReplayed), so a code counts once however many
	// requests race with it.
	Apply func(storage.Method) (storage.Method, error)
}

// Factor checks one type of method.
type Factor interface {
	Type() string
	// Label names the type for people: "Authenticator app".
	Label() string
	// Begin starts a check of m: it may send a code or place a call. It
	// fills c (CodeHash, Data, ExpiresAt) for Verify; the caller stores c.
	Begin(ctx context.Context, u storage.User, m storage.Method, c *storage.Challenge) (Prompt, error)
	// Verify checks resp against c and m.
	Verify(ctx context.Context, u storage.User, m storage.Method, c storage.Challenge, resp Response) (Result, error)
}

// EnrolInput is what a user gives to register a method.
type EnrolInput struct {
	Name   string
	Target string // an email address or phone number, for code methods
	// Regions are the ISO 3166 regions whose phone numbers the user's org
	// unit accepts; empty means the factor's own default.
	Regions []string
}

// EnrolPrompt is what the enrolment page shows.
type EnrolPrompt struct {
	Prompt
	// QRCode is a PNG to scan, Secret the same key as text and AppURL as
	// an otpauth:// URL, for an app on the device showing the page, for
	// TOTP.
	QRCode []byte
	Secret string
	AppURL string
}

// Enroller is a Factor users can register themselves.
type Enroller interface {
	Factor
	// BeginEnrol starts registering a method; it fills c for FinishEnrol.
	BeginEnrol(ctx context.Context, u storage.User, in EnrolInput, c *storage.Challenge) (EnrolPrompt, error)
	// FinishEnrol checks the user's first answer and returns the method to
	// store.
	FinishEnrol(ctx context.Context, u storage.User, c storage.Challenge, resp Response) (storage.Method, error)
	// AMR is the RFC 8176 method reference that first answer proved, for
	// an enrolment that is also a sign-in's second factor.
	AMR(m storage.Method) string
	// Description says in one line what the method is and when it suits,
	// for the list of methods to add.
	Description() string
	// NameExample is an example name for a new method ("Work phone"), or
	// "" for a method that names itself (an email address).
	NameExample() string
}

// EnrolResumer is an Enroller that can show an enrolment's prompt again
// from its challenge: an authenticator app's QR code and key, which a
// wrong first code must not take away.
type EnrolResumer interface {
	ResumeEnrol(ctx context.Context, u storage.User, c storage.Challenge) (EnrolPrompt, error)
}

// MethodName is the name m's owner gave it, or "" where that says nothing
// its type's label does not: none given, or the label itself, as methods
// added before names were optional carry ("Authenticator app").
func MethodName(m storage.Method, label string) string {
	if strings.EqualFold(strings.TrimSpace(m.Name), label) {
		return ""
	}
	return m.Name
}

// AuditDetails are the details an audit event gives of a method it was
// done to: its type, id and name. The notice a change sends reads what
// it names from them (see login/notify).
func AuditDetails(m storage.Method) map[string]string {
	d := map[string]string{"method": m.Type, "method_id": m.ID}
	if m.Name != "" {
		d["name"] = m.Name
	}
	return d
}

// NormalizeCode is a typed code as the factors compare it: without the
// spaces and dashes people put in, and in lower case.
func NormalizeCode(s string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(s)))
}

// Registry holds the factors on offer, by type.
type Registry map[string]Factor

// NewRegistry indexes fs by type.
func NewRegistry(fs ...Factor) Registry {
	r := make(Registry, len(fs))
	for _, f := range fs {
		r[f.Type()] = f
	}
	return r
}
