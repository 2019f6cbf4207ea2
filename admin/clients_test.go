package admin

import (
	"testing"
	"time"
)

func TestLifetimes(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		out  string // formatted back
	}{
		{"", 0, ""},
		{" 15m ", 15 * time.Minute, "15m"},
		{"1h", time.Hour, "1h"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"30d", 30 * 24 * time.Hour, "30d"},
		{"24h", 24 * time.Hour, "1d"},
		{"90s", 90 * time.Second, "1m30s"},
	}
	for _, tc := range tests {
		got, err := parseLifetime(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseLifetime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if out := formatLifetime(got); out != tc.out {
			t.Errorf("formatLifetime(%v) = %q, want %q", got, out, tc.out)
		}
	}
	for _, bad := range []string{"soon", "1.5d", "-1d", "d", "99999999d"} {
		if _, err := parseLifetime(bad); err == nil {
			t.Errorf("parseLifetime(%q) succeeded", bad)
		}
	}
}
