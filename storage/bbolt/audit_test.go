package bbolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		if err := db.AppendAudit(ctx, storage.AuditEvent{Time: start.Add(time.Duration(i) * time.Minute), Action: fmt.Sprint("a", i)}); err != nil {
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
		got, err := db.ListAudit(ctx, storage.AuditQuery{Before: before})
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, e := range got {
			gotIDs = append(gotIDs, e.ID)
		}
		if diff := cmp.Diff(want, gotIDs); diff != "" {
			t.Errorf("Before %q: mismatch (-want +got):\n%s", before, diff)
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
