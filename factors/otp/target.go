package otp

import (
	"cmp"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// DefaultRegions are the phone regions allowed when policy names none.
var DefaultRegions = []string{"GB"}

// ParseEmail checks an email address and returns it normalised: the bare
// address, with the domain in lower case.
func ParseEmail(raw string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(raw))
	if err != nil || a.Name != "" || !plainAddress(a.Address) {
		return "", &factors.InputError{Msg: "enter an email address, like name@example.org"}
	}
	at := strings.LastIndex(a.Address, "@")
	return a.Address[:at] + strings.ToLower(a.Address[at:]), nil
}

// plainAddress reports whether addr, an address as net/mail returns it,
// can go into a mail header and the SMTP envelope as it is. net/mail
// takes the quotes off a quoted local part, so "a@b"@example.org comes
// back as a@b@example.org and "a>b"@example.org as a>b@example.org: an
// address is plain only if it reads back as itself. Nor may it hold a
// space, a control character (NEL among them) or an invisible one (a
// soft hyphen, a right-to-left override), which no one types meaning it.
func plainAddress(addr string) bool {
	again, err := mail.ParseAddress(addr)
	return err == nil && again.Address == addr &&
		!strings.ContainsFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsGraphic(r) })
}

// ParsePhone checks a number for calls and returns it in E.164
// (+447700900123): a mobile or a landline, not one that costs the caller
// or rings nobody in particular (see lines). Numbers without a country
// code are read as numbers of the first allowed region (the UK by
// default); only numbers from the allowed regions (ISO 3166 codes,
// DefaultRegions if none) are accepted, and the error says which.
func ParsePhone(raw string, allowed []string) (string, error) {
	p, err := parsePhone(raw, allowed)
	return p.e164, err
}

// ParseMobile is ParsePhone for text messages: a landline is refused with
// the rule named, and the way to use it instead.
func ParseMobile(raw string, allowed []string) (string, error) {
	p, err := parsePhone(raw, allowed)
	if err == nil && p.line != Mobile {
		return "", &factors.InputError{Msg: p.shown + " is " + p.kind + ": text messages can only go to a mobile number. Choose " + voiceLabel + " to use this number"}
	}
	return p.e164, err
}

// Line is what a number reaches, which decides what it can take: a
// mobile takes texts and calls, a landline calls only.
type Line string

const (
	Mobile   Line = "mobile"
	Landline Line = "landline"
)

// PhoneLabel names phone method m as Microsoft's Security info does, by
// its role among the user's methods (see storage.PhoneRole) and, where
// that does not say it, its line: "Mobile phone", "Alternate phone
// (landline)". It is "" for a method that is not a phone.
func PhoneLabel(m storage.Method, methods []storage.Method) string {
	var label string
	switch storage.PhoneRole(m, methods) {
	case storage.PhoneMobile:
		label = "Mobile phone"
	case storage.PhoneAlternate:
		label = "Alternate phone"
	default:
		return ""
	}
	// A mobile phone is a mobile number, unless stored before texts went
	// only to mobiles: then say so.
	if line := LineOf(m.Target); line != "" && (label != "Mobile phone" || line != Mobile) {
		label += " (" + string(line) + ")"
	}
	return label
}

// lineType is how Gatehouse treats one libphonenumber number type: the
// line it is, or none for a number it refuses, and its name in a refusal.
type lineType struct {
	line Line
	kind string
}

// lines are the number types, by libphonenumber. Texts go only to mobiles
// (FIXED_LINE_OR_MOBILE is a region, such as the US, whose numbers do not
// say). VoIP (UK 056) and UAN (UK 03) numbers ring desk phones and
// softphones, which answer calls but seldom take texts: they are
// landlines here. Every text and call costs the organisation, and SMS
// pumping and toll fraud aim codes at numbers that pay whoever runs them,
// so premium-rate, shared-cost and personal (follow-me) numbers are
// refused, as are freephone, pager and voicemail numbers, which ring no
// one person's phone.
var lines = map[phonenumbers.PhoneNumberType]lineType{
	phonenumbers.MOBILE:               {Mobile, "a mobile number"},
	phonenumbers.FIXED_LINE_OR_MOBILE: {Mobile, "a mobile number"},
	phonenumbers.FIXED_LINE:           {Landline, "a landline"},
	phonenumbers.VOIP:                 {Landline, "an internet phone (VoIP) number"},
	phonenumbers.UAN:                  {Landline, "a non-geographic (UAN) number"},
	phonenumbers.TOLL_FREE:            {"", "a freephone number"},
	phonenumbers.PREMIUM_RATE:         {"", "a premium-rate number"},
	phonenumbers.SHARED_COST:          {"", "a shared-cost number"},
	phonenumbers.PERSONAL_NUMBER:      {"", "a personal (follow-me) number"},
	phonenumbers.PAGER:                {"", "a pager number"},
	phonenumbers.VOICEMAIL:            {"", "a voicemail number"},
}

// phone is a checked number: E.164, as the user would write it, and what
// line it is.
type phone struct {
	e164, shown string
	lineType
}

const enterPhone = "enter a phone number, like 07700 900123 or +44 7700 900123"

// maxE164Digits is E.164's longest number: country code and number
// together (ITU-T E.164 section 6).
const maxE164Digits = 15

func parsePhone(raw string, allowed []string) (phone, error) {
	if len(allowed) == 0 {
		allowed = DefaultRegions
	}
	n, err := phonenumbers.Parse(strings.TrimSpace(raw), allowed[0])
	if err != nil {
		return phone{}, &factors.InputError{Msg: enterPhone}
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	lt, drama := dramaLine(n)
	switch {
	case drama:
		region = "GB"
	case !phonenumbers.IsValidNumber(n):
		return phone{}, &factors.InputError{Msg: enterPhone}
	default:
		lt = lines[phonenumbers.GetNumberType(n)]
	}
	if !slices.Contains(allowed, region) {
		return phone{}, &factors.InputError{Msg: RegionRule(allowed)}
	}
	p := phone{e164: phonenumbers.Format(n, phonenumbers.E164), shown: phonenumbers.Format(n, phonenumbers.INTERNATIONAL), lineType: lt}
	if len(p.e164)-1 > maxE164Digits {
		// libphonenumber takes some 16-digit German numbers as valid
		// (+4921000000000000); no gateway can send to them.
		return phone{}, &factors.InputError{Msg: enterPhone}
	}
	if region == allowed[0] {
		p.shown = phonenumbers.Format(n, phonenumbers.NATIONAL)
	}
	if lt.line == "" {
		return phone{}, &factors.InputError{Msg: p.shown + " is " + cmp.Or(lt.kind, "not a number we can call") + ": use a mobile or landline number"}
	}
	return p, nil
}

// LineOf is the line a stored (E.164) number reaches, or "" for one that
// is no longer a number Gatehouse would accept.
func LineOf(e164 string) Line {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	if lt, ok := dramaLine(n); ok {
		return lt.line
	}
	return lines[phonenumbers.GetNumberType(n)].line
}

// RegionRule says which numbers are allowed: "only UK (+44) numbers are
// allowed".
func RegionRule(allowed []string) string {
	names := make([]string, len(allowed))
	for i, r := range allowed {
		name := r
		if r == "GB" {
			name = "UK"
		}
		names[i] = fmt.Sprintf("%s (+%d)", name, phonenumbers.GetCountryCodeForRegion(r))
	}
	return "only " + strings.Join(names, ", ") + " numbers are allowed"
}

// dramaLine reports whether n is in one of the ranges Ofcom reserves for
// drama and never allocates, and what line it stands for: 07700 900000–
// 900999 a mobile, 01632 960000–960999 a landline. libphonenumber calls
// these numbers invalid; we accept them so demos and tests can use
// real-looking numbers that reach nobody.
func dramaLine(n *phonenumbers.PhoneNumber) (lineType, bool) {
	// A national number read with zeros in front of it (0007700 900000
	// is 00 7700 900000) is not in the range, and would be formatted
	// with them: +44007700900000.
	if n.GetCountryCode() != 44 || n.GetItalianLeadingZero() {
		return lineType{}, false
	}
	switch n.GetNationalNumber() / 1000 {
	case 7700900:
		return lines[phonenumbers.MOBILE], true
	case 1632960:
		return lines[phonenumbers.FIXED_LINE], true
	}
	return lineType{}, false
}

// phoneParser parses numbers with parse (ParsePhone or ParseMobile)
// against the org unit's regions, else the factor's configured default.
func phoneParser(parse func(string, []string) (string, error), defaults []string) func(string, []string) (string, error) {
	return func(raw string, regions []string) (string, error) {
		if len(regions) == 0 {
			regions = defaults
		}
		return parse(raw, regions)
	}
}

// ParseRegions reads a comma-separated list of ISO 3166 regions ("GB,
// IE"), refusing one with no phone numbering plan.
func ParseRegions(list string) ([]string, error) {
	var out []string
	for r := range strings.SplitSeq(list, ",") {
		r = strings.ToUpper(strings.TrimSpace(r))
		if r == "" {
			continue
		}
		if phonenumbers.GetCountryCodeForRegion(r) == 0 {
			return nil, fmt.Errorf("%q is not a region with phone numbers (use ISO 3166 codes such as GB)", r)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, errors.New("names no region")
	}
	return out, nil
}
