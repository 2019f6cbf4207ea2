package otp

import (
	"errors"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

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

// FuzzParseEmail checks ParseEmail, which every email address typed into
// Gatehouse goes through (a code factor's target, a user's address), on
// any input. Properties: an address is either refused with an InputError
// or accepted as one plain local@domain that can go into a mail header
// and the SMTP envelope as it is: it holds exactly one @, with something
// either side, and no space, control or invisible character (CR, LF, NUL,
// NEL, U+2028, a soft hyphen); it reads back through net/mail as itself,
// with no display name; its domain is in lower case; and parsing it again
// gives it back (normalising is idempotent).
func FuzzParseEmail(f *testing.F) {
	for _, s := range []string{
		"jo.bloggs@example.org", " Jo.Bloggs@Example.ORG ", "jo+codes@example.org", "o'neil@example.org",
		"jo@[192.0.2.1]", "jo@localhost", "josé@exämple.org", "jo@EXAMPLE.İNFO", "jo@example.org.",
		"Jo <jo@example.org>", "<jo@example.org>", "jo@example.org, eve@example.org", "jo@example.org\r\nBcc: eve@example.org",
		"jo@example.org\nBcc: eve@example.org", "jo@example.org\x00", "jo(comment)@example.org", `"jo"@example.org`,
		`"jo bloggs"@example.org`, `"jo\"bloggs"@example.org`, "jo@@example.org", "@example.org", "jo@", "",
		"jo..bloggs@example.org", ".jo@example.org", "jo.@example.org", "=?utf-8?q?jo?= <jo@example.org>",
		"jo\u00a0@example.org", "jo@exa\u00admple.org", "jo\u202e@example.org", "ｊｏ@example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := ParseEmail(raw)
		if err != nil {
			var in *factors.InputError
			if !errors.As(err, &in) || got != "" {
				t.Fatalf("ParseEmail(%q) = %q, %v: want \"\" and an InputError", raw, got, err)
			}
			return
		}
		local, domain, ok := strings.Cut(got, "@")
		if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
			t.Fatalf("ParseEmail(%q) = %q, not one local@domain", raw, got)
		}
		if i := strings.IndexFunc(got, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsGraphic(r) }); i >= 0 {
			t.Fatalf("ParseEmail(%q) = %q, which holds %q", raw, got, []rune(got[i:])[0])
		}
		if a, err := mail.ParseAddress(got); err != nil || a.Address != got || a.Name != "" {
			t.Fatalf("ParseEmail(%q) = %q, which net/mail reads as %v, %v", raw, got, a, err)
		}
		if strings.ToLower(domain) != domain {
			t.Fatalf("ParseEmail(%q) = %q, whose domain is not in lower case", raw, got)
		}
		if again, err := ParseEmail(got); again != got || err != nil {
			t.Fatalf("ParseEmail(%q) = %q, which parses again as %q, %v", raw, got, again, err)
		}
	})
}

// regionCode is an ISO 3166 alpha-2 code as ParseRegions returns it.
var regionCode = regexp.MustCompile(`^[A-Z]{2}$`)

// FuzzParseRegions checks ParseRegions, which reads an org unit's phone
// regions from the admin form, on any input. Properties: a list is either
// refused or gives at least one region, each two capital letters naming a
// region with a phone numbering plan; and the list as the org unit page
// shows it again ("GB, IE") reads back as the same list, so saving the
// page unchanged changes nothing.
func FuzzParseRegions(f *testing.F) {
	for _, s := range []string{"GB", "gb, ie", " GB ,IE,, ", "GB,XX", "UK", "001", "ZZ", "", ",", " , ", "GB;IE", "gb ie",
		"GB,GB", "ǅ", "ıE", "Gb\x00", "US,CA,AG", "\u00a0GB\u00a0", "AC,TA,XK,EH"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		got, err := ParseRegions(list)
		if err != nil {
			if got != nil {
				t.Fatalf("ParseRegions(%q) = %q and %v", list, got, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("ParseRegions(%q) accepted no region", list)
		}
		for _, r := range got {
			if !regionCode.MatchString(r) || phonenumbers.GetCountryCodeForRegion(r) == 0 {
				t.Fatalf("ParseRegions(%q) = %q, holding %q", list, got, r)
			}
		}
		if again, err := ParseRegions(strings.Join(got, ", ")); err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseRegions(%q) = %q, which reads back as %q, %v", list, got, again, err)
		}
		RegionRule(got) // names each region; must not panic
	})
}
