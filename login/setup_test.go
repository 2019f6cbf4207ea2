package login

import (
	"slices"
	"strings"
	"testing"
)

// TestOfferOrder: the types listed come first, in their order; the rest
// follow in the default order; an unknown or repeated type is refused.
func TestOfferOrder(t *testing.T) {
	for _, tt := range []struct {
		listed  []string
		want    []string
		wantErr string
	}{
		{listed: nil, want: []string{"totp", "webauthn", "sms", "voice", "email"}},
		{listed: []string{"email"}, want: []string{"email", "totp", "webauthn", "sms", "voice"}},
		{listed: []string{"voice", "webauthn"}, want: []string{"voice", "webauthn", "totp", "sms", "email"}},
		{listed: []string{"email", "voice", "sms", "webauthn", "totp"}, want: []string{"email", "voice", "sms", "webauthn", "totp"}},
		{listed: []string{"totp", "fax"}, wantErr: `"fax" is not a method type`},
		{listed: []string{"recovery"}, wantErr: `"recovery" is not a method type`},
		{listed: []string{"sms", "sms"}, wantErr: `"sms" is listed twice`},
	} {
		got, err := OfferOrder(tt.listed)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("OfferOrder(%v): err = %v, want %q", tt.listed, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("OfferOrder(%v) = %v, %v; want %v", tt.listed, got, err, tt.want)
		}
	}
}
