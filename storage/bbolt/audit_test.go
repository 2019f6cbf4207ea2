package bbolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestListAuditCursor: a Before this backend did not issue (upper case, a
// stray prefix) still means "IDs that sort before it", as the contract
// says, though only real IDs take the B-tree shortcut.
func TestListAuditCursor(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		if err := db.AppendAudit(ctx, storage.AuditEvent{Time: start.Add(time.Duration(i) * time.Minute), Actor: "alice", Action: fmt.Sprint("a", i)}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.ListAudit(ctx, storage.AuditQuery{})
	if err != nil || len(all) != 5 {
		t.Fatalf("ListAudit: %d events, %v", len(all), err)
	}
	for _, before := range []string{
		all[1].ID,
		strings.ToUpper(all[1].ID),
		all[1].ID[:20],  // sorts before the ID it starts
		all[1].ID + "0", // sorts after it
		"zz",
		"0",
	} {
		var want []string
		for _, e := range all {
			if e.ID < before {
				want = append(want, e.ID)
			}
		}
		// Through the log and through the user index.
		for _, q := range []storage.AuditQuery{{Before: before}, {User: "alice", Before: before}} {
			got, err := db.ListAudit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var gotIDs []string
			for _, e := range got {
				gotIDs = append(gotIDs, e.ID)
			}
			if diff := cmp.Diff(want, gotIDs); diff != "" {
				t.Errorf("User %q, Before %q: mismatch (-want +got):\n%s", q.User, before, diff)
			}
		}
	}
}

func TestListAuditCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err := db.AppendAudit(ctx, storage.AuditEvent{Time: time.Now(), Action: "login"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := db.ListAudit(ctx, storage.AuditQuery{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ListAudit with a cancelled context: got %v, want %v", err, context.Canceled)
	}
}

// TestListAuditRawFilters: the filters that look at an event's stored JSON
// before decoding it are not fooled by look-alike text in other fields.
func TestListAuditRawFilters(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	events := []storage.AuditEvent{
		{Actor: `x","OrgUnitID":"ward`, Subject: "bob", OrgUnitID: "root", Action: "login", Details: map[string]string{"OrgUnitID": "ward", "Action": "mfa.reset"}},
		{Actor: "alice", Subject: `"alice"`, OrgUnitID: `w"ard`, Action: `"exception.x`, Outcome: "success"},
		{Actor: "bob", Subject: "alice", OrgUnitID: "ward", Action: "exception.approved", Outcome: "denied"},
		// Not UTF-8: stored, and found, with U+FFFD for each bad byte.
		{Actor: "\xfe", Action: "bad\xff\xff"},
	}
	for i, e := range events {
		e.Time = now.Add(time.Duration(i) * time.Second)
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		q    storage.AuditQuery
		want []string // actions, newest first
	}{
		{"org unit named in an earlier field and in details", storage.AuditQuery{OrgUnitIDs: []string{"ward"}}, []string{"exception.approved"}},
		{"escaped org unit", storage.AuditQuery{OrgUnitIDs: []string{`w"ard`}}, []string{`"exception.x`}},
		{"action named in details", storage.AuditQuery{Action: "mfa.reset"}, nil},
		{"user quoted", storage.AuditQuery{User: `"alice"`}, []string{`"exception.x`}},
		{"user", storage.AuditQuery{User: "alice"}, []string{"exception.approved", `"exception.x`}},
		{"prefix with a quote", storage.AuditQuery{ActionPrefix: `"exc`}, []string{`"exception.x`}},
		{"prefix", storage.AuditQuery{ActionPrefix: "exc"}, []string{"exception.approved"}},
		{"action not UTF-8", storage.AuditQuery{Action: "bad\xff\xff"}, nil},
		{"action as stored", storage.AuditQuery{Action: "bad\ufffd\ufffd"}, []string{"bad\ufffd\ufffd"}},
		{"prefix as stored", storage.AuditQuery{ActionPrefix: "bad\ufffd"}, []string{"bad\ufffd\ufffd"}},
		{"user not UTF-8", storage.AuditQuery{User: "\xfe"}, nil},
		{"user as stored", storage.AuditQuery{User: "\ufffd"}, []string{"bad\ufffd\ufffd"}},
	}
	for _, tt := range tests {
		got, err := db.ListAudit(ctx, tt.q)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range got {
			actions = append(actions, e.Action)
		}
		if diff := cmp.Diff(tt.want, actions); diff != "" {
			t.Errorf("%s: mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestAuditIndexBuiltAtOpen: a log written before the user index existed
// is indexed when the store is next opened, a chunk at a time, and answers
// queries by user as a new one does.
func TestAuditIndexBuiltAtOpen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i, e := range []storage.AuditEvent{
		{Actor: "alice", Subject: "alice", Action: "login.password"},
		{Actor: "admin", Subject: "alice", Action: "mfa.reset"},
		{Actor: "alice", Subject: "bob", Action: "exception.approved"},
		{Action: "bootstrap"},
		{Subject: "bob", Action: "login.password", Outcome: storage.OutcomeDenied},
		{Actor: "bob", Subject: "bob", Action: "login.decision"},
		{Actor: "admin", Subject: "carol", Action: "user.created"},
	} {
		e.Time = now.Add(time.Duration(i%4) * time.Minute) // some share a time
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	queries := []storage.AuditQuery{
		{User: "alice"}, {Subject: "alice"}, {User: "bob"}, {User: "bob", Limit: 2}, {User: "admin"},
		{Subject: "carol"}, {User: "alice", Since: now.Add(time.Minute)}, {User: "nobody"},
	}
	list := func(db *DB) map[string][]string {
		got := map[string][]string{}
		for _, q := range queries {
			events, err := db.ListAudit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			k := fmt.Sprintf("%+v", q)
			got[k] = []string{}
			for _, e := range events {
				got[k] = append(got[k], e.ID+" "+e.Action)
			}
		}
		return got
	}
	want := list(db)
	if len(want[fmt.Sprintf("%+v", queries[0])]) != 3 {
		t.Fatalf("before: alice's events %v, want 3", want[fmt.Sprintf("%+v", queries[0])])
	}
	// Take the store back to how an older Gatehouse left it.
	forget := func() {
		t.Helper()
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket(auditByUserBucket); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(auditByUserBucket); err != nil {
				return err
			}
			return tx.Bucket(metaBucket).Delete(auditByUserKey)
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Two events a transaction: every chunk starts where the last ended.
	forget()
	if err := db.indexOldAudit(2); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, list(db)); diff != "" {
		t.Errorf("indexed two at a time: mismatch (-want +got):\n%s", diff)
	}

	forget()
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(auditByUserBucket) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTemp(t, path)
	if diff := cmp.Diff(want, list(db)); diff != "" {
		t.Errorf("reopened: mismatch (-want +got):\n%s", diff)
	}
	// Once built, the index is kept by appends, not built again.
	if err := db.AppendAudit(ctx, storage.AuditEvent{Time: now.Add(time.Hour), Actor: "carol", Subject: "carol", Action: "login.password"}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListAudit(ctx, storage.AuditQuery{User: "carol"})
	if err != nil || len(got) != 2 {
		t.Errorf("carol's events after reopening and appending: got %d, %v; want 2", len(got), err)
	}
}

// TestListAuditUserIDs: a user's events are theirs alone, whatever their
// ids hold; an id that another starts with, or that holds the index's
// separator, finds only its own.
func TestListAuditUserIDs(t *testing.T) {
	ctx := t.Context()
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ids := []string{"a", "a\x00", "a\x00b", "a\x00\x00", "ab", "a\x01", "\x00", "\xff\xff"}
	for i := range 3 {
		for j, id := range ids {
			e := storage.AuditEvent{Time: now.Add(time.Duration(i*len(ids)+j) * time.Second), Actor: id, Subject: id, Action: fmt.Sprint(i)}
			if j%2 == 1 {
				e.Actor = "admin"
			}
			if err := db.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An id that is not UTF-8 is stored, and found, as JSON spells it.
	for _, q := range []storage.AuditQuery{{User: "\xff\xff"}, {Subject: "\xff\xff"}} {
		if got, err := db.ListAudit(ctx, q); err != nil || len(got) > 0 {
			t.Errorf("ListAudit(%+q): got %d events, %v; want none", q.User+q.Subject, len(got), err)
		}
	}
	ids[len(ids)-1] = "\ufffd\ufffd"
	for _, id := range ids {
		for _, q := range []storage.AuditQuery{{User: id}, {Subject: id}, {User: id, Limit: 2}, {Subject: id, Until: now.Add(time.Duration(len(ids)+2) * time.Second)}} {
			what := fmt.Sprintf("user %q subject %q limit %d until %v", q.User, q.Subject, q.Limit, !q.Until.IsZero())
			got, err := db.ListAudit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				if e.Subject != id {
					t.Errorf("%s: got an event of %q", what, e.Subject)
				}
				actions = append(actions, e.Action)
			}
			want := []string{"2", "1", "0"}
			if q.Limit > 0 {
				want = want[:q.Limit]
			}
			if !q.Until.IsZero() {
				// Until falls after the first two ids' second events.
				want = []string{"0"}
				if slices.Index(ids, id) < 2 {
					want = []string{"1", "0"}
				}
			}
			if diff := cmp.Diff(want, actions); diff != "" {
				t.Errorf("%s: mismatch (-want +got):\n%s", what, diff)
			}
		}
	}
}

// BenchmarkAudit times the audit log at 1,000,000 events: 100,000 users
// each signing in once a day for five days (a password check and a
// decision each time), and one user who signed in five times at the start
// and not since. It times the queries the admin pages make and the append
// every sign-in makes.
//
//	go test -run '^$' -bench Audit -benchtime 2s ./storage/bbolt/
func BenchmarkAudit(b *testing.B) {
	const (
		users = 100_000
		days  = 5
	)
	db := openTemp(b, filepath.Join(b.TempDir(), "gatehouse.db"))
	db.bolt.NoSync = true
	ids := make([]string, users)
	for i := range ids {
		ids[i] = storage.NewID()
	}
	rare := storage.NewID()
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	step := 24 * time.Hour / users // between sign-ins
	signIn := func(tx *bolt.Tx, user string, i int, at time.Time) error {
		client := fmt.Sprint("app", i%20)
		for _, e := range []storage.AuditEvent{
			{Time: at, Actor: user, Subject: user, OrgUnitID: fmt.Sprint("ou", i%200), Action: "login.password", Outcome: storage.OutcomeSuccess,
				Details: map[string]string{"client_id": client, "session": "s" + user}},
			{Time: at, Actor: user, Subject: user, OrgUnitID: fmt.Sprint("ou", i%200), Action: "login.decision", Outcome: storage.OutcomeSuccess,
				Details: map[string]string{"auth_request": "ar" + user, "client_id": client, "outcome": "done", "reason": "password verified; no second factor required"}},
		} {
			e.IP, e.UserAgent = "192.0.2.1", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
			if err := putAudit(tx, e); err != nil {
				return err
			}
		}
		return nil
	}
	for n := 0; n < users*days; n += 1000 {
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			for j := n; j < n+1000; j++ {
				at := start.Add(time.Duration(j) * step)
				if j < 5 {
					if err := signIn(tx, rare, j, at); err != nil {
						return err
					}
				}
				// Users sign in in a different order each day.
				if err := signIn(tx, ids[(j*7919+j/users)%users], j, at); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	daily := ids[12345]
	for _, tt := range []struct {
		name string
		q    storage.AuditQuery
	}{
		{"rare user's last 10 sign-ins", storage.AuditQuery{Subject: rare, ActionPrefix: "login.", Limit: 10}},
		{"rare user's last 10 password checks", storage.AuditQuery{Subject: rare, Action: "login.password", Limit: 10}},
		{"daily user's last 10 sign-ins", storage.AuditQuery{Subject: daily, ActionPrefix: "login.", Limit: 10}},
		{"audit page, user", storage.AuditQuery{User: daily, Limit: 51}},
		{"audit page, user and outcome none match", storage.AuditQuery{User: daily, Outcome: storage.OutcomeFailure, Limit: 51}},
		{"audit page, no filter", storage.AuditQuery{Limit: 51}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var found int
			for b.Loop() {
				list, err := db.ListAudit(b.Context(), tt.q)
				if err != nil {
					b.Fatal(err)
				}
				found = len(list)
			}
			b.ReportMetric(float64(found), "events")
		})
	}

	// Appends land after the seeded log, by users already in it.
	next := start.Add(days * 24 * time.Hour)
	event := func(i int) storage.AuditEvent {
		user := ids[i*7919%users]
		return storage.AuditEvent{Time: next.Add(time.Duration(i) * time.Millisecond), Actor: user, Subject: user,
			OrgUnitID: "ou7", Action: "login.password", Outcome: storage.OutcomeSuccess, IP: "192.0.2.1", UserAgent: "Firefox",
			Details: map[string]string{"client_id": "app1", "session": "s" + user}}
	}
	// One event a transaction without fsync or Batch's wait for company:
	// what the event and its index entries cost to write.
	b.Run("append, one a commit, no fsync", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if err := db.bolt.Update(func(tx *bolt.Tx) error { return putAudit(tx, event(i)) }); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	// A lone sign-in's append: Batch's wait for company, then the commit.
	b.Run("AppendAudit, one at a time, fsync", func(b *testing.B) {
		db.bolt.NoSync = false
		defer func() { db.bolt.NoSync = true }()
		i := 0
		for b.Loop() {
			if err := db.AppendAudit(b.Context(), event(i+2_000_000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("AppendAudit, 16 at once, fsync", func(b *testing.B) {
		db.bolt.NoSync = false
		defer func() { db.bolt.NoSync = true }()
		var i atomic.Int64
		b.SetParallelism(8) // 16 goroutines on two cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.AppendAudit(b.Context(), event(int(i.Add(1))+1_000_000)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// What the index costs in space, beside the log.
	if err := db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{auditBucket, auditByUserBucket} {
			st := tx.Bucket(name).Stats()
			b.Logf("%s: %d entries, %d MB of pages", name, st.KeyN, (st.BranchAlloc+st.LeafAlloc)>>20)
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIndexOldAudit times indexing by user, at Open, a log of
// 1,000,000 events written before the index existed.
//
//	go test -run '^$' -bench IndexOldAudit -benchtime 3x ./storage/bbolt/
func BenchmarkIndexOldAudit(b *testing.B) {
	db := openTemp(b, filepath.Join(b.TempDir(), "gatehouse.db"))
	db.bolt.NoSync = true
	ids := make([]string, 100_000)
	for i := range ids {
		ids[i] = storage.NewID()
	}
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	for n := 0; n < 1_000_000; n += 1000 {
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			for j := n; j < n+1000; j++ {
				user := ids[j/2*7919%len(ids)]
				if err := putAudit(tx, storage.AuditEvent{Time: start.Add(time.Duration(j) * time.Second), Actor: user, Subject: user,
					OrgUnitID: "ou7", Action: "login.password", Outcome: storage.OutcomeSuccess, IP: "192.0.2.1", UserAgent: "Firefox"}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	// The index is built with fsync, as at a real Open.
	db.bolt.NoSync = false
	for b.Loop() {
		b.StopTimer()
		if err := db.bolt.Update(func(tx *bolt.Tx) error {
			if err := tx.DeleteBucket(auditByUserBucket); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(auditByUserBucket); err != nil {
				return err
			}
			return tx.Bucket(metaBucket).Delete(auditByUserKey)
		}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.indexOldAudit(auditIndexChunk); err != nil {
			b.Fatal(err)
		}
	}
}
