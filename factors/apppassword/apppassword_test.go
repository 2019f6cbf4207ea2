package apppassword

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
)

func TestNewAndMatch(t *testing.T) {
	now := time.Now()
	pw, p, err := New("u1", "  Mail on my   phone ", now)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Mail on my phone" || p.UserID != "u1" || p.ID == "" || !p.CreatedAt.Equal(now) || len(p.Hash) != 32 {
		t.Errorf("record %+v", p)
	}
	if groups := strings.Split(pw, "-"); len(groups) != 8 || len(strings.Join(groups, "")) != 32 {
		t.Errorf("password %q: want 8 groups of 4", pw)
	}
	other, q, _ := New("u1", "Calendar on laptop", now)
	if pw == other {
		t.Fatal("two passwords alike")
	}
	list := []storage.AppPassword{q, p}
	for _, typed := range []string{pw, strings.ToUpper(pw), strings.ReplaceAll(pw, "-", ""), strings.ReplaceAll(pw, "-", " ")} {
		if got, ok := Match(list, typed); !ok || got.ID != p.ID {
			t.Errorf("Match(%q) = %v, %v; want %s", typed, got.ID, ok, p.ID)
		}
	}
	for _, wrong := range []string{"", pw[:len(pw)-1], pw + "a", other[:10]} {
		if got, ok := Match(list, wrong); ok {
			t.Errorf("Match(%q) = %s, want none", wrong, got.ID)
		}
	}
}

func TestNameRules(t *testing.T) {
	for _, name := range []string{"", "Mail", "1234567", strings.Repeat("x", MaxName+1), "       12"} {
		if _, _, err := New("u1", name, time.Now()); !errors.As(err, new(*factors.InputError)) {
			t.Errorf("name %q: error %v, want an input error", name, err)
		}
	}
	if _, _, err := New("u1", "Ward PC Outlook", time.Now()); err != nil {
		t.Error(err)
	}
}
