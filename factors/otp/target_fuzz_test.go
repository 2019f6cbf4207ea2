package otp

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/nyaruka/phonenumbers"

	"github.com/gatehouse-id/gatehouse/factors"
)

// e164Pattern is + and at most 15 digits, the first not 0. (This target
// found libphonenumber taking 16-digit German numbers, +4921000000000000,
// as valid; Gatehouse refuses them.)
var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// FuzzParsePhone checks ParsePhone and ParseMobile on any input and a few
// region lists. Properties: a number either is accepted in E.164 form
// (+ then digits) or is refused with a factors.InputError for the
// user; normalising is idempotent (the E.164 form parses again, against
// the same regions, to itself); an accepted number is of an allowed region
// (or in Ofcom's drama ranges, which stand for UK numbers) and reaches a
// mobile or a landline (LineOf); and ParseMobile accepts exactly the
// numbers ParsePhone accepts that reach a mobile, giving the same E.164.
func FuzzParsePhone(f *testing.F) {
	regions := [][]string{nil, {"GB"}, {"GB", "IE"}, {"US"}, {"IE", "GB"}, {"DE", "FR", "US"}}
	for _, s := range []string{
		"07700 900123", "+44 7700 900123", "+447700900123", "01632 960001", "+44 1632 960001",
		"07911 123456", "020 7946 0000", "+44 20 7946 0000", "0800 123 4567", "09 0987 6543",
		"056 1234 5678", "03 0123 4567", "070 1234 5678", "+1 202 555 0143", "(202) 555-0143",
		"+353 87 123 4567", "087 123 4567", "+49 30 123456", "tel:+44-7700-900123", "0044 7700 900123",
		"+44 (0) 7700 900123", "+44 7700 900123 ext. 12", "7700900123", "+", "", "   ", "++44",
		"+999 123", "+44 7700 900123\x00", "＋４４７７００９００１２３", "+44 7700 9OO123", "+4477009001234567890",
		"+4921000000000000",
	} {
		for i := range regions {
			f.Add(s, uint8(i))
		}
	}
	f.Fuzz(func(t *testing.T, raw string, which uint8) {
		allowed := regions[int(which)%len(regions)]
		got, err := ParsePhone(raw, allowed)
		mobile, mobileErr := ParseMobile(raw, allowed)
		if err != nil {
			var in *factors.InputError
			if !errors.As(err, &in) || got != "" {
				t.Fatalf("ParsePhone(%q, %q) = %q, %v: want \"\" and an InputError", raw, allowed, got, err)
			}
			if mobileErr == nil {
				t.Fatalf("ParseMobile(%q, %q) accepted %q, which ParsePhone refuses: %v", raw, allowed, mobile, err)
			}
			return
		}
		if !e164Pattern.MatchString(got) {
			t.Fatalf("ParsePhone(%q, %q) = %q, not E.164", raw, allowed, got)
		}
		if again, err := ParsePhone(got, allowed); again != got || err != nil {
			t.Fatalf("ParsePhone(%q, %q) = %q, which parses again as %q, %v", raw, allowed, got, again, err)
		}
		line := LineOf(got)
		if line != Mobile && line != Landline {
			t.Fatalf("ParsePhone(%q, %q) = %q, whose line is %q", raw, allowed, got, line)
		}
		n, err := phonenumbers.Parse(got, "")
		if err != nil {
			t.Fatalf("%q does not parse: %v", got, err)
		}
		rs := allowed
		if len(rs) == 0 {
			rs = DefaultRegions
		}
		if _, drama := dramaLine(n); !drama && !slices.Contains(rs, phonenumbers.GetRegionCodeForNumber(n)) {
			t.Fatalf("ParsePhone(%q, %q) = %q, of region %q", raw, allowed, got, phonenumbers.GetRegionCodeForNumber(n))
		}
		switch {
		case line == Mobile && (mobileErr != nil || mobile != got):
			t.Fatalf("ParseMobile(%q, %q) = %q, %v; want the mobile %q", raw, allowed, mobile, mobileErr, got)
		case line == Landline && mobileErr == nil:
			t.Fatalf("ParseMobile(%q, %q) accepted the landline %q", raw, allowed, mobile)
		}
	})
}
