package admin

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/nyaruka/phonenumbers"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// FuzzOrgUnitForm reads a fuzzed org-unit settings form (readOrgUnit, as
// saving it does) for the top unit and for one below it. Properties: a
// form is either refused with errors or gives settings that are each one
// of the form's own choices: a name of 1 to 100 characters, trimmed; an
// MFA setting of optional, prompted or required, or inherit below the
// top; a list of methods only when the form chose its own, and then of
// methods on offer, each once, never none; phone regions of two capitals
// with a numbering plan; and a remember window from the list, or none.
// The form the page then shows for them, sent back unchanged, reads back
// as the same settings.
func FuzzOrgUnitForm(f *testing.F) {
	regionCode := regexp.MustCompile(`^[A-Z]{2}$`)
	methods := []templates.Choice{{Value: storage.MethodTOTP}, {Value: storage.MethodWebAuthn}, {Value: storage.MethodSMS}, {Value: storage.MethodVoice}, {Value: storage.MethodEmail}}
	for _, s := range []struct {
		name, mfa, mode, methods, regions, remember string
		top                                         bool
	}{
		{"Ward 7", "required", "own", "totp,webauthn", "GB, IE", "8h0m0s", false},
		{" Ward 7 ", "inherit", "inherit", "", "", "", false},
		{"Trust", "inherit", "", "", "", "", true},
		{"Trust", "optional", "own", "", "", "0s", true},
		{"Trust", "prompted", "own", "totp,totp,fax,TOTP", "gb", "8h", false},
		{"Trust", "Required", "own", "sms", "GB,XX", "1h", false},
		{"Trust", "required", "own", "voice", " , ", "168h0m0s", false},
		{"Trust", "", "own", "email", "UK", "-1h0m0s", false},
		{"", "optional", "", "", "", "", false},
		{strings.Repeat("ü", 100), "optional", "", "", "", "", false},
		{strings.Repeat("ü", 101), "optional", "", "", "", "24h0m0s", false},
		{"\t", "\x00", "own", ",", ",", "0", false},
	} {
		f.Add(s.name, s.mfa, s.mode, s.methods, s.regions, s.remember, s.top)
	}
	f.Fuzz(func(t *testing.T, name, mfa, mode, methodList, regions, remember string, top bool) {
		ou := storage.OrgUnit{ID: "ward", ParentID: "wales", Name: "Ward", MFA: storage.MFARequired}
		if top {
			ou = storage.OrgUnit{ID: "root", Name: "Trust"}
		}
		form := map[string][]string{"name": {name}, "mfa": {mfa}, "methods_mode": {mode}, "methods": strings.Split(methodList, ","), "regions": {regions}, "remember": {remember}}
		got, errs := readOrgUnit(form, ou, methods)
		if len(errs) > 0 {
			return
		}
		switch {
		case got.Name == "" || got.Name != strings.TrimSpace(got.Name) || utf8.RuneCountInString(got.Name) > 100:
			t.Fatalf("form %q: name %q", form, got.Name)
		case !slices.Contains([]storage.MFASetting{storage.MFAOptional, storage.MFAPrompted, storage.MFARequired}, got.MFA) && (got.MFA != storage.MFAInherit || top):
			t.Fatalf("form %q (top %v): MFA %q", form, top, got.MFA)
		case (mode == "own") != (got.AllowedMethods != nil):
			t.Fatalf("form %q: methods %q", form, got.AllowedMethods)
		case slices.ContainsFunc(got.AllowedMethods, func(m string) bool {
			return !slices.ContainsFunc(methods, func(c templates.Choice) bool { return c.Value == m })
		}) || len(slices.Compact(slices.Sorted(slices.Values(got.AllowedMethods)))) != len(got.AllowedMethods):
			t.Fatalf("form %q: methods %q", form, got.AllowedMethods)
		case slices.ContainsFunc(got.PhoneRegions, func(r string) bool {
			return !regionCode.MatchString(r) || phonenumbers.GetCountryCodeForRegion(r) == 0
		}):
			t.Fatalf("form %q: regions %q", form, got.PhoneRegions)
		case got.RememberMFA != nil && !slices.ContainsFunc(rememberChoices, func(c templates.Choice) bool { return c.Value == got.RememberMFA.String() }):
			t.Fatalf("form %q: remember %v", form, *got.RememberMFA)
		}

		// The page's form for got, as orgUnitPage fills it in.
		shown := map[string][]string{"name": {got.Name}, "mfa": {string(cmp.Or(got.MFA, storage.MFAInherit))}, "methods_mode": {"inherit"},
			"methods": got.AllowedMethods, "regions": {strings.Join(got.PhoneRegions, ", ")}, "remember": {""}}
		if top && shown["mfa"][0] == string(storage.MFAInherit) {
			shown["mfa"][0] = string(storage.MFAOptional)
		}
		if got.AllowedMethods != nil {
			shown["methods_mode"][0] = "own"
		}
		if got.RememberMFA != nil {
			shown["remember"][0] = got.RememberMFA.String()
		}
		again, errs := readOrgUnit(shown, got, methods)
		if len(errs) > 0 {
			t.Fatalf("the page for %q sent back is refused: %v", form, errs)
		}
		if diff := gocmp.Diff(got, again); diff != "" {
			t.Fatalf("form %q, shown and sent back, changes the unit (-first +again):\n%s", form, diff)
		}
	})
}
