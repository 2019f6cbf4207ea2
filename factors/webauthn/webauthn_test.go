package webauthn_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/webauthn"
	"github.com/gatehouse-id/gatehouse/factors/webauthn/webauthntest"
	"github.com/gatehouse-id/gatehouse/storage"
)

const (
	rpID   = "login.example.org"
	origin = "https://login.example.org"
)

var rp = virtualwebauthn.RelyingParty{ID: rpID, Name: "Gatehouse", Origin: origin}

// methodStore is a user's stored methods: the fake behind MethodLister.
type methodStore []storage.Method

func (s *methodStore) ListUserMethods(_ context.Context, userID string) ([]storage.Method, error) {
	var out []storage.Method
	for _, m := range *s {
		if m.UserID == userID {
			out = append(out, m)
		}
	}
	return out, nil
}

// fixture is a factor, a user and their virtual authenticator.
type fixture struct {
	t     *testing.T
	f     *webauthn.Factor
	store *methodStore
	user  storage.User
	auth  virtualwebauthn.Authenticator
	now   time.Time
}

func newFixture(t *testing.T, opts virtualwebauthn.AuthenticatorOptions) *fixture {
	t.Helper()
	x := &fixture{t: t, store: &methodStore{}, now: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	f, err := webauthn.New(webauthn.Config{RPID: rpID, Origins: []string{origin}, Methods: x.store, Now: func() time.Time { return x.now }})
	if err != nil {
		t.Fatal(err)
	}
	x.f = f
	x.user = storage.User{ID: storage.NewID(), Username: "alice", DisplayName: "Alice"}
	x.auth = virtualwebauthn.NewAuthenticatorWithOptions(opts)
	return x
}

// enrol registers a new credential of the virtual authenticator and stores
// the method.
func (x *fixture) enrol() (storage.Method, virtualwebauthn.Credential) {
	x.t.Helper()
	c, opts := x.beginEnrol()
	cred := webauthntest.NewCredential()
	m, err := x.finishEnrol(c, virtualwebauthn.CreateAttestationResponse(rp, x.auth, cred, *opts))
	if err != nil {
		x.t.Fatalf("FinishEnrol: %v", err)
	}
	*x.store = append(*x.store, m)
	x.auth.AddCredential(cred)
	return m, cred
}

// beginEnrol starts a registration and returns its challenge and options.
func (x *fixture) beginEnrol() (storage.Challenge, *virtualwebauthn.AttestationOptions) {
	x.t.Helper()
	var c storage.Challenge
	p, err := x.f.BeginEnrol(context.Background(), x.user, factors.EnrolInput{}, &c)
	if err != nil {
		x.t.Fatal(err)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(string(p.Options))
	if err != nil {
		x.t.Fatal(err)
	}
	return c, opts
}

func (x *fixture) finishEnrol(c storage.Challenge, resp string) (storage.Method, error) {
	return x.f.FinishEnrol(context.Background(), x.user, c, factors.Response{WebAuthn: []byte(resp)})
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// begin starts a login challenge of m and returns it with its options.
func (x *fixture) begin(m storage.Method) (storage.Challenge, virtualwebauthn.AssertionOptions) {
	x.t.Helper()
	c := storage.Challenge{ID: storage.NewID()}
	p, err := x.f.Begin(context.Background(), x.user, m, &c)
	if err != nil {
		x.t.Fatal(err)
	}
	if p.Kind != factors.PromptWebAuthn {
		x.t.Fatalf("prompt kind = %q, want %q", p.Kind, factors.PromptWebAuthn)
	}
	opts, err := virtualwebauthn.ParseAssertionOptions(string(p.Options))
	if err != nil {
		x.t.Fatal(err)
	}
	return c, *opts
}

// verify checks resp and, when it passes, applies the result to m.
func (x *fixture) verify(m storage.Method, c storage.Challenge, resp string) (factors.Result, storage.Method, error) {
	res, err := x.f.Verify(context.Background(), x.user, m, c, factors.Response{WebAuthn: []byte(resp)})
	if err != nil {
		return res, m, err
	}
	m, err = res.Apply(m)
	return res, m, err
}

func TestSignIn(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    virtualwebauthn.AuthenticatorOptions
		wantAMR string
	}{
		{"security key", virtualwebauthn.AuthenticatorOptions{}, "hwk"},
		{"synced passkey", virtualwebauthn.AuthenticatorOptions{BackupEligible: true, BackupState: true}, "swk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newFixture(t, tc.opts)
			m, cred := x.enrol()
			for count := uint32(1); count <= 2; count++ {
				c, opts := x.begin(m)
				if !slices.Contains(opts.AllowCredentials, b64(cred.ID)) {
					t.Errorf("allowCredentials %v lacks the method's credential", opts.AllowCredentials)
				}
				cred.Counter = count
				x.now = x.now.Add(time.Minute)
				res, got, err := x.verify(m, c, virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts))
				if err != nil {
					t.Fatalf("login %d: %v", count, err)
				}
				if res.AMR != tc.wantAMR {
					t.Errorf("AMR = %q, want %q", res.AMR, tc.wantAMR)
				}
				stored, err := webauthn.Credential(got)
				if err != nil {
					t.Fatal(err)
				}
				if stored.Authenticator.SignCount != count {
					t.Errorf("stored sign count = %d, want %d", stored.Authenticator.SignCount, count)
				}
				if !got.LastUsedAt.Equal(x.now) {
					t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, x.now)
				}
				m = got
			}
		})
	}
}

func TestSignInRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		// answer makes the response to the challenge with opts.
		answer func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string
		want   error
	}{
		{"another challenge", func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string {
			opts.Challenge = []byte("a challenge for some other sign-in")
			return virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts)
		}, factors.ErrWrongAnswer},
		{"another origin", func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string {
			phish := virtualwebauthn.RelyingParty{ID: rpID, Origin: "https://login.example.org.evil.test"}
			return virtualwebauthn.CreateAssertionResponse(phish, x.auth, cred, opts)
		}, factors.ErrWrongAnswer},
		{"another RP ID", func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string {
			other := virtualwebauthn.RelyingParty{ID: "evil.test", Origin: origin}
			return virtualwebauthn.CreateAssertionResponse(other, x.auth, cred, opts)
		}, factors.ErrWrongAnswer},
		{"another key", func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string {
			forged := webauthntest.NewCredential()
			forged.ID, forged.Counter = cred.ID, cred.Counter
			return virtualwebauthn.CreateAssertionResponse(rp, x.auth, forged, opts)
		}, factors.ErrWrongAnswer},
		{"sign count went back", func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string {
			cred.Counter = 4
			return virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts)
		}, webauthn.ErrCloned},
		{"sign count stood still", func(x *fixture, cred virtualwebauthn.Credential, opts virtualwebauthn.AssertionOptions) string {
			return virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts)
		}, webauthn.ErrCloned},
		{"empty", func(*fixture, virtualwebauthn.Credential, virtualwebauthn.AssertionOptions) string { return "" }, factors.ErrBadInput},
		{"not JSON", func(*fixture, virtualwebauthn.Credential, virtualwebauthn.AssertionOptions) string { return "{nope" }, factors.ErrBadInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newFixture(t, virtualwebauthn.AuthenticatorOptions{})
			m, cred := x.enrol()
			// One good login first, so the stored count is 5.
			c, opts := x.begin(m)
			cred.Counter = 5
			_, m, err := x.verify(m, c, virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts))
			if err != nil {
				t.Fatal(err)
			}
			c, opts = x.begin(m)
			_, _, err = x.verify(m, c, tc.answer(x, cred, opts))
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestReplayRace: two logins verified against the same stored count; the
// second to apply finds the count already used.
func TestReplayRace(t *testing.T) {
	x := newFixture(t, virtualwebauthn.AuthenticatorOptions{})
	m, cred := x.enrol()
	cred.Counter = 1
	var results []factors.Result
	for range 2 {
		c, opts := x.begin(m)
		res, err := x.f.Verify(context.Background(), x.user, m, c, factors.Response{WebAuthn: []byte(virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts))})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
	}
	m, err := results[0].Apply(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := results[1].Apply(m); !errors.Is(err, factors.ErrReplayed) {
		t.Errorf("second Apply: err = %v, want ErrReplayed", err)
	}
}

// TestNoCounter: an authenticator that keeps no count (always 0) is
// accepted every time.
func TestNoCounter(t *testing.T) {
	x := newFixture(t, virtualwebauthn.AuthenticatorOptions{BackupEligible: true})
	m, cred := x.enrol()
	for i := range 3 {
		c, opts := x.begin(m)
		var err error
		if _, m, err = x.verify(m, c, virtualwebauthn.CreateAssertionResponse(rp, x.auth, cred, opts)); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
}

func TestEnrolExcludesRegistered(t *testing.T) {
	x := newFixture(t, virtualwebauthn.AuthenticatorOptions{})
	_, first := x.enrol()
	_, second := x.enrol()
	c, opts := x.beginEnrol()
	for _, cred := range []virtualwebauthn.Credential{first, second} {
		if !cred.IsExcludedForAttestation(*opts) {
			t.Errorf("credential %s not excluded: %v", b64(cred.ID), opts.ExcludeCredentials)
		}
	}
	if opts.UserID != x.user.ID {
		t.Errorf("user handle = %q, want the user id %q", opts.UserID, x.user.ID)
	}
	// A forged response that registers an excluded credential again.
	if _, err := x.finishEnrol(c, virtualwebauthn.CreateAttestationResponse(rp, x.auth, first, *opts)); !errors.Is(err, factors.ErrBadInput) {
		t.Errorf("re-registering: err = %v, want ErrBadInput", err)
	}
}

func TestEnrolRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rp     virtualwebauthn.RelyingParty
		mangle func(*virtualwebauthn.AttestationOptions)
		want   error
	}{
		{"another origin", virtualwebauthn.RelyingParty{ID: rpID, Origin: "https://evil.test"}, nil, factors.ErrWrongAnswer},
		{"another RP ID", virtualwebauthn.RelyingParty{ID: "evil.test", Origin: origin}, nil, factors.ErrWrongAnswer},
		{"another challenge", rp, func(o *virtualwebauthn.AttestationOptions) { o.Challenge = []byte("some other registration") }, factors.ErrWrongAnswer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newFixture(t, virtualwebauthn.AuthenticatorOptions{})
			c, opts := x.beginEnrol()
			if tc.mangle != nil {
				tc.mangle(opts)
			}
			resp := virtualwebauthn.CreateAttestationResponse(tc.rp, x.auth, webauthntest.NewCredential(), *opts)
			if _, err := x.finishEnrol(c, resp); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestChallengeExpiry(t *testing.T) {
	x := newFixture(t, virtualwebauthn.AuthenticatorOptions{})
	c, _ := x.beginEnrol()
	if got, want := c.ExpiresAt, x.now.Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", got, want)
	}
	if len(c.Data) == 0 {
		t.Error("no session data kept in the challenge")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []webauthn.Config{
		{RPID: "127.0.0.1", Origins: []string{"http://127.0.0.1:8080"}},
		{RPID: "example.org"},
	} {
		if _, err := webauthn.New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}
