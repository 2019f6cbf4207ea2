package admin

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
)

// oneTimeLifetime is how long the fixture's one-time passwords work.
const oneTimeLifetime = 7 * 24 * time.Hour

// fixture is a store with a small tree (root > wales > ward, root >
// england), a user in ward with one method, and actors with each role.
type fixture struct {
	svc   *Service
	store storage.Storage
	now   time.Time
	user  storage.User
	actor map[string]Actor
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	// A scratch store: no fsync, which the fuzz targets' writes would wait on.
	store, err := bbolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bbolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), actor: map[string]Actor{}}
	f.svc = NewService(store, password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2),
		Config{PhoneRegions: []string{"GB"}, OneTimeLifetime: oneTimeLifetime, Now: func() time.Time { return f.now }, Logger: slog.New(slog.DiscardHandler)})
	for _, ou := range []storage.OrgUnit{{ID: "root"}, {ID: "wales", ParentID: "root"}, {ID: "ward", ParentID: "wales"}, {ID: "england", ParentID: "root"}} {
		if err := store.CreateOrgUnit(ctx, ou); err != nil {
			t.Fatal(err)
		}
	}
	add := func(name, ou string, roles ...storage.RoleBinding) storage.User {
		u := storage.User{ID: name, Username: name, OrgUnitID: ou, Roles: roles}
		if err := store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	f.user = add("alice", "ward")
	if err := store.CreateMethod(ctx, storage.Method{ID: "m1", UserID: "alice", Type: storage.MethodTOTP}); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]storage.RoleBinding{
		"global":          {Role: storage.RoleGlobalAdmin},
		"wales-admin":     {Role: storage.RoleOrgAdmin, OrgUnitID: "wales"},
		"wales-admin-2":   {Role: storage.RoleOrgAdmin, OrgUnitID: "wales"},
		"wales-helpdesk":  {Role: storage.RoleHelpdesk, OrgUnitID: "wales"},
		"england-admin":   {Role: storage.RoleOrgAdmin, OrgUnitID: "england"},
		"ward-helpdesk":   {Role: storage.RoleHelpdesk, OrgUnitID: "ward"},
		"england-helpdsk": {Role: storage.RoleHelpdesk, OrgUnitID: "england"},
	} {
		f.actor[name] = Actor{User: add(name, "root", b)}
	}
	f.actor["nobody"] = Actor{User: add("nobody", "ward")}
	return f
}

func TestCan(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		actor string
		ou    string
		roles []string
		want  bool
	}{
		{"global", "ward", nil, true},
		{"wales-admin", "ward", []string{storage.RoleOrgAdmin}, true},
		{"wales-admin", "wales", []string{storage.RoleOrgAdmin}, true},
		{"wales-admin", "root", []string{storage.RoleOrgAdmin}, false},
		{"wales-admin", "england", []string{storage.RoleOrgAdmin}, false},
		{"wales-helpdesk", "ward", []string{storage.RoleOrgAdmin}, false},
		{"wales-helpdesk", "ward", []string{storage.RoleOrgAdmin, storage.RoleHelpdesk}, true},
		{"england-admin", "ward", []string{storage.RoleOrgAdmin}, false},
		{"nobody", "ward", []string{storage.RoleOrgAdmin, storage.RoleHelpdesk}, false},
	}
	for _, tt := range tests {
		got, err := f.svc.Can(context.Background(), f.actor[tt.actor].User, tt.ou, tt.roles...)
		if err != nil || got != tt.want {
			t.Errorf("Can(%s, %s, %v) = %v, %v; want %v", tt.actor, tt.ou, tt.roles, got, err, tt.want)
		}
	}
}

func TestRequestException(t *testing.T) {
	ctx := context.Background()
	req := func(kind, reason, note, evidence string) ExceptionRequest {
		return ExceptionRequest{UserID: "alice", Kind: kind, Reason: reason, Note: note, Evidence: evidence}
	}
	short, long := storage.ExceptionShortTerm, storage.ExceptionLongTerm
	tests := []struct {
		name      string
		actor     string
		req       ExceptionRequest
		wantErr   error  // a sentinel, or nil
		wantField string // a factors.InputError's field
		wantState string
	}{
		{"helpdesk, short-term", "wales-helpdesk", req(short, "phone_lost", "", ""), nil, "", storage.ExceptionApproved},
		{"ward helpdesk, short-term", "ward-helpdesk", req(short, "no_notifications", "", ""), nil, "", storage.ExceptionApproved},
		{"global admin, short-term", "global", req(short, "phone_misplaced", "", ""), nil, "", storage.ExceptionApproved},
		{"other with a note", "wales-helpdesk", req(short, "other", "travelling, phone broken", ""), nil, "", storage.ExceptionApproved},
		{"other without a note", "wales-helpdesk", req(short, "other", " ", ""), nil, "note", ""},
		{"a long-term reason for a short-term one", "wales-helpdesk", req(short, "accessibility", "", ""), nil, "reason", ""},
		{"unknown kind", "wales-helpdesk", req("forever", "phone_lost", "", ""), nil, "kind", ""},
		{"outside the subtree", "england-helpdsk", req(short, "phone_lost", "", ""), ErrForbidden, "", ""},
		{"no role", "nobody", req(short, "phone_lost", "", ""), ErrForbidden, "", ""},
		{"long-term with evidence waits", "wales-helpdesk", req(long, "clinical_risk", "", "Risk assessment RA-17"), nil, "", storage.ExceptionRequested},
		{"long-term without evidence is rejected", "wales-helpdesk", req(long, "clinical_risk", "", ""), ErrEvidenceRequired, "evidence", storage.ExceptionRejected},
		{"a note of 2000 characters, not bytes", "wales-helpdesk", req(short, "other", strings.Repeat("é", 2000), ""), nil, "", storage.ExceptionApproved},
		{"a note over 2000 characters", "wales-helpdesk", req(short, "other", strings.Repeat("a", 2001), ""), nil, "note", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			e, err := f.svc.RequestException(ctx, f.actor[tt.actor], tt.req)
			var ie *factors.InputError
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.wantField != "" && (!errors.As(err, &ie) || ie.Field != tt.wantField):
				t.Fatalf("err = %v, want an input error on %s", err, tt.wantField)
			case tt.wantErr == nil && tt.wantField == "" && err != nil:
				t.Fatal(err)
			}
			stored, _ := f.store.ListUserExceptions(ctx, "alice")
			if tt.wantState == "" {
				if len(stored) != 0 {
					t.Errorf("a refused request stored %v", stored)
				}
				return
			}
			if len(stored) != 1 || stored[0].State != tt.wantState || e.State != tt.wantState {
				t.Fatalf("stored %+v, want one in state %s", stored, tt.wantState)
			}
			if tt.wantState == storage.ExceptionApproved && !e.ExpiresAt.Equal(f.now.Add(24*time.Hour)) {
				t.Errorf("expires %v, want in 24 hours", e.ExpiresAt)
			}
		})
	}

	t.Run("no method, no exception", func(t *testing.T) {
		f := newFixture(t)
		f.store.DeleteUserMethods(ctx, "alice")
		if _, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], req(short, "phone_lost", "", "")); err == nil {
			t.Fatal("an exception was made for a user with no method")
		}
	})
	t.Run("one at a time", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], req(short, "phone_lost", "", "")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], req(short, "no_signal", "", "")); err == nil {
			t.Fatal("a second exception was made while one is in force")
		}
		f.now = f.now.Add(24 * time.Hour)
		if _, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], req(short, "no_signal", "", "")); err != nil {
			t.Fatalf("after the first expired: %v", err)
		}
	})
}

func TestDecideAndRevokeException(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e, err := f.svc.RequestException(ctx, f.actor["wales-admin"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionLongTerm, Reason: "secure_location", Evidence: "Secure unit rota"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		actor string
		want  string
	}{
		{"wales-admin", "the requester"},
		{"wales-helpdesk", "helpdesk"},
		{"england-admin", "an admin outside the subtree"},
	} {
		if _, err := f.svc.DecideException(ctx, f.actor[tc.actor], e.ID, true, ""); err == nil {
			t.Errorf("%s approved a long-term exception", tc.want)
		}
	}
	// Notes go to the store and the audit log: they are bounded.
	var ie *factors.InputError
	if _, err := f.svc.DecideException(ctx, f.actor["wales-admin-2"], e.ID, true, strings.Repeat("a", 2001)); !errors.As(err, &ie) {
		t.Errorf("a decision note of 2001 characters: %v, want an input error", err)
	}
	f.now = f.now.Add(time.Hour)
	e, err = f.svc.DecideException(ctx, f.actor["wales-admin-2"], e.ID, true, "rota seen")
	if err != nil {
		t.Fatal(err)
	}
	if e.State != storage.ExceptionApproved || !e.ExpiresAt.Equal(f.now.Add(180*24*time.Hour)) || e.DecidedBy != "wales-admin-2" {
		t.Fatalf("approved: %+v", e)
	}
	if _, err := f.svc.DecideException(ctx, f.actor["global"], e.ID, false, ""); err == nil {
		t.Error("a decided request was decided again")
	}
	if _, err := f.svc.RevokeException(ctx, f.actor["england-helpdsk"], e.ID, ""); !errors.Is(err, ErrForbidden) {
		t.Errorf("revoke outside the subtree: %v, want ErrForbidden", err)
	}
	if _, err := f.svc.RevokeException(ctx, f.actor["ward-helpdesk"], e.ID, strings.Repeat("a", 2001)); !errors.As(err, &ie) {
		t.Errorf("a revocation note of 2001 characters: %v, want an input error", err)
	}
	if e, err = f.svc.RevokeException(ctx, f.actor["ward-helpdesk"], e.ID, "left the unit"); err != nil || e.State != storage.ExceptionRevoked {
		t.Fatalf("revoke: %v, %+v", err, e)
	}
	if _, err := f.svc.RevokeException(ctx, f.actor["ward-helpdesk"], e.ID, ""); err == nil {
		t.Error("a revoked exception was revoked again")
	}

	// Denied attempts are audited with their actor.
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: "alice"})
	denied := map[string]bool{}
	for _, ev := range events {
		if ev.Outcome == storage.OutcomeDenied {
			denied[ev.Actor+" "+ev.Action] = true
		}
	}
	for _, want := range []string{"wales-admin exception.approved", "wales-helpdesk exception.approved", "england-admin exception.approved", "england-helpdsk exception.revoked"} {
		if !denied[want] {
			t.Errorf("no denied audit event %q (have %v)", want, denied)
		}
	}
}

func TestResetMFA(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.store.CreateSession(ctx, storage.Session{ID: "s1", UserID: "alice", ExpiresAt: f.now.Add(time.Hour)})
	f.store.CreateRefreshToken(ctx, storage.RefreshToken{Hash: "rt1", FamilyID: "f1", UserID: "alice", ExpiresAt: f.now.Add(time.Hour)},
		storage.AccessToken{ID: "at1", Subject: "alice", FamilyID: "f1", ExpiresAt: f.now.Add(time.Hour)})
	for _, actor := range []string{"wales-helpdesk", "england-admin"} {
		if err := f.svc.ResetMFA(ctx, f.actor[actor], "alice"); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s reset alice's MFA: %v, want ErrForbidden", actor, err)
		}
	}
	if err := f.svc.ResetMFA(ctx, f.actor["wales-admin"], "alice"); err != nil {
		t.Fatal(err)
	}
	methods, _ := f.store.ListUserMethods(ctx, "alice")
	sessions, _ := f.store.ListUserSessions(ctx, "alice")
	u, _ := f.store.GetUser(ctx, "alice")
	if len(methods) != 0 || len(sessions) != 0 || !u.MFAResetAt.Equal(f.now) || u.MFAEnabled {
		t.Errorf("after reset: %d methods, %d sessions, reset at %v, MFA on %v", len(methods), len(sessions), u.MFAResetAt, u.MFAEnabled)
	}
	if _, err := f.store.GetRefreshToken(ctx, "rt1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after reset the refresh token is still there: %v", err)
	}
}

// TestConcurrentShortTermExceptions: of several short-term exceptions
// granted for one user at the same moment, one is made.
func TestConcurrentShortTermExceptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
		})
	}
	wg.Wait()
	list, _ := f.store.ListUserExceptions(ctx, "alice")
	if len(list) != 1 {
		t.Errorf("%d exceptions made, want 1", len(list))
	}
}

// TestExceptionOnlyForRolesTheActorCouldGrant: an exception, like a reset,
// is for an account holding no role beyond what the actor could grant: a
// helpdesk member cannot waive an org admin's second factor, nor an org
// admin a global admin's.
func TestExceptionOnlyForRolesTheActorCouldGrant(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	short := func(user string) ExceptionRequest {
		return ExceptionRequest{UserID: user, Kind: storage.ExceptionShortTerm, Reason: "phone_lost"}
	}
	wardAdmin := storage.User{ID: "ward-admin", Username: "ward-admin", OrgUnitID: "ward", Roles: []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "ward"}}}
	boss := storage.User{ID: "boss", Username: "boss", OrgUnitID: "ward", Roles: []storage.RoleBinding{{Role: storage.RoleGlobalAdmin}}}
	for _, u := range []storage.User{wardAdmin, boss} {
		if err := f.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := f.store.CreateMethod(ctx, storage.Method{ID: "m-" + u.ID, UserID: u.ID, Type: storage.MethodTOTP}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		actor, user string
		allowed     bool
	}{
		{"wales-helpdesk", "ward-admin", false},
		{"ward-helpdesk", "ward-admin", false},
		{"wales-admin", "boss", false},
		{"wales-admin", "ward-admin", true},
		{"global", "boss", true},
	} {
		_, err := f.svc.RequestException(ctx, f.actor[tc.actor], short(tc.user))
		if tc.allowed != (err == nil) || !tc.allowed && !errors.Is(err, ErrForbidden) {
			t.Errorf("%s grants %s an exception: err %v, want allowed %v", tc.actor, tc.user, err, tc.allowed)
		}
	}
	// Approving a long-term one is giving it: the same rule.
	boss.ID, boss.Username = "boss-2", "boss-2"
	if err := f.store.CreateUser(ctx, boss); err != nil {
		t.Fatal(err)
	}
	f.store.CreateMethod(ctx, storage.Method{ID: "m-boss-2", UserID: boss.ID, Type: storage.MethodTOTP})
	e, err := f.svc.RequestException(ctx, f.actor["global"], ExceptionRequest{UserID: boss.ID, Kind: storage.ExceptionLongTerm, Reason: "accessibility", Evidence: "OH report"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DecideException(ctx, f.actor["wales-admin"], e.ID, true, ""); !errors.Is(err, ErrForbidden) {
		t.Errorf("an org admin approves a global admin's exception: err %v, want ErrForbidden", err)
	}
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: "ward-admin", Outcome: storage.OutcomeDenied})
	if len(events) != 2 || events[0].Details["reason"] != "the user holds roles beyond the actor's" {
		t.Errorf("denied requests for the ward admin audited as %+v, want 2 saying why", events)
	}
}

// TestLongTermReplacesShortTerm: a short-term exception bridges until a
// long-term one is approved, which replaces it (the store ends it in the
// same transaction); the replacement is audited. Nothing replaces a
// long-term exception.
func TestLongTermReplacesShortTerm(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	short, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	long, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionLongTerm, Reason: "accessibility", Evidence: "OH report"})
	if err != nil {
		t.Fatalf("a long-term request while a short-term exception bridges: %v", err)
	}
	f.now = f.now.Add(time.Hour)
	if long, err = f.svc.DecideException(ctx, f.actor["wales-admin"], long.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.GetException(ctx, short.ID); got.State != storage.ExceptionRevoked || !got.RevokedAt.Equal(f.now) {
		t.Errorf("the short-term exception after the long-term approval: %+v", got)
	}
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: "alice", Action: "exception.revoked"})
	if len(events) != 1 || events[0].Details["exception"] != short.ID || !strings.Contains(events[0].Details["reason"], long.ID) {
		t.Errorf("audit of the replacement: %+v", events)
	}
	var ie *factors.InputError
	if _, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionShortTerm, Reason: "no_signal"}); !errors.As(err, &ie) {
		t.Errorf("a short-term exception while a long-term one is in force: %v, want an input error", err)
	}
	if _, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionLongTerm, Reason: "clinical_risk", Evidence: "x"}); !errors.As(err, &ie) {
		t.Errorf("a second long-term request while one is in force: %v, want an input error", err)
	}
}

// TestRoleGrantEndsAnExceptionBeyondItsGrantor: a helpdesk member's
// exception for a plain user ends when the user is made an org admin (the
// helpdesk could not have given it then); an org admin's for a user made
// helpdesk stays.
func TestRoleGrantEndsAnExceptionBeyondItsGrantor(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ex, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.GrantRole(ctx, f.actor["global"], "alice", storage.RoleBinding{Role: storage.RoleOrgAdmin, OrgUnitID: "ward"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.GetException(ctx, ex.ID); got.State != storage.ExceptionRevoked {
		t.Errorf("the helpdesk's exception after alice became an org admin: %s, want revoked", got.State)
	}
	bob := storage.User{ID: "bob", Username: "bob", OrgUnitID: "ward"}
	f.store.CreateUser(ctx, bob)
	f.store.CreateMethod(ctx, storage.Method{ID: "m-bob", UserID: "bob", Type: storage.MethodTOTP})
	ex, err = f.svc.RequestException(ctx, f.actor["wales-admin"], ExceptionRequest{UserID: "bob", Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.GrantRole(ctx, f.actor["global"], "bob", storage.RoleBinding{Role: storage.RoleHelpdesk, OrgUnitID: "ward"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.GetException(ctx, ex.ID); !got.InForce(f.now) {
		t.Errorf("the org admin's exception after bob became helpdesk: %s, want in force", got.State)
	}
}

// TestResetMFARevokesExceptions: an exception covers a method out of
// reach; once an MFA reset leaves none, it would let the password in
// alone, so the reset revokes it, audited.
func TestResetMFARevokesExceptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ex, err := f.svc.RequestException(ctx, f.actor["wales-helpdesk"], ExceptionRequest{UserID: "alice", Kind: storage.ExceptionShortTerm, Reason: "phone_lost"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.ResetMFA(ctx, f.actor["wales-admin"], "alice"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.GetException(ctx, ex.ID); got.State != storage.ExceptionRevoked {
		t.Errorf("the exception after an MFA reset: %s, want revoked", got.State)
	}
	events, _ := f.store.ListAudit(ctx, storage.AuditQuery{Subject: "alice", Action: "exception.revoked"})
	if len(events) != 1 || events[0].Details["reason"] != "mfa reset" {
		t.Errorf("audit of the revocation: %+v", events)
	}
}
