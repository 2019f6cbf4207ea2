package storage

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestSecretsNeverLogged logs each record that holds a secret, as a value
// and as a pointer, and finds none of the secret in the log.
func TestSecretsNeverLogged(t *testing.T) {
	const secret = "TOPSECRET"
	for _, v := range []any{
		User{ID: "u1", Username: "alice", PasswordHash: secret},
		Method{ID: "m1", Type: MethodTOTP, Secret: []byte(secret), Data: []byte(secret), Target: "alice@example.org"},
		SigningKey{ID: "k1", PrivateDER: []byte(secret)},
		Secret{Value: []byte(secret)},
		Client{ID: "c1", SecretHash: []byte(secret)},
		Challenge{ID: "ch1", CodeHash: []byte(secret), Data: []byte(secret)},
		Records{Users: []User{{ID: "u1", PasswordHash: secret}}, Secrets: map[string][]Secret{"cookie-keys": {{Value: []byte(secret)}}}},
	} {
		var buf bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		log.Info("record", "v", v)
		p := reflect.New(reflect.TypeOf(v))
		p.Elem().Set(reflect.ValueOf(v))
		log.Info("pointer", "v", p.Interface())
		if strings.Contains(buf.String(), secret) || strings.Contains(buf.String(), "VE9QU0VDUkVU") { // base64 of the bytes
			t.Errorf("%T logged its secret: %s", v, buf.String())
		}
		if !strings.Contains(buf.String(), `"v":{`) {
			t.Errorf("%T did not log as a group: %s", v, buf.String())
		}
	}
}

func TestOneTimePasswordExpiry(t *testing.T) {
	set := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	week := 7 * 24 * time.Hour
	tests := []struct {
		name string
		u    User
		want time.Time
		// expired is whether it has expired a day after it was set.
		expired bool
	}{
		{"own password", User{PasswordChangedAt: set}, time.Time{}, false},
		{"own password, stale expiry", User{PasswordChangedAt: set, OneTimePasswordExpiresAt: set.Add(time.Hour)}, time.Time{}, false},
		{"one-time, stored expiry", User{MustChangePassword: true, PasswordChangedAt: set, OneTimePasswordExpiresAt: set.Add(time.Hour)}, set.Add(time.Hour), true},
		{"one-time, expiring at that moment", User{MustChangePassword: true, PasswordChangedAt: set, OneTimePasswordExpiresAt: set.Add(24 * time.Hour)}, set.Add(24 * time.Hour), true},
		{"one-time, stored expiry to come", User{MustChangePassword: true, PasswordChangedAt: set, OneTimePasswordExpiresAt: set.Add(48 * time.Hour)}, set.Add(48 * time.Hour), false},
		{"one-time, set before expiries were stored", User{MustChangePassword: true, PasswordChangedAt: set}, set.Add(week), false},
		{"one-time, no date at all: long expired", User{MustChangePassword: true}, time.Time{}.Add(week), true},
	}
	at := set.Add(24 * time.Hour)
	for _, tt := range tests {
		if got := tt.u.OneTimePasswordExpiry(week); !got.Equal(tt.want) {
			t.Errorf("%s: OneTimePasswordExpiry() = %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.u.OneTimePasswordExpired(at, week); got != tt.expired {
			t.Errorf("%s: OneTimePasswordExpired(a day later) = %v, want %v", tt.name, got, tt.expired)
		}
	}
}

// TestPhoneRole: a text-message method's number is the mobile phone, and
// so is a voice call method's on the same number; a voice call method's
// on a number of its own is an alternate phone. The mobile phone's
// number is the first text-message method's.
func TestPhoneRole(t *testing.T) {
	now := time.Now()
	methods := []Method{
		{ID: "call-mobile", Type: MethodVoice, Target: "+447700900123"},
		{ID: "text-2", Type: MethodSMS, Target: "+447700900456", CreatedAt: now.Add(time.Minute)},
		{ID: "text", Type: MethodSMS, Target: "+447700900123", CreatedAt: now},
		{ID: "desk", Type: MethodVoice, Target: "+441632960123"},
		{ID: "app", Type: MethodTOTP},
	}
	want := map[string]string{"call-mobile": PhoneMobile, "text-2": PhoneMobile, "text": PhoneMobile, "desk": PhoneAlternate, "app": ""}
	for _, m := range methods {
		if got := PhoneRole(m, methods); got != want[m.ID] {
			t.Errorf("PhoneRole(%s) = %q, want %q", m.ID, got, want[m.ID])
		}
	}
	if got := MobilePhone(methods); got != "+447700900123" {
		t.Errorf("MobilePhone = %q, want the first text-message method's number", got)
	}
	if got := MobilePhone(methods[3:]); got != "" {
		t.Errorf("MobilePhone without a text-message method = %q, want none", got)
	}
}

// TestRevokeTokens: after a revocation at now, a token issued at any time
// up to now is refused, even in the same second (a JWT's iat has no
// fraction), and one issued from the next whole second on is not; a
// client registered again refuses its predecessor's tokens.
func TestRevokeTokens(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 400_000_000, time.UTC)
	c := Client{ID: "svc"}
	if c.TokenRevoked(now.Add(-24 * time.Hour)) {
		t.Fatal("a client never revoked refuses a token")
	}
	c = c.RevokeTokens(now)
	for _, tc := range []struct {
		issued time.Time
		want   bool
	}{
		{now.Add(-time.Hour), true},
		{now.Truncate(time.Second), true}, // a JWT's iat, issued just before
		{now, true},
		{now.Add(500 * time.Millisecond), true}, // the rest of the second
		{now.Truncate(time.Second).Add(time.Second), false},
		{now.Add(time.Hour), false},
	} {
		if got := c.TokenRevoked(tc.issued); got != tc.want {
			t.Errorf("TokenRevoked(%v) after a revocation at %v = %v, want %v", tc.issued, now, got, tc.want)
		}
	}
	if c = c.RevokeTokens(now.Truncate(time.Second)); !c.TokenRevoked(now.Truncate(time.Second)) {
		t.Error("a revocation on a whole second does not refuse a token of that second")
	}
	// A client registered again under a deleted one's id.
	again := Client{ID: "svc", CreatedAt: now}
	if !again.TokenRevoked(now.Add(-time.Second)) || again.TokenRevoked(now.Truncate(time.Second)) || again.TokenRevoked(now) {
		t.Error("a client registered at now refuses a token issued in its first second, or takes one from before it")
	}
}
