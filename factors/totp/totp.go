// Package totp is the authenticator-app factor: RFC 6238 time-based codes
// (SHA-1, 6 digits, 30 s steps, ±1 step of clock skew) with
// github.com/pquerna/otp. A time step is accepted once per credential,
// never twice, and keys are sealed at rest.
package totp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	period = 30
	skew   = 1
	// challengeTime is how long a challenge stays open: at enrolment, long
	// enough to scan the code and type the first code from the app.
	challengeTime = 10 * time.Minute
	// secretSize is the key's length in bytes: 160 bits, as RFC 4226
	// recommends.
	secretSize = 20
)

var opts = totp.ValidateOpts{Period: period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Factor is the authenticator-app factor.
type Factor struct {
	Issuer string // shown in the app next to the account
	Sealer *factors.Sealer
	Now    func() time.Time
}

var (
	_ factors.Enroller     = (*Factor)(nil)
	_ factors.EnrolResumer = (*Factor)(nil)
)

func (f *Factor) Type() string  { return storage.MethodTOTP }
func (f *Factor) Label() string { return "Authenticator app" }
func (f *Factor) Description() string {
	return "Codes from an app such as Microsoft Authenticator or Google Authenticator. Works without signal."
}
func (f *Factor) NameExample() string { return "Work phone" }

// AMR is "otp": a one-time password from the app.
func (f *Factor) AMR(storage.Method) string { return "otp" }

func (f *Factor) Begin(_ context.Context, _ storage.User, _ storage.Method, c *storage.Challenge) (factors.Prompt, error) {
	c.ExpiresAt = f.Now().Add(challengeTime)
	return factors.Prompt{Kind: factors.PromptCode, Message: "Enter the 6-digit code from your authenticator app."}, nil
}

func (f *Factor) Verify(_ context.Context, u storage.User, m storage.Method, _ storage.Challenge, resp factors.Response) (factors.Result, error) {
	secret, err := f.Sealer.Open(m.Secret, u.ID)
	if err != nil {
		return factors.Result{}, err
	}
	now := f.Now()
	step, ok := Match(string(secret), resp.Code, now)
	if !ok {
		return factors.Result{}, factors.ErrWrongAnswer
	}
	return factors.Result{AMR: "otp", Apply: func(m storage.Method) (storage.Method, error) {
		if step <= m.LastStep {
			return m, factors.ErrReplayed
		}
		m.LastStep, m.LastUsedAt = step, now
		return m, nil
	}}, nil
}

// Match reports whether code is right for the time step of now, or one
// step either side, and which step it was. The caller must refuse a step
// at or before the last one accepted.
func Match(secret, code string, now time.Time) (step int64, ok bool) {
	code = factors.NormalizeCode(code)
	if len(code) != 6 {
		return 0, false
	}
	current := now.Unix() / period
	for d := int64(-skew); d <= skew; d++ {
		s := current + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*period, 0), opts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// BeginEnrol makes a new key and shows it as a QR code and as text.
func (f *Factor) BeginEnrol(_ context.Context, u storage.User, _ factors.EnrolInput, c *storage.Challenge) (factors.EnrolPrompt, error) {
	secret := make([]byte, secretSize)
	rand.Read(secret)
	p, err := f.enrolPrompt(u, secret)
	if err != nil {
		return factors.EnrolPrompt{}, err
	}
	c.Data = f.Sealer.Seal([]byte(p.Secret), u.ID)
	c.ExpiresAt = f.Now().Add(challengeTime)
	return p, nil
}

// ResumeEnrol shows the key of an enrolment in progress again.
func (f *Factor) ResumeEnrol(_ context.Context, u storage.User, c storage.Challenge) (factors.EnrolPrompt, error) {
	encoded, err := f.Sealer.Open(c.Data, u.ID)
	if err != nil {
		return factors.EnrolPrompt{}, err
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(encoded))
	if err != nil {
		return factors.EnrolPrompt{}, fmt.Errorf("decode TOTP key: %w", err)
	}
	return f.enrolPrompt(u, secret)
}

// enrolPrompt shows secret as a QR code, as text and as an otpauth:// URL.
func (f *Factor) enrolPrompt(u storage.User, secret []byte) (factors.EnrolPrompt, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: f.Issuer, AccountName: u.Username, Period: period, Secret: secret,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return factors.EnrolPrompt{}, fmt.Errorf("make TOTP key: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return factors.EnrolPrompt{}, fmt.Errorf("render QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return factors.EnrolPrompt{}, fmt.Errorf("encode QR code: %w", err)
	}
	return factors.EnrolPrompt{
		Prompt: factors.Prompt{Kind: factors.PromptCode, Message: "Scan the QR code with your authenticator app, or type the key, then enter the 6-digit code it shows."},
		QRCode: buf.Bytes(),
		Secret: key.Secret(),
		AppURL: key.URL(),
	}, nil
}

// Method is u's authenticator app method for a key set up elsewhere, as
// FinishEnrol would store it: for bulk set-ups (the load tool's users).
func (f *Factor) Method(u storage.User, secret []byte, now time.Time) storage.Method {
	encoded := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	return storage.Method{ID: storage.NewID(), UserID: u.ID, Type: storage.MethodTOTP,
		Secret: f.Sealer.Seal([]byte(encoded), u.ID), CreatedAt: now}
}

// FinishEnrol checks the first code, so a key the app never received is
// never registered; that code's step counts as used.
func (f *Factor) FinishEnrol(_ context.Context, u storage.User, c storage.Challenge, resp factors.Response) (storage.Method, error) {
	secret, err := f.Sealer.Open(c.Data, u.ID)
	if err != nil {
		return storage.Method{}, err
	}
	now := f.Now()
	step, ok := Match(string(secret), resp.Code, now)
	if !ok {
		return storage.Method{}, factors.ErrWrongAnswer
	}
	return storage.Method{
		ID: storage.NewID(), UserID: u.ID, Type: storage.MethodTOTP,
		Secret: c.Data, LastStep: step, CreatedAt: now, LastUsedAt: now,
	}, nil
}
