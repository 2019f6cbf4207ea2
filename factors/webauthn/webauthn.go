// Package webauthn is the security-key and passkey factor (WebAuthn,
// FIDO2) on github.com/go-webauthn/webauthn. Each registered credential is
// one method holding the whole webauthn.Credential; a user may register
// several, each with its own name. Ceremony state (SessionData) stays
// server-side in the challenge, a login must raise the sign count when the
// authenticator keeps one, and a login the library flags as a possible
// clone is refused.
package webauthn

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ceremonyTime is how long the browser may take over a ceremony; the
// challenge dies with it.
const ceremonyTime = 5 * time.Minute

// ErrCloned is a login whose sign count did not move forward: two copies of
// the key may exist. The user sees the generic message; the audit log names
// the cause.
var ErrCloned = fmt.Errorf("%w: sign count did not increase, the authenticator may be cloned", factors.ErrWrongAnswer)

// MethodLister lists a user's methods, so registration can exclude the
// authenticators already registered.
type MethodLister interface {
	ListUserMethods(ctx context.Context, userID string) ([]storage.Method, error)
}

// Config is the relying party as browsers see it.
type Config struct {
	// RPID is the domain credentials are scoped to: the site's host or a
	// parent domain of it. Never an IP address.
	RPID string
	// RPName is shown by some browsers while registering.
	RPName string
	// Origins are the exact origins (scheme://host[:port]) ceremonies may
	// come from.
	Origins []string
	Methods MethodLister
	Now     func() time.Time
}

// Factor is the security-key and passkey factor.
type Factor struct {
	cfg Config
	wa  *gowebauthn.WebAuthn
}

var _ factors.Enroller = (*Factor)(nil)

// New checks cfg and returns the factor.
func New(cfg Config) (*Factor, error) {
	wa, err := gowebauthn.New(&gowebauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cmp.Or(cfg.RPName, "Gatehouse"),
		RPOrigins:     cfg.Origins,
		// The challenge's expiry, on the injected clock, is what counts;
		// the library also checks its session data against the wall
		// clock, with the same ceremony time.
		Timeouts: gowebauthn.TimeoutsConfig{
			Login:        gowebauthn.TimeoutConfig{Timeout: ceremonyTime, TimeoutUVD: ceremonyTime},
			Registration: gowebauthn.TimeoutConfig{Timeout: ceremonyTime, TimeoutUVD: ceremonyTime},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return &Factor{cfg: cfg, wa: wa}, nil
}

func (f *Factor) Type() string  { return storage.MethodWebAuthn }
func (f *Factor) Label() string { return "Security key or passkey" }
func (f *Factor) Description() string {
	return "A USB or NFC key, or a passkey on your phone or computer, unlocked with your fingerprint, face or PIN."
}
func (f *Factor) NameExample() string { return "YubiKey or Laptop" }

// user adapts a Gatehouse user, with the credentials in play, to the
// library. The user handle is the random user id: it identifies no one.
type user struct {
	u     storage.User
	creds []gowebauthn.Credential
}

func (w user) WebAuthnID() []byte                           { return []byte(w.u.ID) }
func (w user) WebAuthnName() string                         { return w.u.Username }
func (w user) WebAuthnDisplayName() string                  { return cmp.Or(w.u.DisplayName, w.u.Username) }
func (w user) WebAuthnCredentials() []gowebauthn.Credential { return w.creds }

// Begin asks the browser for an assertion from m's credential.
func (f *Factor) Begin(_ context.Context, u storage.User, m storage.Method, c *storage.Challenge) (factors.Prompt, error) {
	cred, err := Credential(m)
	if err != nil {
		return factors.Prompt{}, err
	}
	assertion, session, err := f.wa.BeginLogin(user{u, []gowebauthn.Credential{cred}},
		gowebauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return factors.Prompt{}, fmt.Errorf("begin webauthn login: %w", err)
	}
	return f.prompt(c, session, assertion, "Select the button, then use your security key or passkey.")
}

// prompt keeps the session data in c and returns the options to show.
func (f *Factor) prompt(c *storage.Challenge, session *gowebauthn.SessionData, options any, msg string) (factors.Prompt, error) {
	var err error
	if c.Data, err = json.Marshal(session); err != nil {
		return factors.Prompt{}, fmt.Errorf("encode webauthn session: %w", err)
	}
	opts, err := json.Marshal(options)
	if err != nil {
		return factors.Prompt{}, fmt.Errorf("encode webauthn options: %w", err)
	}
	c.ExpiresAt = f.cfg.Now().Add(ceremonyTime)
	return factors.Prompt{Kind: factors.PromptWebAuthn, Message: msg, Options: opts}, nil
}

// Verify checks the browser's assertion against the challenge's session
// data and m's public key. Apply stores the new sign count and flags.
func (f *Factor) Verify(_ context.Context, u storage.User, m storage.Method, c storage.Challenge, resp factors.Response) (factors.Result, error) {
	if len(bytes.TrimSpace(resp.WebAuthn)) == 0 {
		return factors.Result{}, fmt.Errorf("%w: no webauthn response", factors.ErrBadInput)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(bytes.NewReader(resp.WebAuthn))
	if err != nil {
		return factors.Result{}, fmt.Errorf("%w: %s", factors.ErrBadInput, detail(err))
	}
	cred, err := Credential(m)
	if err != nil {
		return factors.Result{}, err
	}
	session, err := sessionData(c)
	if err != nil {
		return factors.Result{}, err
	}
	got, err := f.wa.ValidateLogin(user{u, []gowebauthn.Credential{cred}}, session, parsed)
	if err != nil {
		return factors.Result{}, fmt.Errorf("%w: %s", factors.ErrWrongAnswer, detail(err))
	}
	if got.Authenticator.CloneWarning {
		return factors.Result{}, ErrCloned
	}
	amr := "hwk"
	if got.Flags.BackupEligible {
		amr = "swk" // a synced passkey: the key leaves the device
	}
	count, flags, now := got.Authenticator.SignCount, got.Flags, f.cfg.Now()
	return factors.Result{AMR: amr, Apply: func(m storage.Method) (storage.Method, error) {
		stored, err := Credential(m)
		if err != nil {
			return m, err
		}
		// Checked again against the stored count: of two assertions racing
		// with the same count, only one counts.
		if (count != 0 || stored.Authenticator.SignCount != 0) && count <= stored.Authenticator.SignCount {
			return m, factors.ErrReplayed
		}
		stored.Authenticator.SignCount, stored.Flags = count, flags
		if m.Data, err = json.Marshal(stored); err != nil {
			return m, fmt.Errorf("encode webauthn credential: %w", err)
		}
		m.LastUsedAt = now
		return m, nil
	}}, nil
}

// BeginEnrol asks the browser to create a credential, excluding the
// authenticators the user has registered already. A passkey (resident
// key) is preferred, so the same credential can later sign in without a
// username.
func (f *Factor) BeginEnrol(ctx context.Context, u storage.User, _ factors.EnrolInput, c *storage.Challenge) (factors.EnrolPrompt, error) {
	creds, err := f.credentials(ctx, u.ID)
	if err != nil {
		return factors.EnrolPrompt{}, err
	}
	creation, session, err := f.wa.BeginRegistration(user{u, creds},
		gowebauthn.WithExclusions(gowebauthn.Credentials(creds).CredentialDescriptors()),
		gowebauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
	)
	if err != nil {
		return factors.EnrolPrompt{}, fmt.Errorf("begin webauthn registration: %w", err)
	}
	p, err := f.prompt(c, session, creation, "Select the button, then follow your browser's steps to use a security key or create a passkey.")
	return factors.EnrolPrompt{Prompt: p}, err
}

// FinishEnrol checks the browser's new credential against the challenge's
// session data and returns the method to store.
func (f *Factor) FinishEnrol(ctx context.Context, u storage.User, c storage.Challenge, resp factors.Response) (storage.Method, error) {
	if len(bytes.TrimSpace(resp.WebAuthn)) == 0 {
		return storage.Method{}, fmt.Errorf("%w: no webauthn response", factors.ErrBadInput)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(bytes.NewReader(resp.WebAuthn))
	if err != nil {
		return storage.Method{}, fmt.Errorf("%w: %s", factors.ErrBadInput, detail(err))
	}
	session, err := sessionData(c)
	if err != nil {
		return storage.Method{}, err
	}
	cred, err := f.wa.CreateCredential(user{u: u}, session, parsed)
	if err != nil {
		return storage.Method{}, fmt.Errorf("%w: %s", factors.ErrWrongAnswer, detail(err))
	}
	// A browser honours the exclusion list; a forged response might not.
	existing, err := f.credentials(ctx, u.ID)
	if err != nil {
		return storage.Method{}, err
	}
	for _, e := range existing {
		if bytes.Equal(e.ID, cred.ID) {
			return storage.Method{}, fmt.Errorf("%w: credential already registered", factors.ErrBadInput)
		}
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return storage.Method{}, fmt.Errorf("encode webauthn credential: %w", err)
	}
	return storage.Method{
		ID: storage.NewID(), UserID: u.ID, Type: storage.MethodWebAuthn, Data: data, CreatedAt: f.cfg.Now(),
	}, nil
}

// AMR is hwk for a key bound to its device, swk for a synced passkey
// (backup eligible: the key can leave the device).
func (f *Factor) AMR(m storage.Method) string {
	if cred, err := Credential(m); err == nil && cred.Flags.BackupEligible {
		return "swk"
	}
	return "hwk"
}

// Credential decodes the credential stored in a WebAuthn method.
func Credential(m storage.Method) (gowebauthn.Credential, error) {
	var cred gowebauthn.Credential
	if err := json.Unmarshal(m.Data, &cred); err != nil {
		return cred, fmt.Errorf("decode webauthn credential of method %s: %w", m.ID, err)
	}
	return cred, nil
}

// credentials are the user's registered WebAuthn credentials.
func (f *Factor) credentials(ctx context.Context, userID string) ([]gowebauthn.Credential, error) {
	methods, err := f.cfg.Methods.ListUserMethods(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list methods: %w", err)
	}
	var creds []gowebauthn.Credential
	for _, m := range methods {
		if m.Type != storage.MethodWebAuthn {
			continue
		}
		cred, err := Credential(m)
		if err != nil {
			return nil, err
		}
		creds = append(creds, cred)
	}
	return creds, nil
}

func sessionData(c storage.Challenge) (gowebauthn.SessionData, error) {
	var s gowebauthn.SessionData
	if err := json.Unmarshal(c.Data, &s); err != nil {
		return s, fmt.Errorf("decode webauthn session of challenge %s: %w", c.ID, err)
	}
	return s, nil
}

// detail is the library's explanation of a failed check, for the log.
func detail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		return pe.Details + ": " + pe.DevInfo
	}
	return err.Error()
}
