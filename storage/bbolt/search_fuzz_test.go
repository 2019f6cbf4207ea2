package bbolt

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzSearchUsers pages through SearchUsers, the admin user search, on a
// small store with a fuzzed query (text, units, MFA switch, method, page
// size) from a fuzzed cursor, and through ListUsers from a fuzzed cursor.
// Properties: no cursor is an error, and following Next from any cursor
// ends; every user any page holds matches the query (so never one outside
// the units asked for, the admin's scope), no user comes twice, and no
// page is over its limit. From the first page, the pages hold every
// matching user; without text they come in username order, and from any
// cursor they are exactly the matching users after the username it
// names (from the top when it does not decode). ListUsers gives the users
// after its cursor in username order, limit at a time.
func FuzzSearchUsers(f *testing.F) {
	ctx := f.Context()
	db, err := Open(filepath.Join(f.TempDir(), "gatehouse.db"), Options{NoSync: true}) // a scratch store
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	units := []string{"root", "wales", "ward", "england", "gone"}
	for _, ou := range []storage.OrgUnit{{ID: "root"}, {ID: "wales", ParentID: "root"}, {ID: "ward", ParentID: "wales"}, {ID: "england", ParentID: "root"}} {
		if err := db.CreateOrgUnit(ctx, ou); err != nil {
			f.Fatal(err)
		}
	}
	var all []storage.User
	methods := map[string][]string{}
	for i, u := range []struct {
		username, email, name, unit string
		mfa                         bool
		methods                     []string
	}{
		{"alice", "alice@example.org", "Alice Smith", "ward", true, []string{storage.MethodTOTP}},
		{"alistair", "alistair@example.org", "Alistair Alison", "wales", false, nil},
		{"bob", "robert@example.org", "Bob Smithers", "ward", false, []string{storage.MethodSMS}},
		{"carol", "carol@clinic.example", "Carol Mary-Jane O'Neil", "wales", true, []string{storage.MethodWebAuthn, storage.MethodRecovery}},
		{"smith", "", "Dave Jones", "england", false, nil},
		{"zed", "ali@example.org", "Zed Ali", "england", true, []string{storage.MethodTOTP, storage.MethodTOTP}},
		{"jose", "jose@example.org", "José Ñúñez", "root", true, []string{storage.MethodVoice}},
		{"ali", "", "Ali", "root", false, nil},
		{"ali.b", "ali.b@example.org", "Ali  B", "ward", false, []string{storage.MethodSMS}},
		{"ali-b", "", "ALI-B", "ward", true, nil},
		{"山田", "yamada@example.jp", "山田 太郎", "england", false, nil},
		{"o'brien", "obrien@example.ie", "Siobhán O'Brien", "wales", false, []string{storage.MethodEmail}},
	} {
		su := storage.User{ID: fmt.Sprintf("u%02d", i), Username: u.username, Email: u.email, DisplayName: u.name, OrgUnitID: u.unit, MFAEnabled: u.mfa, CreatedAt: now}
		if err := db.CreateUser(ctx, su); err != nil {
			f.Fatal(err)
		}
		for j, typ := range u.methods {
			if err := db.CreateMethod(ctx, storage.Method{ID: fmt.Sprintf("m%02d%d", i, j), UserID: su.ID, Type: typ, CreatedAt: now}); err != nil {
				f.Fatal(err)
			}
		}
		all, methods[su.ID] = append(all, su), u.methods
	}
	slices.SortFunc(all, func(a, b storage.User) int { return strings.Compare(a.Username, b.Username) })
	mfas := []string{"", "on", "off"}
	types := []string{"", storage.MethodTOTP, storage.MethodSMS, storage.MethodWebAuthn, storage.MethodVoice}
	enc := base64.RawURLEncoding.EncodeToString

	for _, s := range []struct {
		text   string
		units  uint8 // a bit for each of units; none is no unit filter
		mfa    uint8
		method uint8
		limit  uint8
		cursor string
	}{
		{"", 0, 0, 0, 0, ""},
		{"", 0, 0, 0, 1, enc([]byte("bob"))},
		{"", 0b00110, 0, 0, 2, enc([]byte("alice"))},
		{"", 0b01000, 1, 0, 1, enc([]byte("zzz"))},
		{"ali", 0, 0, 0, 1, ""},
		{"ali", 0, 0, 0, 1, enc([]byte("ali\x00u07"))},
		{"ali", 0b00110, 0, 0, 2, enc([]byte("alistair\x00u01"))},
		{"smi", 0, 2, 2, 1, enc([]byte("smith"))},
		{"  Alice   SM ", 0, 0, 0, 0, ""},
		{"o'b", 0, 0, 0, 1, ""},
		{"jane", 0b00010, 1, 3, 1, ""},
		{"山", 0, 0, 0, 1, ""},
		{"ali\x00", 0, 0, 0, 1, ""},
		{"", 0b10000, 0, 0, 1, ""},
		{"", 0b11111, 2, 4, 3, "!!!"},
		{"", 0, 0, 0, 1, "YWxpY2U="},
		{"", 0, 0, 0, 1, "Ym9i*"},
		{"", 0b00100, 0, 0, 1, enc([]byte("ward\x00bob"))},
		{"a", 0, 0, 0, 3, enc([]byte("a"))},
		{"b", 0, 0, 0, 3, enc([]byte("\xff\xff"))},
	} {
		f.Add(s.text, s.units, s.mfa, s.method, s.limit, s.cursor)
	}
	f.Fuzz(func(t *testing.T, text string, unitBits, mfa, method, limit uint8, cursor string) {
		q := storage.UserQuery{Text: text, MFA: mfas[int(mfa)%len(mfas)], Method: types[int(method)%len(types)], Limit: int(limit % 4), Cursor: cursor}
		for i, id := range units {
			if unitBits&(1<<i) != 0 {
				q.OrgUnitIDs = append(q.OrgUnitIDs, id)
			}
		}
		matches := func(u storage.User) bool {
			return (q.OrgUnitIDs == nil || slices.Contains(q.OrgUnitIDs, u.OrgUnitID)) &&
				(q.MFA == "" || (q.MFA == "on") == u.MFAEnabled) &&
				(q.Method == "" || slices.Contains(methods[u.ID], q.Method)) &&
				findsText(u, text)
		}
		var want []string // in username order
		for _, u := range all {
			if matches(u) {
				want = append(want, u.Username)
			}
		}
		pages := func(q storage.UserQuery) []string {
			var got []string
			for range len(all) + 2 {
				page, err := db.SearchUsers(ctx, q)
				if err != nil {
					t.Fatalf("SearchUsers(%+v): %v", q, err)
				}
				if limit := cmp0(q.Limit, defaultSearchLimit); len(page.Users) > limit {
					t.Fatalf("SearchUsers(%+v): %d users, over the limit", q, len(page.Users))
				}
				for _, u := range page.Users {
					if !matches(u) {
						t.Fatalf("SearchUsers(%+v) found %s, who does not match", q, u.Username)
					}
					if slices.Contains(got, u.Username) {
						t.Fatalf("SearchUsers(%+v) found %s twice", q, u.Username)
					}
					got = append(got, u.Username)
				}
				if page.Next == "" {
					return got
				}
				q.Cursor = page.Next
			}
			t.Fatalf("SearchUsers(%+v): still a next page after %d pages", q, len(all)+2)
			return nil
		}
		first := q
		first.Cursor = ""
		got := pages(first)
		if text == "" && !slices.Equal(got, want) {
			t.Fatalf("SearchUsers(%+v) pages = %q, want %q", first, got, want)
		}
		if text != "" && !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Fatalf("SearchUsers(%+v) pages = %q, want %q in some order", first, got, want)
		}
		got = pages(q)
		if text != "" {
			return // the order, and so what comes after a cursor, is the index's
		}
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil {
			after = nil
		}
		var rest []string
		for _, name := range want {
			if name > string(after) {
				rest = append(rest, name)
			}
		}
		if !slices.Equal(got, rest) {
			t.Fatalf("SearchUsers(%+v) pages = %q, want those after %q: %q", q, got, after, rest)
		}

		// ListUsers: the cursor is a username as it is.
		n := int(limit%4) + 1
		var listed []string
		next := cursor
		for range len(all) + 2 {
			page, err := db.ListUsers(ctx, next, n)
			if err != nil || len(page.Users) > n {
				t.Fatalf("ListUsers(%q, %d): %d users, %v", next, n, len(page.Users), err)
			}
			for _, u := range page.Users {
				listed = append(listed, u.Username)
			}
			if next = page.Next; next == "" {
				break
			}
		}
		var names []string
		for _, u := range all {
			if u.Username > cursor {
				names = append(names, u.Username)
			}
		}
		if !slices.Equal(listed, names) {
			t.Fatalf("ListUsers from %q, %d a page = %q, want %q", cursor, n, listed, names)
		}
	})
}

func cmp0(v, zero int) int {
	if v == 0 {
		return zero
	}
	return v
}

// findsText is storage.UserQuery's rule for Text, written out: ignoring
// case and extra spaces, the username, email or display name starts with
// it, or a word of the display name, or a part of a word split at
// punctuation, does.
func findsText(u storage.User, text string) bool {
	text = storage.SearchKey(text)
	if text == "" {
		return true
	}
	name := storage.SearchKey(u.DisplayName)
	found := []string{storage.SearchKey(u.Username), storage.SearchKey(u.Email), name}
	for _, w := range strings.Fields(name) {
		found = append(found, w)
		found = append(found, strings.FieldsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })...)
	}
	return slices.ContainsFunc(found, func(s string) bool { return s != "" && strings.HasPrefix(s, text) })
}
