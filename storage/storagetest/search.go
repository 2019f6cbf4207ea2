package storagetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gatehouse-id/gatehouse/storage"
)

// searchUser is a user for the search tests: one in an org unit with a
// display name and MFA switch of its own.
func searchUser(id, username, email, name, ou string, mfa bool) storage.User {
	u := newUser(id, username, email, testNow())
	u.DisplayName, u.OrgUnitID, u.MFAEnabled = name, ou, mfa
	return u
}

func testSearchUsers(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()

	page, err := s.SearchUsers(ctx, storage.UserQuery{Text: "a"})
	must(t, "SearchUsers on an empty store", err)
	check(t, "SearchUsers on an empty store", page, storage.UserPage{})

	users := []storage.User{
		searchUser("u1", "alice", "alice@example.org", "Alice Smith", "ward", true),
		searchUser("u2", "bob", "robert@example.org", "Bob Smithers", "ward", false),
		searchUser("u3", "carol", "carol@clinic.example", "Carol Mary-Jane O'Neil", "wales", true),
		searchUser("u4", "smith", "", "Dave Jones", "england", false),
		searchUser("u5", "zed", "ali@example.org", "Zed Ali", "england", true),
		// Three of Alistair's names start with "ali": he is found once.
		searchUser("u6", "alistair", "alistair@example.org", "Alistair Alison", "wales", false),
	}
	createUnits(t, s, "ward", "wales", "england")
	for _, u := range users {
		must(t, "create "+u.Username, s.CreateUser(ctx, u))
	}
	for _, m := range []storage.Method{
		{ID: "m1", UserID: "u1", Type: storage.MethodTOTP, CreatedAt: now},
		{ID: "m2", UserID: "u3", Type: storage.MethodWebAuthn, CreatedAt: now},
		{ID: "m3", UserID: "u3", Type: storage.MethodRecovery, CreatedAt: now},
		{ID: "m4", UserID: "u4", Type: storage.MethodSMS, CreatedAt: now},
	} {
		must(t, "create method "+m.ID, s.CreateMethod(ctx, m))
	}

	tests := []struct {
		name string
		q    storage.UserQuery
		want []string
		// ordered: without Text the order is the usernames'.
		ordered bool
	}{
		{"everyone", storage.UserQuery{}, []string{"alice", "alistair", "bob", "carol", "smith", "zed"}, true},
		{"username, email and name words", storage.UserQuery{Text: "ali"}, []string{"alice", "alistair", "zed"}, false},
		{"ignoring case", storage.UserQuery{Text: "ALI"}, []string{"alice", "alistair", "zed"}, false},
		{"a surname", storage.UserQuery{Text: "smi"}, []string{"alice", "bob", "smith"}, false},
		{"the whole name", storage.UserQuery{Text: "alice sm"}, []string{"alice"}, false},
		{"extra spaces", storage.UserQuery{Text: "  Alice   Smith "}, []string{"alice"}, false},
		{"part of a hyphenated name", storage.UserQuery{Text: "jane"}, []string{"carol"}, false},
		{"a name with an apostrophe", storage.UserQuery{Text: "o'n"}, []string{"carol"}, false},
		{"an email", storage.UserQuery{Text: "robert@"}, []string{"bob"}, false},
		{"prefixes only", storage.UserQuery{Text: "mith"}, nil, false},
		{"no email domains", storage.UserQuery{Text: "example.org"}, nil, false},
		{"nobody", storage.UserQuery{Text: "nobody"}, nil, false},
		{"one unit", storage.UserQuery{OrgUnitIDs: []string{"ward"}}, []string{"alice", "bob"}, true},
		{"two units", storage.UserQuery{OrgUnitIDs: []string{"wales", "ward"}}, []string{"alice", "alistair", "bob", "carol"}, true},
		{"an empty unit", storage.UserQuery{OrgUnitIDs: []string{"nowhere"}}, nil, true},
		{"MFA on", storage.UserQuery{MFA: "on"}, []string{"alice", "carol", "zed"}, true},
		{"MFA off", storage.UserQuery{MFA: "off"}, []string{"alistair", "bob", "smith"}, true},
		{"a method", storage.UserQuery{Method: storage.MethodWebAuthn}, []string{"carol"}, true},
		{"a method nobody has", storage.UserQuery{Method: storage.MethodVoice}, nil, true},
		{"text in units", storage.UserQuery{Text: "smi", OrgUnitIDs: []string{"ward"}}, []string{"alice", "bob"}, false},
		{"text and MFA", storage.UserQuery{Text: "smi", MFA: "off"}, []string{"bob", "smith"}, false},
		{"text and a method", storage.UserQuery{Text: "smi", Method: storage.MethodSMS}, []string{"smith"}, false},
		{"units, MFA and a method", storage.UserQuery{OrgUnitIDs: []string{"ward", "wales"}, MFA: "on", Method: storage.MethodRecovery}, []string{"carol"}, true},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 2, 0} {
			q := tt.q
			q.Limit = limit
			got := searchAll(t, s, q)
			opts := []cmp.Option{}
			if !tt.ordered {
				opts = append(opts, cmpopts.SortSlices(func(a, b string) bool { return a < b }))
			}
			check(t, fmt.Sprintf("%s (pages of %d)", tt.name, limit), got, tt.want, opts...)
		}
	}

	page, err = s.SearchUsers(ctx, storage.UserQuery{Text: "alice sm"})
	must(t, "SearchUsers", err)
	check(t, "a found user", page.Users, []storage.User{users[0]})

	// The indexes follow every change.
	_, err = s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) {
		u.DisplayName, u.OrgUnitID, u.Email, u.MFAEnabled = "Alice Brown", "wales", "a.brown@example.org", false
		return u, nil
	})
	must(t, "update alice", err)
	must(t, "delete alice's method", s.DeleteUserMethods(ctx, "u1"))
	must(t, "delete bob", s.DeleteUser(ctx, "u2"))
	must(t, "add a method for zed", s.CreateMethod(ctx, storage.Method{ID: "m5", UserID: "u5", Type: storage.MethodTOTP, CreatedAt: now}))
	after := []struct {
		name string
		q    storage.UserQuery
		want []string
	}{
		{"old surname", storage.UserQuery{Text: "smi"}, []string{"smith"}},
		{"new surname", storage.UserQuery{Text: "bro"}, []string{"alice"}},
		{"old email", storage.UserQuery{Text: "alice@"}, nil},
		{"new email", storage.UserQuery{Text: "a.b"}, []string{"alice"}},
		{"old unit", storage.UserQuery{OrgUnitIDs: []string{"ward"}}, nil},
		{"old unit by username", storage.UserQuery{Text: "alice", OrgUnitIDs: []string{"ward"}}, nil},
		{"new unit by username", storage.UserQuery{Text: "alice", OrgUnitIDs: []string{"wales"}}, []string{"alice"}},
		{"MFA off by username", storage.UserQuery{Text: "alice", MFA: "off"}, []string{"alice"}},
		{"MFA on by username", storage.UserQuery{Text: "alice", MFA: "on"}, nil},
		{"new unit", storage.UserQuery{OrgUnitIDs: []string{"wales"}}, []string{"alice", "alistair", "carol"}},
		{"MFA on", storage.UserQuery{MFA: "on"}, []string{"carol", "zed"}},
		{"a method", storage.UserQuery{Method: storage.MethodTOTP}, []string{"zed"}},
		{"a deleted user", storage.UserQuery{Text: "bob"}, nil},
	}
	for _, tt := range after {
		check(t, tt.name+" after changes", searchAll(t, s, tt.q), tt.want)
	}

	// A cursor is a position: it outlives the user it was taken at.
	for _, q := range []storage.UserQuery{{Limit: 1}, {Text: "al", Limit: 1}, {OrgUnitIDs: []string{"wales", "england"}, Limit: 1}} {
		first := searchAll(t, s, q)
		page, err := s.SearchUsers(ctx, q)
		must(t, "first page", err)
		if len(page.Users) != 1 || page.Next == "" {
			t.Fatalf("first page of %+v: %d users, next %q", q, len(page.Users), page.Next)
		}
		gone := page.Users[0]
		must(t, "delete "+gone.Username, s.DeleteUser(ctx, gone.ID))
		q.Cursor = page.Next
		rest := searchAll(t, s, q)
		check(t, fmt.Sprintf("after the deleted cursor of %+v", q), rest, first[1:])
		must(t, "recreate "+gone.Username, s.CreateUser(ctx, gone))
	}

	_, err = s.SearchUsers(ctx, storage.UserQuery{MFA: "maybe"})
	if err == nil {
		t.Error(`SearchUsers with MFA "maybe": got no error`)
	}
}

// searchAll follows a search's pages, checking each keeps to its limit,
// and returns the usernames found in order; a user found twice fails t.
func searchAll(t *testing.T, s storage.Storage, q storage.UserQuery) []string {
	t.Helper()
	var names []string
	for range 1000 {
		page, err := s.SearchUsers(t.Context(), q)
		must(t, "SearchUsers", err)
		limit := q.Limit
		if limit == 0 {
			limit = 50
		}
		if len(page.Users) > limit {
			t.Errorf("SearchUsers(%+v): %d users, more than the limit", q, len(page.Users))
		}
		for _, u := range page.Users {
			if slices.Contains(names, u.Username) {
				t.Errorf("SearchUsers(%+v): %s found twice", q, u.Username)
			}
			names = append(names, u.Username)
		}
		if page.Next == "" {
			return names
		}
		q.Cursor = page.Next
	}
	t.Fatalf("SearchUsers(%+v): still a next page after 1000 pages", q)
	return nil
}
