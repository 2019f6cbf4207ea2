package storage

import (
	"testing"
	"time"
)

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
