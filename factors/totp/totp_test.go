package totp

import (
	"context"
	"encoding/base32"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// The RFC test key: ASCII "12345678901234567890", base32 for otp.
var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

// TestRFC4226AppendixD: TOTP is HOTP over the time step, so step n of 30 s
// must give the RFC's HOTP value for counter n.
func TestRFC4226AppendixD(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, code := range want {
		if got, _ := hotp.GenerateCode(rfcSecret, uint64(counter)); got != code {
			t.Errorf("HOTP(%d) = %s, want %s", counter, got, code)
		}
		step, ok := Match(rfcSecret, code, time.Unix(int64(counter)*period+15, 0))
		if !ok || step != int64(counter) {
			t.Errorf("Match(%s) at step %d = %d, %v; want %d, true", code, counter, step, ok, counter)
		}
	}
}

// TestRFC6238AppendixB checks the SHA-1 vectors. They are 8 digits; a
// 6-digit code is the same value mod 10^6, its last six digits.
func TestRFC6238AppendixB(t *testing.T) {
	for _, tt := range []struct {
		unix  int64
		code8 string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step, ok := Match(rfcSecret, tt.code8[2:], time.Unix(tt.unix, 0))
		if !ok || step != tt.unix/period {
			t.Errorf("Match(%s) at %d = %d, %v; want %d, true", tt.code8[2:], tt.unix, step, ok, tt.unix/period)
		}
	}
}

func TestSkew(t *testing.T) {
	at := time.Unix(1111111111, 0) // step 37037037, code 050471
	for _, tt := range []struct {
		offset time.Duration
		want   bool
	}{
		{0, true}, {-30 * time.Second, true}, {30 * time.Second, true},
		{-61 * time.Second, false}, {61 * time.Second, false},
	} {
		if _, ok := Match(rfcSecret, "050471", at.Add(tt.offset)); ok != tt.want {
			t.Errorf("code checked %v away: ok = %v, want %v", tt.offset, ok, tt.want)
		}
	}
	for _, bad := range []string{"", "05047", "0504710", "abcdef", "050472"} {
		if _, ok := Match(rfcSecret, bad, at); ok {
			t.Errorf("Match(%q) accepted", bad)
		}
	}
	for _, typed := range []string{" 050 471 ", "050-471"} {
		if _, ok := Match(rfcSecret, typed, at); !ok {
			t.Errorf("Match(%q): spaces and dashes should be ignored", typed)
		}
	}
}

// TestEnrolAndVerify: enrolment needs a right first code; a step is then
// accepted once, never twice.
func TestEnrolAndVerify(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, factors.KeySize)
	sealer, err := factors.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := &Factor{Issuer: "Gatehouse", Sealer: sealer, Now: func() time.Time { return now }}
	u := storage.User{ID: "u1", Username: "alice"}
	var c storage.Challenge
	p, err := f.BeginEnrol(ctx, u, factors.EnrolInput{}, &c)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.QRCode) < 100 || string(p.QRCode[1:4]) != "PNG" || p.Secret == "" {
		t.Fatalf("enrol prompt lacks a PNG QR code or the key")
	}
	code := func(at time.Time) string {
		c, _ := hotp.GenerateCode(p.Secret, uint64(at.Unix()/period))
		return c
	}
	if _, err := f.FinishEnrol(ctx, u, c, factors.Response{Code: code(now.Add(5 * period * time.Second))}); !errors.Is(err, factors.ErrWrongAnswer) {
		t.Errorf("FinishEnrol with a wrong code: %v, want ErrWrongAnswer", err)
	}
	// After a wrong code the page shows the same key again, from the
	// challenge alone.
	again, err := f.ResumeEnrol(ctx, u, c)
	if err != nil || again.Secret != p.Secret || again.AppURL != p.AppURL || string(again.QRCode) != string(p.QRCode) {
		t.Errorf("ResumeEnrol: %v; want the same key, URL and QR code", err)
	}
	if _, err := f.ResumeEnrol(ctx, storage.User{ID: "u2", Username: "bob"}, c); err == nil {
		t.Error("another user's enrolment resumed")
	}
	m, err := f.FinishEnrol(ctx, u, c, factors.Response{Code: code(now)})
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Secret) == p.Secret {
		t.Fatal("TOTP key stored in the clear")
	}

	// The enrolment code's step is used; the next step's code works once.
	if _, err := f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: code(now)}); err != nil {
		t.Fatal(err) // the code matches; Apply refuses it below
	}
	res, _ := f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: code(now)})
	if _, err := res.Apply(m); !errors.Is(err, factors.ErrReplayed) {
		t.Errorf("enrolment code reused: %v, want ErrReplayed", err)
	}
	now = now.Add(period * time.Second)
	res, err = f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: code(now)})
	if err != nil || res.AMR != "otp" {
		t.Fatalf("next code: %v, amr %q", err, res.AMR)
	}
	m, err = res.Apply(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Apply(m); !errors.Is(err, factors.ErrReplayed) {
		t.Errorf("same step twice: %v, want ErrReplayed", err)
	}
	// Another user's record cannot open the key.
	if _, err := f.Verify(ctx, storage.User{ID: "u2"}, m, storage.Challenge{}, factors.Response{Code: code(now)}); err == nil {
		t.Error("key opened for another user")
	}
}

// TestMethod: a key set up elsewhere is stored sealed, as an enrolment
// would store it, and its codes verify for its user only.
func TestMethod(t *testing.T) {
	ctx := context.Background()
	sealer, err := factors.NewSealer(make([]byte, factors.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := &Factor{Issuer: "Gatehouse", Sealer: sealer, Now: func() time.Time { return now }}
	secret := []byte("12345678901234567890")
	u := storage.User{ID: "u1", Username: "alice"}
	m := f.Method(u, secret, now)
	if m.Type != storage.MethodTOTP || m.UserID != "u1" || strings.Contains(string(m.Secret), "GEZDGNBVGY3TQOJQ") {
		t.Fatalf("method %+v: want u1's sealed TOTP key", m)
	}
	code, _ := hotp.GenerateCode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", uint64(now.Unix()/period))
	if _, err := f.Verify(ctx, u, m, storage.Challenge{}, factors.Response{Code: code}); err != nil {
		t.Errorf("its code: %v", err)
	}
	if _, err := f.Verify(ctx, storage.User{ID: "u2"}, m, storage.Challenge{}, factors.Response{Code: code}); err == nil {
		t.Error("another user's method verified")
	}
}
