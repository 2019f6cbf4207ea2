package otp

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/gatehouse-id/gatehouse/factors"
)

// DefaultRegions are the phone regions allowed when policy names none.
var DefaultRegions = []string{"GB"}

// ParseEmail checks an email address and returns it normalised: the bare
// address, with the domain in lower case.
func ParseEmail(raw string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(raw))
	if err != nil || a.Name != "" || strings.ContainsAny(a.Address, " \r\n") {
		return "", &factors.InputError{Msg: "enter an email address, like name@example.org"}
	}
	at := strings.LastIndex(a.Address, "@")
	return a.Address[:at] + strings.ToLower(a.Address[at:]), nil
}

// ParsePhone checks a phone number and returns it in E.164 (+447700900123).
// Numbers without a country code are read as numbers of the first allowed
// region (the UK by default); only numbers from
// the allowed regions (ISO 3166 codes, DefaultRegions if none) are
// accepted, and the error says which.
func ParsePhone(raw string, allowed []string) (string, error) {
	if len(allowed) == 0 {
		allowed = DefaultRegions
	}
	n, err := phonenumbers.Parse(strings.TrimSpace(raw), allowed[0])
	if err != nil {
		return "", &factors.InputError{Msg: "enter a phone number, like 07700 900123 or +44 7700 900123"}
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	if isDramaNumber(n) {
		region = "GB"
	} else if !phonenumbers.IsValidNumber(n) {
		return "", &factors.InputError{Msg: "enter a phone number, like 07700 900123 or +44 7700 900123"}
	}
	if !slices.Contains(allowed, region) {
		return "", &factors.InputError{Msg: RegionRule(allowed)}
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
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

// isDramaNumber reports whether n is in 07700 900000–900999, which Ofcom
// reserves for drama and never allocates. libphonenumber calls these
// numbers invalid; we accept them so demos and tests can use a real-looking
// mobile number that reaches nobody.
func isDramaNumber(n *phonenumbers.PhoneNumber) bool {
	return n.GetCountryCode() == 44 && n.GetNationalNumber()/1000 == 7700900
}

// phoneParser parses numbers against the org unit's regions, else the
// factor's configured default.
func phoneParser(defaults []string) func(string, []string) (string, error) {
	return func(raw string, regions []string) (string, error) {
		if len(regions) == 0 {
			regions = defaults
		}
		return ParsePhone(raw, regions)
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
