package admin

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// FuzzUserSearch sends the user search page a fuzzed query (text, org
// unit, MFA switch, method, paging cursor) as each of the fixture's
// actors, over users spread across its tree. Properties: the page is
// shown (200), or refused as a unit that does not exist (400) or is
// outside the actor's subtree, or to an actor with no role (403, which is
// audited); never a 500, whatever the cursor. The users it shows are
// never outside the actor's subtree, nor the unit chosen and those below
// it, and match the MFA switch and method asked for; a page holds at most
// usersPerPage of them.
func FuzzUserSearch(f *testing.F) {
	methods := []templates.Choice{{Value: storage.MethodTOTP, Label: "Authenticator app"}, {Value: storage.MethodSMS, Label: "Text message"}}
	fx, h, fs := newFuzzHandler(f, methods)
	ctx := f.Context()
	for _, u := range []storage.User{
		{ID: "bryn", Username: "bryn", DisplayName: "Bryn Alis", OrgUnitID: "wales", MFAEnabled: true},
		{ID: "dai", Username: "dai", DisplayName: "Dai Alice-Jones", Email: "dai@example.org", OrgUnitID: "ward", MFAEnabled: true},
		{ID: "eve", Username: "eve", DisplayName: "Eve Alison", Email: "eve@example.org", OrgUnitID: "england"},
		{ID: "mair", Username: "mair", DisplayName: "Mair Ali", OrgUnitID: "root"},
	} {
		if err := fx.store.CreateUser(ctx, u); err != nil {
			f.Fatal(err)
		}
	}
	for _, m := range []storage.Method{{ID: "m2", UserID: "dai", Type: storage.MethodSMS}, {ID: "m3", UserID: "eve", Type: storage.MethodTOTP}} {
		if err := fx.store.CreateMethod(ctx, m); err != nil {
			f.Fatal(err)
		}
	}
	// The fixture's tree, written out: the units each actor looks after.
	wales, ward, england := []string{"wales", "ward"}, []string{"ward"}, []string{"england"}
	subtree := map[string][]string{"root": {"root", "wales", "ward", "england"}, "wales": wales, "ward": ward, "england": england}
	actors := []struct {
		name  string
		units []string // nil: every unit
		role  bool
	}{
		{"global", nil, true}, {"wales-admin", wales, true}, {"wales-helpdesk", wales, true}, {"ward-helpdesk", ward, true},
		{"england-admin", england, true}, {"england-helpdsk", england, true}, {"nobody", nil, false},
	}
	methodOf := map[string][]string{"alice": {storage.MethodTOTP}, "dai": {storage.MethodSMS}, "eve": {storage.MethodTOTP}}

	for _, s := range []struct {
		text, ou, mfa, method, cursor string
		actor                         uint8
	}{
		{"", "", "", "", "", 0},
		{"ali", "", "", "", "", 1},
		{"ali", "wales", "on", "", "", 2},
		{"", "england", "", "", "", 1},
		{"", "root", "", "", "", 3},
		{"", "nowhere", "", "", "", 0},
		{"", "", "off", "totp", "", 4},
		{"", "", "maybe", "fax", "", 5},
		{"", "", "", "", "YWxpY2U", 1},
		{"", "ward", "", "", "ZGFp", 3},
		{"a", "", "", "", "YWxpY2UAYWxpY2U", 0},
		{"", "", "", "", "!!", 2},
		{"", "", "", "", "00000", 1},
		{"", "", "", "", "d2FyZABkYWk", 3},
		{"\x00", "\x00", "\x00", "\x00", "\x00", 0},
		{"", "", "", "", "", 6},
		{"ali", "ward", "", "", "", 6},
	} {
		f.Add(s.text, s.ou, s.mfa, s.method, s.cursor, s.actor)
	}
	f.Fuzz(func(t *testing.T, text, ou, mfa, method, cursor string, who uint8) {
		a := actors[int(who)%len(actors)]
		v := url.Values{"q": {text}, "ou": {ou}, "mfa": {mfa}, "method": {method}, "cursor": {cursor}}
		w := httptest.NewRecorder()
		rq := &request{w: w, r: httptest.NewRequest(http.MethodGet, "/admin/users?"+v.Encode(), nil), actor: fx.actor[a.name], h: h}
		fs.audited, fs.found = nil, nil
		h.showUsers(rq)

		_, exists := subtree[ou]
		outside := ou != "" && a.units != nil && !slices.Contains(a.units, ou)
		switch {
		case w.Code == http.StatusOK && a.role && (ou == "" || exists && !outside):
		case w.Code == http.StatusBadRequest && ou != "" && !exists:
		case w.Code == http.StatusForbidden && (!a.role || exists && outside):
			if n := len(fs.audited); n == 0 || fs.audited[n-1].Action != "user.searched" || fs.audited[n-1].Outcome != storage.OutcomeDenied {
				t.Fatalf("%s, query %q: refused, not audited", a.name, v.Encode())
			}
		default:
			t.Fatalf("%s, query %q: status %d", a.name, v.Encode(), w.Code)
		}
		if len(fs.found) > usersPerPage {
			t.Fatalf("%s, query %q: %d users on a page", a.name, v.Encode(), len(fs.found))
		}
		for _, u := range fs.found {
			switch {
			case a.units != nil && !slices.Contains(a.units, u.OrgUnitID):
				t.Fatalf("%s, query %q: shown %s of %s, outside their units", a.name, v.Encode(), u.Username, u.OrgUnitID)
			case ou != "" && !slices.Contains(subtree[ou], u.OrgUnitID):
				t.Fatalf("%s, query %q: shown %s of %s, outside the unit chosen", a.name, v.Encode(), u.Username, u.OrgUnitID)
			case (mfa == "on" || mfa == "off") && u.MFAEnabled != (mfa == "on"):
				t.Fatalf("%s, query %q: shown %s, MFA %v", a.name, v.Encode(), u.Username, u.MFAEnabled)
			case slices.ContainsFunc(methods, func(c templates.Choice) bool { return c.Value == method }) && !slices.Contains(methodOf[u.ID], method):
				t.Fatalf("%s, query %q: shown %s, who has no %s", a.name, v.Encode(), u.Username, method)
			}
		}
	})
}
