package bbolt

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSearchIndexesBuiltAtOpen: a store written before the search indexes
// existed gets them, filled from its users, when it is next opened.
func TestSearchIndexesBuiltAtOpen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ou := range []storage.OrgUnit{{ID: "root"}, {ID: "ward", ParentID: "root"}} {
		if err := db.CreateOrgUnit(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	for i, name := range []string{"Alice Smith", "Bob Smithers", "Carol Jones"} {
		u := storage.User{ID: fmt.Sprint("u", i), Username: fmt.Sprint("user", i), DisplayName: name, OrgUnitID: "ward"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	// Take the store back to how an older Gatehouse left it.
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{userTermsBucket, userByOrgUnitName.bucket} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(metaBucket).Delete(userSearchKey)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = openTemp(t, path)
	for _, q := range []storage.UserQuery{{Text: "smi"}, {OrgUnitIDs: []string{"ward"}, Text: "smi"}, {OrgUnitIDs: []string{"ward"}, MFA: "off"}} {
		page, err := db.SearchUsers(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range page.Users {
			got = append(got, u.Username)
		}
		want := []string{"user0", "user1"}
		if len(q.OrgUnitIDs) > 0 && q.Text == "" {
			want = append(want, "user2")
		}
		if slices.Sort(got); !slices.Equal(got, want) {
			t.Errorf("SearchUsers(%+v) after reopening = %v, want %v", q, got, want)
		}
	}
}

// BenchmarkSearchUsers times one page of 50 in stores of 1,000 and 100,000
// users spread over 200 units, a quarter with MFA on and an authenticator
// app, one in a thousand with a voice-call method. Every search starts
// from an index, so time per page should barely grow across the
// hundredfold; a filter few users pass is bounded by the examination
// budget rather than by the size of the store.
//
//	go test -run '^$' -bench SearchUsers ./storage/bbolt/
func BenchmarkSearchUsers(b *testing.B) {
	first := []string{"Alice", "Bob", "Carol", "Dev", "Erin", "Femi", "Grace", "Hamid", "Iona", "Jack", "Kofi", "Li", "Mary-Jane", "Niamh", "Owen", "Priya"}
	last := []string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "O'Neil", "Khan"}
	queries := []struct {
		name string
		q    storage.UserQuery
	}{
		{"everyone", storage.UserQuery{}},
		{"username", storage.UserQuery{Text: "user012345"}},
		{"common surname", storage.UserQuery{Text: "smi"}},
		{"full name", storage.UserQuery{Text: "grace pat"}},
		{"surname in a subtree", storage.UserQuery{Text: "wil", OrgUnitIDs: ouRange(0, 20)}},
		{"one unit", storage.UserQuery{OrgUnitIDs: ouRange(7, 8)}},
		{"subtree of 20 units", storage.UserQuery{OrgUnitIDs: ouRange(0, 20)}},
		{"MFA off", storage.UserQuery{MFA: "off"}},
		{"authenticator apps", storage.UserQuery{Method: storage.MethodTOTP}},
		{"rare method", storage.UserQuery{Method: storage.MethodVoice}},
		{"surname, MFA on, one unit", storage.UserQuery{Text: "jo", MFA: "on", OrgUnitIDs: ouRange(4, 5)}},
	}
	for _, n := range []int{1_000, 100_000} {
		db := openTemp(b, filepath.Join(b.TempDir(), "gatehouse.db"))
		now := time.Now().UTC()
		for start := 0; start < n; start += 1000 {
			if err := db.bolt.Update(func(tx *bolt.Tx) error {
				for i := start; i < min(start+1000, n); i++ {
					u := storage.User{ID: storage.NewID(), Username: fmt.Sprintf("user%06d", i), Email: fmt.Sprintf("user%06d@example.org", i),
						DisplayName: first[i%len(first)] + " " + last[(i/len(first))%len(last)], OrgUnitID: fmt.Sprint("ou", i%200),
						MFAEnabled: i%4 == 0, CreatedAt: now}
					if err := users.insert(tx, u); err != nil {
						return err
					}
					if err := indexTerms(tx, nil, &u); err != nil {
						return err
					}
					var ms []storage.Method
					if u.MFAEnabled {
						ms = append(ms, storage.Method{ID: storage.NewID(), UserID: u.ID, Type: storage.MethodTOTP, Name: "Phone", Secret: make([]byte, 64), CreatedAt: now})
					}
					if i%1000 == 999 {
						ms = append(ms, storage.Method{ID: storage.NewID(), UserID: u.ID, Type: storage.MethodVoice, Target: "+447700900123", CreatedAt: now})
					}
					for _, m := range ms {
						if err := methods.insert(tx, m); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		for _, tt := range queries {
			b.Run(fmt.Sprintf("%d/%s", n, tt.name), func(b *testing.B) {
				var found int
				for b.Loop() {
					page, err := db.SearchUsers(b.Context(), tt.q)
					if err != nil {
						b.Fatal(err)
					}
					found = len(page.Users)
				}
				b.ReportMetric(float64(found), "users/page")
			})
		}
	}
}

// ouRange is the ids of units ou<from> to ou<to-1>.
func ouRange(from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprint("ou", i))
	}
	return ids
}
