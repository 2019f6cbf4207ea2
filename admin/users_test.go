package admin

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// fields lists the fields of the InputErrors in err.
func fields(err error) []string {
	var out []string
	for _, e := range inputErrors(err) {
		var ie *factors.InputError
		if errors.As(e, &ie) {
			out = append(out, ie.Field)
		}
	}
	return out
}

// denied lists "actor action" for each denied audit event about subject.
func (f *fixture) denied(t *testing.T, subject string) []string {
	t.Helper()
	events, err := f.store.ListAudit(context.Background(), storage.AuditQuery{Subject: subject, Outcome: storage.OutcomeDenied})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, e.Actor+" "+e.Action)
	}
	return out
}

func TestCreateUser(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		actor      string
		in         NewUser
		wantErr    error
		wantFields []string
	}{
		{"an org admin in their subtree", "wales-admin", NewUser{Username: " Dave ", DisplayName: "Dave Jones", Email: "Dave@Example.org", OrgUnitID: "ward"}, nil, nil},
		{"a global admin anywhere", "global", NewUser{Username: "dave", DisplayName: "Dave", OrgUnitID: "england"}, nil, nil},
		{"an org admin elsewhere", "england-admin", NewUser{Username: "dave", DisplayName: "Dave", OrgUnitID: "ward"}, ErrForbidden, nil},
		{"a helpdesk member", "wales-helpdesk", NewUser{Username: "dave", DisplayName: "Dave", OrgUnitID: "ward"}, ErrForbidden, nil},
		{"a helpdesk member without a unit", "wales-helpdesk", NewUser{Username: "dave", DisplayName: "Dave"}, ErrForbidden, nil},
		{"a taken username", "wales-admin", NewUser{Username: "ALICE", DisplayName: "Alice Two", OrgUnitID: "ward"}, nil, []string{"username"}},
		{"a taken email", "wales-admin", NewUser{Username: "dave", DisplayName: "Dave", Email: "carol@example.org", OrgUnitID: "ward"}, nil, []string{"email"}},
		{"every field wrong", "wales-admin", NewUser{Username: "a b", DisplayName: " ", Email: "not an address"}, nil, []string{"org_unit", "username", "display_name", "email"}},
		{"a username like an email", "wales-admin", NewUser{Username: "dave@example.org", DisplayName: "Dave", OrgUnitID: "ward"}, nil, []string{"username"}},
		{"no such unit", "wales-admin", NewUser{Username: "dave", DisplayName: "Dave", OrgUnitID: "nowhere"}, nil, []string{"org_unit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if err := f.store.CreateUser(ctx, storage.User{ID: "carol", Username: "carol", Email: "carol@example.org", OrgUnitID: "england"}); err != nil {
				t.Fatal(err)
			}
			u, pw, err := f.svc.CreateUser(ctx, f.actor[tt.actor], tt.in)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got := f.denied(t, ""); !slices.Contains(got, tt.actor+" user.created") {
					t.Errorf("denied events %v, want the refusal", got)
				}
				return
			case tt.wantFields != nil:
				if got := fields(err); !slices.Equal(got, tt.wantFields) {
					t.Fatalf("refused fields %v (err %v), want %v", got, err, tt.wantFields)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			stored, err := f.store.GetUserByUsername(ctx, "dave")
			if err != nil {
				t.Fatal(err)
			}
			if stored.ID != u.ID || stored.OrgUnitID != tt.in.OrgUnitID || !stored.MustChangePassword || stored.Email != storage.NormalizeEmail(tt.in.Email) {
				t.Errorf("stored %+v", stored)
			}
			if want := f.now.Add(oneTimeLifetime); !stored.OneTimePasswordExpiresAt.Equal(want) {
				t.Errorf("one-time password expires %v, want %v", stored.OneTimePasswordExpiresAt, want)
			}
			if ok, _, err := f.svc.hasher.Verify(ctx, stored.PasswordHash, pw); err != nil || !ok || len(pw) < 20 {
				t.Errorf("the one-time password %q does not verify against the stored hash (%v)", pw, err)
			}
			events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: u.ID, Action: "user.created"})
			if len(events) != 1 || events[0].Actor != tt.actor || events[0].OrgUnitID != tt.in.OrgUnitID {
				t.Errorf("audit: %+v", events)
			}
		})
	}
}

// TestManageCoversRoles: an org admin manages the users of their subtree,
// but not one who holds a role they could not grant.
func TestManageCoversRoles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for id, roles := range map[string][]storage.RoleBinding{
		"ward-global":  {{Role: storage.RoleGlobalAdmin}},
		"ward-england": {{Role: storage.RoleOrgAdmin, OrgUnitID: "england"}},
		"ward-helper":  {{Role: storage.RoleHelpdesk, OrgUnitID: "ward"}},
	} {
		if err := f.store.CreateUser(ctx, storage.User{ID: id, Username: id, OrgUnitID: "ward", Roles: roles}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		actor, user string
		want        bool
	}{
		{"wales-admin", "alice", true},
		{"wales-admin", "ward-helper", true},
		{"wales-admin", "ward-england", false},
		{"wales-admin", "ward-global", false},
		{"england-admin", "ward-england", false}, // not over ward
		{"global", "ward-global", true},
		{"wales-helpdesk", "alice", false},
	}
	for _, tt := range tests {
		u, _ := f.store.GetUser(ctx, tt.user)
		if got, err := f.svc.manages(ctx, f.actor[tt.actor].User, u); err != nil || got != tt.want {
			t.Errorf("manages(%s, %s) = %v, %v; want %v", tt.actor, tt.user, got, err, tt.want)
		}
		_, _, err := f.svc.ResetPassword(ctx, f.actor[tt.actor], tt.user)
		if tt.want != (err == nil) {
			t.Errorf("%s resetting %s's password: %v", tt.actor, tt.user, err)
		}
		if err := f.svc.ResetMFA(ctx, f.actor[tt.actor], tt.user); tt.want != (err == nil) {
			t.Errorf("%s resetting %s's MFA: %v", tt.actor, tt.user, err)
		}
		if !tt.want && !slices.Contains(f.denied(t, tt.user), tt.actor+" mfa.reset") {
			t.Errorf("%s resetting %s's MFA: no denied audit event", tt.actor, tt.user)
		}
	}
}

// TestResetPasswordExpiry: a reset gives a one-time password that expires
// one lifetime from the reset, whatever the last one's expiry was.
func TestResetPasswordExpiry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.now = f.now.Add(30 * 24 * time.Hour)
	pw, expires, err := f.svc.ResetPassword(ctx, f.actor["wales-admin"], "alice")
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.store.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	want := f.now.Add(oneTimeLifetime)
	if !u.MustChangePassword || !u.OneTimePasswordExpiresAt.Equal(want) || !expires.Equal(want) {
		t.Errorf("after a reset: must change %v, stored expiry %v, returned %v; want true, %v, %v", u.MustChangePassword, u.OneTimePasswordExpiresAt, expires, want, want)
	}
	if ok, _, err := f.svc.hasher.Verify(ctx, u.PasswordHash, pw); err != nil || !ok {
		t.Errorf("the one-time password does not verify against the stored hash (%v)", err)
	}
}

func TestDisableUser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	exp := f.now.Add(time.Hour)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.store.CreateSession(ctx, storage.Session{ID: "s1", UserID: "alice", ExpiresAt: exp}))
	must(f.store.CreateRefreshToken(ctx, storage.RefreshToken{Hash: "rt1", FamilyID: "f1", ClientID: "app", UserID: "alice", ExpiresAt: exp},
		storage.AccessToken{ID: "at1", ClientID: "app", Subject: "alice", FamilyID: "f1", ExpiresAt: exp}))

	if err := f.svc.SetDisabled(ctx, f.actor["england-admin"], "alice", true); !errors.Is(err, ErrForbidden) {
		t.Errorf("an org admin elsewhere disabled alice: %v", err)
	}
	must(f.svc.SetDisabled(ctx, f.actor["wales-admin"], "alice", true))
	u, _ := f.store.GetUser(ctx, "alice")
	sessions, _ := f.store.ListUserSessions(ctx, "alice")
	_, rtErr := f.store.GetRefreshToken(ctx, "rt1")
	_, atErr := f.store.GetAccessToken(ctx, "at1")
	if !u.Disabled || len(sessions) != 0 || !errors.Is(rtErr, storage.ErrNotFound) || !errors.Is(atErr, storage.ErrNotFound) {
		t.Errorf("after disabling: disabled %v, %d sessions, refresh token %v, access token %v", u.Disabled, len(sessions), rtErr, atErr)
	}
	must(f.svc.SetDisabled(ctx, f.actor["wales-admin"], "alice", false))
	if u, _ := f.store.GetUser(ctx, "alice"); u.Disabled {
		t.Error("still disabled after enabling")
	}
	err := f.svc.SetDisabled(ctx, f.actor["global"], "global", true)
	if fields(err) == nil {
		t.Errorf("an admin disabled themselves: %v", err)
	}
}

func TestMoveUser(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.svc.MoveUser(ctx, f.actor["wales-admin"], "alice", "england"); !errors.Is(err, ErrForbidden) {
		t.Errorf("a Wales admin moved alice to England: %v", err)
	}
	if _, err := f.svc.MoveUser(ctx, f.actor["england-admin"], "alice", "england"); !errors.Is(err, ErrForbidden) {
		t.Errorf("an England admin took alice from Wales: %v", err)
	}
	if got := f.denied(t, "alice"); !slices.Contains(got, "wales-admin user.moved") || !slices.Contains(got, "england-admin user.moved") {
		t.Errorf("denied events %v, want both refusals", got)
	}
	if _, err := f.svc.MoveUser(ctx, f.actor["wales-admin"], "alice", "nowhere"); !slices.Equal(fields(err), []string{"org_unit"}) {
		t.Errorf("move to a missing unit: %v", err)
	}
	u, err := f.svc.MoveUser(ctx, f.actor["wales-admin"], "alice", "wales")
	if err != nil || u.OrgUnitID != "wales" {
		t.Fatalf("move within Wales: %v, %+v", err, u)
	}
	if u, err = f.svc.MoveUser(ctx, f.actor["global"], "alice", "england"); err != nil || u.OrgUnitID != "england" {
		t.Fatalf("a global admin's move: %v, %+v", err, u)
	}
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: "alice", Action: "user.moved", Outcome: storage.OutcomeSuccess})
	if len(events) != 2 || events[0].Details["from"] != "wales" || events[0].Details["to"] != "england" {
		t.Errorf("audit: %+v", events)
	}
}

func TestUpdateProfile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.store.CreateUser(ctx, storage.User{ID: "carol", Username: "carol", Email: "carol@example.org", OrgUnitID: "england"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		p          Profile
		wantFields []string
	}{
		{"a taken email", Profile{DisplayName: "Alice", Email: "CAROL@example.org"}, []string{"email"}},
		{"no name", Profile{DisplayName: "  "}, []string{"display_name"}},
		{"all fine", Profile{DisplayName: "Alice Smith", Email: "alice@example.org"}, nil},
	}
	for _, tt := range tests {
		u, err := f.svc.UpdateProfile(ctx, f.actor["ward-helpdesk"], "alice", tt.p)
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("%s: a helpdesk member changed alice's details: %v", tt.name, err)
		}
		u, err = f.svc.UpdateProfile(ctx, f.actor["wales-admin"], "alice", tt.p)
		if got := fields(err); tt.wantFields != nil && !slices.Equal(got, tt.wantFields) {
			t.Errorf("%s: refused fields %v (%v), want %v", tt.name, got, err, tt.wantFields)
		}
		if tt.wantFields == nil && (err != nil || u.Email != "alice@example.org" || u.DisplayName != "Alice Smith") {
			t.Errorf("%s: %v, %+v", tt.name, err, u)
		}
	}
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: "alice", Action: "user.updated", Outcome: storage.OutcomeSuccess})
	if len(events) != 1 || events[0].Details["display_name"] != " -> Alice Smith" {
		t.Errorf("audit: %+v", events)
	}
}

func TestRoles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	org := storage.RoleBinding{Role: storage.RoleOrgAdmin, OrgUnitID: "wales"}
	if err := f.svc.GrantRole(ctx, f.actor["wales-admin"], "alice", org); !errors.Is(err, ErrForbidden) {
		t.Errorf("an org admin granted a role: %v", err)
	}
	if !slices.Contains(f.denied(t, "alice"), "wales-admin user.role_granted") {
		t.Error("the refused grant was not audited")
	}
	if err := f.svc.GrantRole(ctx, f.actor["global"], "alice", org); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.GrantRole(ctx, f.actor["global"], "alice", org); !slices.Equal(fields(err), []string{"role"}) {
		t.Errorf("granting a role twice: %v", err)
	}
	for _, b := range []storage.RoleBinding{{Role: "emperor", OrgUnitID: "wales"}, {Role: storage.RoleHelpdesk, OrgUnitID: "nowhere"}} {
		if err := f.svc.GrantRole(ctx, f.actor["global"], "alice", b); fields(err) == nil {
			t.Errorf("granting %+v: %v", b, err)
		}
	}
	if u, _ := f.store.GetUser(ctx, "alice"); !slices.Equal(u.Roles, []storage.RoleBinding{org}) {
		t.Errorf("roles %+v", u.Roles)
	}
	if err := f.svc.RemoveRole(ctx, f.actor["global"], "alice", org); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.store.GetUser(ctx, "alice"); len(u.Roles) != 0 {
		t.Errorf("roles after removal %+v", u.Roles)
	}
	if err := f.svc.RemoveRole(ctx, f.actor["global"], "global", storage.RoleBinding{Role: storage.RoleGlobalAdmin}); fields(err) == nil {
		t.Errorf("a global admin removed their own role: %v", err)
	}
}

// TestRecentSignIns: the user page lists the user's last ten sign-in
// steps, newest first, however long ago, and nothing else of theirs or of
// anyone else's.
func TestRecentSignIns(t *testing.T) {
	ctx := t.Context()
	f := newFixture(t)
	h := &Handler{store: f.store}
	if err := f.store.CreateClient(ctx, storage.Client{ID: "web", Name: "Web app", RedirectURIs: []string{"https://app.example.org/cb"}}); err != nil {
		t.Fatal(err)
	}
	long := f.now.AddDate(-1, -2, 0) // long before any cut-off
	for i, e := range []storage.AuditEvent{
		{Actor: "alice", Subject: "alice", Action: "login.password", Outcome: storage.OutcomeSuccess, IP: "192.0.2.1", Details: map[string]string{"client_id": "web"}},
		{Actor: "alice", Subject: "alice", Action: "login.decision", Outcome: storage.OutcomeSuccess, Details: map[string]string{"client_id": "gone", "outcome": "done"}},
		{Actor: "alice", Subject: "alice", Action: "login.password", Outcome: storage.OutcomeFailure},
		{Subject: "alice", Action: "login.password", Outcome: storage.OutcomeDenied, Details: map[string]string{"reason": "throttled"}},
		{Subject: "alice", Action: "login.locked", Outcome: storage.OutcomeDenied},
		{Actor: "bob", Subject: "bob", Action: "login.password", Outcome: storage.OutcomeSuccess},
		{Actor: "alice", Subject: "bob", Action: "login.password", Outcome: storage.OutcomeSuccess},
		{Actor: "global", Subject: "alice", Action: "mfa.reset", Outcome: storage.OutcomeSuccess},
	} {
		e.Time = long.Add(time.Duration(i) * time.Minute)
		if err := f.store.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := h.recentSignIns(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return long.Add(time.Duration(i) * time.Minute) }
	want := []templates.SignInRow{
		{At: at(4), Event: "Locked out", Outcome: "Refused"},
		{At: at(3), Event: "Password", Outcome: "Refused (throttled)"},
		{At: at(2), Event: "Password", Outcome: "Failed"},
		{At: at(1), Event: "Decision: signed in", Outcome: "Succeeded", App: "gone"},
		{At: at(0), Event: "Password", Outcome: "Succeeded", App: "Web app", IP: "192.0.2.1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sign-ins long ago: mismatch (-want +got):\n%s", diff)
	}

	for i := range 12 {
		e := storage.AuditEvent{Time: f.now.Add(time.Duration(i) * time.Second), Actor: "alice", Subject: "alice", Action: "login.password", Outcome: storage.OutcomeSuccess}
		if err := f.store.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err = h.recentSignIns(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var times []time.Time
	for _, r := range got {
		times = append(times, r.At)
	}
	var wantTimes []time.Time
	for i := 11; i > 1; i-- {
		wantTimes = append(wantTimes, f.now.Add(time.Duration(i)*time.Second))
	}
	if diff := cmp.Diff(wantTimes, times); diff != "" {
		t.Errorf("the last ten of many: mismatch (-want +got):\n%s", diff)
	}
}
