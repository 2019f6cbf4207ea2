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
	}{
		{"own password", User{PasswordChangedAt: set}, time.Time{}},
		{"own password, stale expiry", User{PasswordChangedAt: set, OneTimePasswordExpiresAt: set.Add(time.Hour)}, time.Time{}},
		{"one-time, stored expiry", User{MustChangePassword: true, PasswordChangedAt: set, OneTimePasswordExpiresAt: set.Add(time.Hour)}, set.Add(time.Hour)},
		{"one-time, set before expiries were stored", User{MustChangePassword: true, PasswordChangedAt: set}, set.Add(week)},
		{"one-time, no date at all: long expired", User{MustChangePassword: true}, time.Time{}.Add(week)},
	}
	for _, tt := range tests {
		if got := tt.u.OneTimePasswordExpiry(week); !got.Equal(tt.want) {
			t.Errorf("%s: OneTimePasswordExpiry() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
