package admin

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzUserFields reads the fields of the create-user and edit-user forms
// (checkUsername, checkDisplayName, checkEmail, as CreateUser and
// UpdateProfile do) over the fixture's store, which holds alice and
// jo@example.org. Properties: a username is either refused or stored as
// PRECIS gives it (normalising it again changes nothing), of 1 to 64
// characters, never one already taken, and never holding @, so that the
// sign-in page, which tries a username before an email address, never
// takes someone's email address for another account's username. A name
// is 1 to 100 characters, trimmed, with no control characters. An email
// address is empty or one plain address (ParseEmail's) in lower case, of
// at most 254 bytes, that no other user has.
func FuzzUserFields(f *testing.F) {
	fx := newFixture(f)
	ctx := f.Context()
	if err := fx.store.CreateUser(ctx, storage.User{ID: "jo", Username: "jo", Email: "jo@example.org", OrgUnitID: "ward"}); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "bob", "alice", "Alice", " ALICE ", "jo.bloggs", "jo bloggs", "jo@example.org", "JO@EXAMPLE.ORG",
		"ｊｏ", "ǅemal", "o'neil", "jo\u200dx", "\u00a0jo", strings.Repeat("x", 64), strings.Repeat("x", 65), "jo\x00", "jo\nx", "\u212aate",
		`"jo"@example.org`, "jo@example.org\r\nBcc: x@example.org", "Jo Bloggs", "jo+1@example.org"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, username, name, email string) {
		if got, err := fx.svc.checkUsername(ctx, username); err == nil {
			again, nerr := storage.NormalizeUsername(got)
			switch {
			case nerr != nil || again != got:
				t.Fatalf("username %q stored as %q, which normalises to %q, %v", username, got, again, nerr)
			case got == "" || utf8.RuneCountInString(got) > 64:
				t.Fatalf("username %q stored as %q", username, got)
			case strings.Contains(got, "@"):
				t.Fatalf("username %q stored as %q, which holds @", username, got)
			}
			if u, err := fx.store.GetUserByUsername(ctx, got); err == nil {
				t.Fatalf("username %q accepted, yet %s has it", username, u.ID)
			}
		}
		if got, err := checkDisplayName(name); err == nil {
			if got == "" || got != strings.TrimSpace(got) || utf8.RuneCountInString(got) > 100 || strings.ContainsFunc(got, unicode.IsControl) {
				t.Fatalf("name %q stored as %q", name, got)
			}
		}
		got, err := fx.svc.checkEmail(ctx, email, "")
		if err != nil || got == "" {
			if err == nil && strings.TrimSpace(email) != "" {
				t.Fatalf("email %q stored as none", email)
			}
			return
		}
		if plain, err := otp.ParseEmail(got); err != nil || strings.ToLower(plain) != got || len(got) > 254 {
			t.Fatalf("email %q stored as %q, which ParseEmail reads as %q, %v", email, got, plain, err)
		}
		if u, err := fx.store.GetUserByEmail(ctx, got); err == nil {
			t.Fatalf("email %q accepted, yet %s has it", email, u.ID)
		}
	})
}
