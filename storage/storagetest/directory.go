package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func testOrgUnits(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	root := storage.OrgUnit{ID: "root", Name: "Trust", MFA: storage.MFAOptional, CreatedAt: now}
	remember, appPasswords := 12*time.Hour, true
	ward := storage.OrgUnit{ID: "ward", Name: "Ward 7", ParentID: "root", MFA: storage.MFAInherit, CreatedAt: now,
		AllowedMethods: []string{storage.MethodTOTP, storage.MethodWebAuthn}, PhoneRegions: []string{"GB", "IE"}, RememberMFA: &remember,
		AppPasswords: &appPasswords}
	for _, ou := range []storage.OrgUnit{root, ward} {
		must(t, "CreateOrgUnit "+ou.ID, s.CreateOrgUnit(ctx, ou))
	}

	got, err := s.GetOrgUnit(ctx, "ward")
	must(t, "GetOrgUnit", err)
	check(t, "GetOrgUnit", got, ward)

	checkCommonErrors(t, entity[storage.OrgUnit]{s.CreateOrgUnit, s.GetOrgUnit, s.UpdateOrgUnit, s.DeleteOrgUnit}, "ward", ward)
	checkErr(t, "delete with a child", s.DeleteOrgUnit(ctx, "root"), storage.ErrNotEmpty)

	ward.Name, ward.MFA = "Ward 8", storage.MFARequired
	got, err = s.UpdateOrgUnit(ctx, "ward", func(ou storage.OrgUnit) (storage.OrgUnit, error) {
		ou.Name, ou.MFA = "Ward 8", storage.MFARequired
		return ou, nil
	})
	must(t, "UpdateOrgUnit", err)
	check(t, "UpdateOrgUnit result", got, ward)
	got, err = s.GetOrgUnit(ctx, "ward")
	must(t, "GetOrgUnit", err)
	check(t, "org unit after update", got, ward)

	list, err := s.ListOrgUnits(ctx)
	must(t, "ListOrgUnits", err)
	check(t, "ListOrgUnits", list, []storage.OrgUnit{root, ward}, sortOrgUnits)

	// A unit with users cannot go; once its last user moves away it can.
	must(t, "create user", s.CreateUser(ctx, newUser("u1", "alice", "", now)))
	_, err = s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.OrgUnitID = "ward"; return u, nil })
	must(t, "move user into ward", err)
	checkErr(t, "delete unit with a user", s.DeleteOrgUnit(ctx, "ward"), storage.ErrNotEmpty)
	for ou, want := range map[string]int{"ward": 1, "root": 0, "nowhere": 0} {
		n, err := s.CountUsers(ctx, ou)
		must(t, "CountUsers", err)
		if n != want {
			t.Errorf("CountUsers(%s) = %d, want %d", ou, n, want)
		}
	}
	_, err = s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.OrgUnitID = "root"; return u, nil })
	must(t, "move user to root", err)
	checkErr(t, "delete emptied unit", s.DeleteOrgUnit(ctx, "ward"), nil)
	_, err = s.GetOrgUnit(ctx, "ward")
	checkErr(t, "get deleted unit", err, storage.ErrNotFound)

	checkErr(t, "delete root with a user", s.DeleteOrgUnit(ctx, "root"), storage.ErrNotEmpty)
	must(t, "delete user", s.DeleteUser(ctx, "u1"))
	checkErr(t, "delete root once empty", s.DeleteOrgUnit(ctx, "root"), nil)
}

// newUser returns a user with every field set, so round trips cover them all.
func newUser(id, username, email string, now time.Time) storage.User {
	return storage.User{
		ID:                 id,
		Username:           username,
		Email:              email,
		DisplayName:        "User " + id,
		PasswordHash:       "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		MustChangePassword: true,
		OrgUnitID:          "root",
		Roles:              []storage.RoleBinding{{Role: storage.RoleHelpdesk, OrgUnitID: "root"}},
		MFAEnabled:         true,
		PreferredMethod:    "totp",
		MFAResetAt:         now.Add(-time.Hour),
		CreatedAt:          now,
		UpdatedAt:          now.Add(time.Minute),
		PasswordChangedAt:  now.Add(2 * time.Minute),
		// Set with MustChangePassword.
		OneTimePasswordExpiresAt: now.Add(7 * 24 * time.Hour),
	}
}

func testUsers(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()

	createUnits(t, s)
	// The store keeps usernames and emails in their normalised form.
	must(t, "create alice", s.CreateUser(ctx, newUser("u1", " Alice ", "Alice@Example.ORG", now)))
	alice := newUser("u1", "alice", "alice@example.org", now)
	bob := newUser("u2", "bob", "bob@example.org", now)
	must(t, "create bob", s.CreateUser(ctx, bob))
	// Email is unique only when set.
	carol := newUser("u3", "carol", "", now)
	dave := newUser("u4", "dave", "", now)
	must(t, "create carol", s.CreateUser(ctx, carol))
	must(t, "create dave", s.CreateUser(ctx, dave))

	lookups := []struct {
		name    string
		get     func(context.Context) (storage.User, error)
		want    storage.User
		wantErr error
	}{
		{"by id", func(ctx context.Context) (storage.User, error) { return s.GetUser(ctx, "u1") }, alice, nil},
		{"by username", func(ctx context.Context) (storage.User, error) { return s.GetUserByUsername(ctx, "alice") }, alice, nil},
		{"by username in capitals", func(ctx context.Context) (storage.User, error) { return s.GetUserByUsername(ctx, "ALICE") }, alice, nil},
		{"by email", func(ctx context.Context) (storage.User, error) { return s.GetUserByEmail(ctx, "alice@example.org") }, alice, nil},
		{"by email in capitals", func(ctx context.Context) (storage.User, error) { return s.GetUserByEmail(ctx, "ALICE@example.org") }, alice, nil},
		{"missing id", func(ctx context.Context) (storage.User, error) { return s.GetUser(ctx, "nope") }, storage.User{}, storage.ErrNotFound},
		{"missing username", func(ctx context.Context) (storage.User, error) { return s.GetUserByUsername(ctx, "nope") }, storage.User{}, storage.ErrNotFound},
		{"missing email", func(ctx context.Context) (storage.User, error) { return s.GetUserByEmail(ctx, "nope@example.org") }, storage.User{}, storage.ErrNotFound},
		{"empty email", func(ctx context.Context) (storage.User, error) { return s.GetUserByEmail(ctx, "") }, storage.User{}, storage.ErrNotFound},
	}
	for _, tt := range lookups {
		got, err := tt.get(ctx)
		checkErr(t, tt.name, err, tt.wantErr)
		if err == nil {
			check(t, tt.name, got, tt.want)
		}
	}

	// A refused create must leave no trace, not even in an index.
	creates := []struct {
		name string
		user storage.User
		want error
	}{
		{"taken id", newUser("u1", "zed", "zed@example.org", now), storage.ErrAlreadyExists},
		{"taken username", newUser("u9", "BOB", "zed@example.org", now), storage.ErrAlreadyExists},
		{"taken email", newUser("u9", "zed", "BOB@example.org", now), storage.ErrAlreadyExists},
		{"invalid username", newUser("u9", "", "zed@example.org", now), storage.ErrInvalidUsername},
		{"blank username", newUser("u9", " \t ", "zed@example.org", now), storage.ErrInvalidUsername},
	}
	for _, tt := range creates {
		checkErr(t, "create with "+tt.name, s.CreateUser(ctx, tt.user), tt.want)
		_, err := s.GetUser(ctx, "u9")
		checkErr(t, "get user after create with "+tt.name, err, storage.ErrNotFound)
		_, err = s.GetUserByUsername(ctx, "zed")
		checkErr(t, "get by username after create with "+tt.name, err, storage.ErrNotFound)
		_, err = s.GetUserByEmail(ctx, "zed@example.org")
		checkErr(t, "get by email after create with "+tt.name, err, storage.ErrNotFound)
	}

	// Refused updates change nothing.
	updates := []struct {
		name   string
		update func(storage.User) (storage.User, error)
		want   error
	}{
		{"taken username", func(u storage.User) (storage.User, error) { u.Username = "Bob"; return u, nil }, storage.ErrAlreadyExists},
		{"taken email", func(u storage.User) (storage.User, error) { u.Email = "bob@EXAMPLE.org"; return u, nil }, storage.ErrAlreadyExists},
		{"taken username with a free email", func(u storage.User) (storage.User, error) {
			u.Username, u.Email = "bob", "new@example.org"
			return u, nil
		}, storage.ErrAlreadyExists},
		{"invalid username", func(u storage.User) (storage.User, error) { u.Username = ""; return u, nil }, storage.ErrInvalidUsername},
		{"update func error", refuse[storage.User], errRefused},
	}
	for _, tt := range updates {
		_, err := s.UpdateUser(ctx, "u1", tt.update)
		checkErr(t, "update to "+tt.name, err, tt.want)
		got, err := s.GetUserByUsername(ctx, "alice")
		must(t, "get alice", err)
		check(t, "alice after update to "+tt.name, got, alice)
		_, err = s.GetUserByEmail(ctx, "new@example.org")
		checkErr(t, "new email after update to "+tt.name, err, storage.ErrNotFound)
	}
	checkCommonErrors(t, entity[storage.User]{s.CreateUser, s.GetUser, s.UpdateUser, s.DeleteUser}, "u1", alice)

	// A rename moves the indexes: the old names no longer resolve and are free.
	got, err := s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) {
		u.Username, u.Email, u.DisplayName = "Alicia", "Alicia@example.org", "Alicia"
		return u, nil
	})
	must(t, "rename alice", err)
	alicia := alice
	alicia.Username, alicia.Email, alicia.DisplayName = "alicia", "alicia@example.org", "Alicia"
	check(t, "UpdateUser result", got, alicia)
	got, err = s.GetUserByUsername(ctx, "alicia")
	must(t, "get by new username", err)
	check(t, "get by new username", got, alicia)
	got, err = s.GetUserByEmail(ctx, "alicia@example.org")
	must(t, "get by new email", err)
	check(t, "get by new email", got, alicia)
	_, err = s.GetUserByUsername(ctx, "alice")
	checkErr(t, "get by old username", err, storage.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, "alice@example.org")
	checkErr(t, "get by old email", err, storage.ErrNotFound)
	_, err = s.UpdateUser(ctx, "u3", func(u storage.User) (storage.User, error) {
		u.Username, u.Email = "alice", "alice@example.org"
		return u, nil
	})
	checkErr(t, "take the old username and email", err, nil)

	// Clearing an email frees it.
	_, err = s.UpdateUser(ctx, "u1", func(u storage.User) (storage.User, error) { u.Email = ""; return u, nil })
	must(t, "clear email", err)
	_, err = s.GetUserByEmail(ctx, "alicia@example.org")
	checkErr(t, "get by cleared email", err, storage.ErrNotFound)
	_, err = s.UpdateUser(ctx, "u4", func(u storage.User) (storage.User, error) { u.Email = "alicia@example.org"; return u, nil })
	checkErr(t, "take the cleared email", err, nil)

	// Deleting frees the id, username and email.
	must(t, "delete bob", s.DeleteUser(ctx, "u2"))
	runErrCases(t, []errCase{
		{"get deleted by id", func(ctx context.Context) error { _, err := s.GetUser(ctx, "u2"); return err }, storage.ErrNotFound},
		{"get deleted by username", func(ctx context.Context) error { _, err := s.GetUserByUsername(ctx, "bob"); return err }, storage.ErrNotFound},
		{"get deleted by email", func(ctx context.Context) error { _, err := s.GetUserByEmail(ctx, "bob@example.org"); return err }, storage.ErrNotFound},
		{"delete again", func(ctx context.Context) error { return s.DeleteUser(ctx, "u2") }, storage.ErrNotFound},
	})
	checkErr(t, "recreate bob", s.CreateUser(ctx, bob), nil)
}

func testListUsers(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()

	page, err := s.ListUsers(ctx, "", 10)
	must(t, "ListUsers on an empty store", err)
	check(t, "ListUsers on an empty store", page, storage.UserPage{})

	createUnits(t, s)
	for i, name := range []string{"erin", "alice", "dave", "carol", "bob"} {
		must(t, "create "+name, s.CreateUser(ctx, newUser(fmt.Sprint("u", i), name, "", now)))
	}
	tests := []struct {
		limit int
		want  [][]string
	}{
		{1, [][]string{{"alice"}, {"bob"}, {"carol"}, {"dave"}, {"erin"}}},
		{2, [][]string{{"alice", "bob"}, {"carol", "dave"}, {"erin"}}},
		{5, [][]string{{"alice", "bob", "carol", "dave", "erin"}}},
		{10, [][]string{{"alice", "bob", "carol", "dave", "erin"}}},
	}
	for _, tt := range tests {
		got := listAllUsers(t, s, tt.limit)
		check(t, fmt.Sprintf("pages of %d", tt.limit), got, tt.want)
	}

	// The cursor is a position, so it outlives the user it names.
	page, err = s.ListUsers(ctx, "", 2)
	must(t, "first page", err)
	must(t, "delete bob", s.DeleteUser(ctx, "u4"))
	page, err = s.ListUsers(ctx, page.Next, 2)
	must(t, "page after a deleted cursor", err)
	check(t, "page after a deleted cursor", usernames(page.Users), []string{"carol", "dave"})
}

// listAllUsers pages through every user, returning each page's usernames.
func listAllUsers(t *testing.T, s storage.Storage, limit int) [][]string {
	t.Helper()
	var pages [][]string
	cursor := ""
	for range 100 {
		page, err := s.ListUsers(t.Context(), cursor, limit)
		must(t, "ListUsers", err)
		pages = append(pages, usernames(page.Users))
		if page.Next == "" {
			return pages
		}
		cursor = page.Next
	}
	t.Fatalf("ListUsers(limit %d): still a next page after 100 pages", limit)
	return nil
}

func usernames(users []storage.User) []string {
	var names []string
	for _, u := range users {
		names = append(names, u.Username)
	}
	return names
}

// testListAdmins: the global and org admins, and only they, in username
// order, as roles are granted and taken away.
func testListAdmins(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	createUnits(t, s)
	withRole := func(u storage.User, role string) storage.User {
		u.Roles = []storage.RoleBinding{{Role: role, OrgUnitID: "ou-child"}}
		return u
	}
	must(t, "create zoe", s.CreateUser(ctx, withRole(newUser("u1", "zoe", "", now), storage.RoleGlobalAdmin)))
	must(t, "create amy", s.CreateUser(ctx, withRole(newUser("u2", "amy", "", now), storage.RoleOrgAdmin)))
	must(t, "create hal", s.CreateUser(ctx, withRole(newUser("u3", "hal", "", now), storage.RoleHelpdesk)))
	must(t, "create bob", s.CreateUser(ctx, newUser("u4", "bob", "", now)))
	admins := func(what string, want ...string) {
		t.Helper()
		list, err := s.ListAdmins(ctx)
		must(t, "ListAdmins", err)
		check(t, what, usernames(list), want)
	}
	admins("the admins", "amy", "zoe")

	_, err := s.UpdateUser(ctx, "u4", func(u storage.User) (storage.User, error) { return withRole(u, storage.RoleOrgAdmin), nil })
	must(t, "grant bob a role", err)
	_, err = s.UpdateUser(ctx, "u2", func(u storage.User) (storage.User, error) { u.Roles = nil; return u, nil })
	must(t, "take amy's away", err)
	admins("after a grant and a removal", "bob", "zoe")
	must(t, "delete zoe", s.DeleteUser(ctx, "u1"))
	admins("after a delete", "bob")
}

// testSettings: none stored reads as the zero Settings; an update is
// kept, and a refused one changes nothing.
func testSettings(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	got, err := s.GetSettings(ctx)
	must(t, "GetSettings", err)
	check(t, "settings before any are stored", got, storage.Settings{})
	want := storage.Settings{Notices: map[string]bool{"login.new_browser": true, "mfa.method_added": false}}
	_, err = s.UpdateSettings(ctx, func(storage.Settings) (storage.Settings, error) { return want, nil })
	must(t, "UpdateSettings", err)
	_, err = s.UpdateSettings(ctx, refuse[storage.Settings])
	checkErr(t, "a refused update", err, errRefused)
	got, err = s.GetSettings(ctx)
	must(t, "GetSettings", err)
	check(t, "settings stored", got, want)
}
