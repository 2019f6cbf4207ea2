package admin

import (
	"testing"
	"time"
)

func TestEndsIn(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second:              "in less than a minute",
		time.Minute:                   "in 1 minute",
		59 * time.Minute:              "in 59 minutes",
		23*time.Hour + 59*time.Minute: "in 23 hours",
		47 * time.Hour:                "in 47 hours",
		48 * time.Hour:                "in 2 days",
		180 * 24 * time.Hour:          "in 180 days",
	} {
		if got := endsIn(d); got != want {
			t.Errorf("endsIn(%v) = %q, want %q", d, got, want)
		}
	}
}
