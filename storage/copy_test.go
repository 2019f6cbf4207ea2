package storage

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTreeOrder: each unit after its parent, siblings in id order; units
// that cannot be placed (a missing parent, a cycle) last, in id order.
func TestTreeOrder(t *testing.T) {
	for _, tt := range []struct {
		name  string
		units []OrgUnit
		want  []string
	}{
		{"empty", nil, nil},
		{"children before parents", []OrgUnit{{ID: "a", ParentID: "c"}, {ID: "b", ParentID: "root"}, {ID: "c", ParentID: "root"}, {ID: "root"}},
			[]string{"root", "b", "c", "a"}},
		{"a missing parent and a cycle", []OrgUnit{{ID: "x", ParentID: "y"}, {ID: "y", ParentID: "x"}, {ID: "root"}, {ID: "lost", ParentID: "gone"}},
			[]string{"root", "lost", "x", "y"}},
	} {
		var got []string
		for _, u := range TreeOrder(tt.units) {
			got = append(got, u.ID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: TreeOrder mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
}
