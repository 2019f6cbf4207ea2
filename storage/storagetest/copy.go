package storagetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunCopyTests checks storage.Copier between two backends: newFrom and
// newTo each return a new, empty store, closed when t ends. RunTests runs
// it with one backend on both sides; a backend's tests may run it again
// from and to another backend.
func RunCopyTests(t *testing.T, newFrom, newTo func(t *testing.T) storage.Storage) {
	t.Run("Copy", func(t *testing.T) { t.Parallel(); testCopy(t, newFrom(t), newTo(t)) })
}

// copyBatch is small, so that every kind with more than two records is
// exported, and restored, in several batches.
const copyBatch = 2

// copied are the records fillEveryKind stores whose lookups are checked
// on a copy.
type copied struct {
	now                       time.Time
	rotated, current          storage.RefreshToken
	familyAccess, clientCreds storage.AccessToken
	device                    storage.RememberedDevice
}

// fillEveryKind stores at least one record of every kind, lasting and
// not, through the contract's ordinary writes.
func fillEveryKind(t *testing.T, s storage.Storage) copied {
	ctx := t.Context()
	now := testNow()
	c := copied{now: now}
	// a-clinic sorts before its parent: export must still give the parent first.
	must(t, "create root", s.CreateOrgUnit(ctx, storage.OrgUnit{ID: "root", Name: "Trust", MFA: storage.MFAOptional, CreatedAt: now}))
	for _, ou := range []storage.OrgUnit{
		{ID: "ward", Name: "Ward 7", ParentID: "root", MFA: storage.MFARequired, CreatedAt: now, PhoneRegions: []string{"GB", "IE"}},
		{ID: "a-clinic", Name: "Clinic", ParentID: "ward", MFA: storage.MFAInherit, CreatedAt: now},
		{ID: "b-office", Name: "Office", ParentID: "root", MFA: storage.MFAPrompted, CreatedAt: now},
	} {
		must(t, "create "+ou.ID, s.CreateOrgUnit(ctx, ou))
	}

	alice := newUser("u-alice", "alice", "alice@example.org", now)
	alice.DisplayName, alice.OrgUnitID = "Alice Smith", "ward"
	alice.Roles = []storage.RoleBinding{{Role: storage.RoleGlobalAdmin}}
	bob := newUser("u-bob", "bob", "bob@example.org", now)
	bob.DisplayName, bob.OrgUnitID, bob.MFAEnabled = "Bob Jones", "a-clinic", false
	carol := newUser("u-carol", "carol", "", now)
	carol.DisplayName, carol.Roles = "Carol Mary-Jane", nil
	for _, u := range []storage.User{alice, bob, carol} {
		must(t, "create "+u.Username, s.CreateUser(ctx, u))
	}

	must(t, "create TOTP", s.CreateMethod(ctx, storage.Method{ID: "m-totp", UserID: alice.ID, Type: storage.MethodTOTP, Name: "Phone",
		CreatedAt: now, LastUsedAt: now, Secret: []byte("sealed key"), LastStep: 12345}))
	must(t, "create spent pass", s.CreateMethod(ctx, storage.Method{ID: "m-spent", UserID: bob.ID, Type: storage.MethodPass,
		CreatedAt: now.Add(-2 * time.Hour), Data: []byte("hash"), ExpiresAt: now.Add(-time.Hour)}))
	must(t, "create pass", s.CreateMethod(ctx, storage.Method{ID: "m-pass", UserID: carol.ID, Type: storage.MethodPass,
		CreatedAt: now, Data: []byte("hash"), ExpiresAt: now.Add(time.Hour)}))

	approved := inForce("ex-bob", now)
	approved.UserID, approved.Kind, approved.Evidence = bob.ID, storage.ExceptionLongTerm, "Occupational health letter"
	must(t, "create exception", s.CreateException(ctx, approved))
	must(t, "create requested exception", s.CreateException(ctx, storage.Exception{ID: "ex-carol", UserID: carol.ID, OrgUnitID: "root",
		Kind: storage.ExceptionShortTerm, Reason: "phone_lost", State: storage.ExceptionRequested, RequestedBy: alice.ID, RequestedAt: now}))

	must(t, "create client", s.CreateClient(ctx, storage.Client{ID: "web", Name: "Rota", SecretHash: []byte("secret hash"),
		RedirectURIs: []string{"https://rota.example.org/callback"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		MinimumACR: "mfa", RefreshTokenLifetime: time.Hour, CreatedAt: now}))
	must(t, "create app", s.CreateClient(ctx, storage.Client{ID: "wiki", Name: "Wiki", CreatedAt: now,
		Forward: &storage.ForwardAuth{Host: "Wiki.Example.org", PathPrefix: "/w/", OrgUnitIDs: []string{"ward"}, AppPasswords: true}}))

	var err error
	c.device, err = s.RememberDevice(ctx, newDevice("d-alice", alice.ID, 7, now))
	must(t, "RememberDevice", err)
	must(t, "create app password", s.CreateAppPassword(ctx, newAppPassword("ap-bob", bob.ID, now)))

	c.rotated, c.current = newRefreshToken("rt-1", alice.ID, "fam", now), newRefreshToken("rt-2", alice.ID, "fam", now)
	c.familyAccess = newAccessToken("at-fam", alice.ID, "fam", now)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, c.rotated, newAccessToken("at-first", alice.ID, "fam", now)))
	must(t, "RotateRefreshToken", s.RotateRefreshToken(ctx, c.rotated.Hash, now, c.current, c.familyAccess))
	c.rotated.RotatedAt = now
	c.clientCreds = newAccessToken("at-client", "web", "", now)
	must(t, "CreateAccessToken", s.CreateAccessToken(ctx, c.clientCreds))

	sent := newNotification("n-sent", bob.ID, now, now)
	sent.State, sent.SentAt, sent.Attempts = storage.NotificationSent, now, 1
	add(t, s, newNotification("n-due", alice.ID, now.Add(-time.Minute), now), sent)

	for i, e := range []storage.AuditEvent{
		{Time: now.Add(-time.Hour), Actor: alice.ID, Subject: bob.ID, OrgUnitID: "a-clinic", Action: "exception.approved", Outcome: storage.OutcomeSuccess},
		{Time: now, Actor: alice.ID, Subject: alice.ID, OrgUnitID: "ward", Action: "login", Outcome: storage.OutcomeSuccess,
			IP: "192.0.2.1", UserAgent: "Firefox", Details: map[string]string{"client_id": "web"}},
		{Time: now, Actor: "cli", Subject: "web", Action: "client.created", Outcome: storage.OutcomeSuccess},
		{Time: now.Add(time.Second), Subject: carol.ID, Action: "login", Outcome: storage.OutcomeFailure},
	} {
		must(t, fmt.Sprint("AppendAudit ", i), s.AppendAudit(ctx, e))
	}

	_, err = s.UpdateSigningKeys(ctx, func([]storage.SigningKey) ([]storage.SigningKey, error) {
		return []storage.SigningKey{
			{ID: "k2", Algorithm: "ES256", PrivateDER: []byte("der 2"), CreatedAt: now, ActivatesAt: now.Add(10 * time.Minute)},
			{ID: "k1", Algorithm: "RS256", PrivateDER: []byte("der 1"), CreatedAt: now.Add(-time.Hour), RetiredAt: now, DeleteAfter: now.Add(time.Hour)},
		}, nil
	})
	must(t, "UpdateSigningKeys", err)
	for purpose, n := range map[string]int{"cookie-keys": 2, "csrf": 1} {
		_, err := s.UpdateSecrets(ctx, purpose, func([]storage.Secret) ([]storage.Secret, error) {
			var list []storage.Secret
			for i := range n {
				list = append(list, storage.Secret{Value: []byte(fmt.Sprint(purpose, i)), CreatedAt: now.Add(-time.Duration(i) * time.Hour)})
			}
			return list, nil
		})
		must(t, "UpdateSecrets "+purpose, err)
	}
	_, err = s.UpdateSettings(ctx, func(storage.Settings) (storage.Settings, error) {
		return storage.Settings{Notices: map[string]bool{"mfa.method_added": false}}, nil
	})
	must(t, "UpdateSettings", err)

	// What lives with a browser, and is not copied.
	must(t, "CreateSession", s.CreateSession(ctx, newSession("sess", alice.ID, now)))
	must(t, "CreateAuthRequest", s.CreateAuthRequest(ctx, newAuthRequest("ar", now)))
	must(t, "SaveAuthCode", s.SaveAuthCode(ctx, storage.AuthCode{Hash: "code", AuthRequestID: "ar", ExpiresAt: now.Add(time.Minute)}))
	must(t, "CreateChallenge", s.CreateChallenge(ctx, storage.Challenge{ID: "ch", UserID: alice.ID, Type: storage.MethodTOTP,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}))
	_, err = s.UpdateAttempts(ctx, "account:alice", func(a storage.Attempts) (storage.Attempts, error) {
		a.Failures, a.LastFailure, a.ExpiresAt = 1, now, now.Add(time.Hour)
		return a, nil
	})
	must(t, "UpdateAttempts", err)
	return c
}

// everyKind is what fillEveryKind stores of each lasting kind.
var everyKind = storage.Counts{
	storage.KindOrgUnits: 4, storage.KindUsers: 3, storage.KindMethods: 3, storage.KindExceptions: 2, storage.KindClients: 2,
	storage.KindRememberedDevices: 1, storage.KindAppPasswords: 1, storage.KindRefreshTokens: 2, storage.KindAccessTokens: 3,
	storage.KindNotifications: 2, storage.KindAudit: 4, storage.KindSigningKeys: 2, storage.KindSecrets: 3, storage.KindSettings: 1,
}

// exportAll exports s whole, checking each batch: at most copyBatch
// records (but the signing keys and secrets, whole), one kind each, the
// kinds in CopyKinds order. It returns the records with each kind in id
// order, but org units, in the order exported.
func exportAll(t *testing.T, s storage.Copier) storage.Records {
	t.Helper()
	var all storage.Records
	last := -1
	err := s.Export(t.Context(), copyBatch, func(r storage.Records) error {
		var kinds []storage.Kind
		for k, n := range r.Counts() {
			if n > 0 {
				kinds = append(kinds, k)
			}
			if n > copyBatch && k != storage.KindSigningKeys && k != storage.KindSecrets {
				t.Errorf("Export: a batch of %d %s, want at most %d", n, k, copyBatch)
			}
		}
		if len(kinds) != 1 {
			t.Errorf("Export: a batch of %v, want one kind", kinds)
			return nil
		}
		if i := slices.Index(storage.CopyKinds, kinds[0]); i < last {
			t.Errorf("Export: %s after %s, want CopyKinds order", kinds[0], storage.CopyKinds[last])
		} else {
			last = i
		}
		all.OrgUnits = append(all.OrgUnits, r.OrgUnits...)
		all.Users = append(all.Users, r.Users...)
		all.Methods = append(all.Methods, r.Methods...)
		all.Exceptions = append(all.Exceptions, r.Exceptions...)
		all.Clients = append(all.Clients, r.Clients...)
		all.RememberedDevices = append(all.RememberedDevices, r.RememberedDevices...)
		all.AppPasswords = append(all.AppPasswords, r.AppPasswords...)
		all.RefreshTokens = append(all.RefreshTokens, r.RefreshTokens...)
		all.AccessTokens = append(all.AccessTokens, r.AccessTokens...)
		all.Notifications = append(all.Notifications, r.Notifications...)
		all.Audit = append(all.Audit, r.Audit...)
		all.SigningKeys = append(all.SigningKeys, r.SigningKeys...)
		if r.Secrets != nil {
			all.Secrets = r.Secrets
		}
		if r.Settings != nil {
			all.Settings = r.Settings
		}
		return nil
	})
	must(t, "Export", err)
	sortByID(all.Users, func(u storage.User) string { return u.ID })
	sortByID(all.Methods, func(m storage.Method) string { return m.ID })
	sortByID(all.Exceptions, func(e storage.Exception) string { return e.ID })
	sortByID(all.Clients, func(c storage.Client) string { return c.ID })
	sortByID(all.RememberedDevices, func(d storage.RememberedDevice) string { return d.ID })
	sortByID(all.AppPasswords, func(p storage.AppPassword) string { return p.ID })
	sortByID(all.RefreshTokens, func(rt storage.RefreshToken) string { return rt.Hash })
	sortByID(all.AccessTokens, func(at storage.AccessToken) string { return at.ID })
	sortByID(all.Notifications, func(n storage.Notification) string { return n.ID })
	sortByID(all.Audit, func(e storage.AuditEvent) string { return e.ID })
	return all
}

func sortByID[T any](list []T, id func(T) string) {
	slices.SortFunc(list, func(a, b T) int { return cmp.Compare(id(a), id(b)) })
}

// checkTreeOrder fails t unless each unit comes after its parent.
func checkTreeOrder(t *testing.T, units []storage.OrgUnit) {
	t.Helper()
	seen := map[string]bool{"": true}
	for _, ou := range units {
		if !seen[ou.ParentID] {
			t.Errorf("Export: org unit %s before its parent %s", ou.ID, ou.ParentID)
		}
		seen[ou.ID] = true
	}
}

// testCopy: a store copied into an empty one holds the same lasting
// records, found by every look-up, and none of the browser's.
func testCopy(t *testing.T, from, to storage.Storage) {
	ctx := t.Context()
	empty, err := to.Count(ctx)
	must(t, "Count of an empty store", err)
	if empty.Total() != 0 {
		t.Errorf("Count of an empty store: %v, want nothing", empty)
	}
	must(t, "Export of an empty store", to.Export(ctx, copyBatch, func(r storage.Records) error {
		t.Errorf("Export of an empty store gave %v", r.Counts())
		return nil
	}))

	c := fillEveryKind(t, from)
	now := c.now
	counts, err := from.Count(ctx)
	must(t, "Count", err)
	check(t, "Count", counts, everyKind)

	written, err := storage.Copy(ctx, from, to, copyBatch, nil)
	must(t, "Copy", err)
	check(t, "Copy's count of what it wrote", written, everyKind)
	got, err := to.Count(ctx)
	must(t, "Count of the copy", err)
	check(t, "Count of the copy", got, everyKind)

	want := exportAll(t, from)
	checkTreeOrder(t, want.OrgUnits)
	dup := exportAll(t, to)
	checkTreeOrder(t, dup.OrgUnits)
	check(t, "the copy's records", dup, want, sortOrgUnits)

	checkCopyLookups(t, from, to, c)

	// What lived with a browser stayed behind.
	for what, err := range map[string]error{
		"session":      second(to.GetSession(ctx, "sess")),
		"auth request": second(to.GetAuthRequest(ctx, "ar")),
		"auth code":    second(to.GetAuthCode(ctx, "code")),
		"challenge":    second(to.GetChallenge(ctx, "ch")),
		"attempts":     second(to.GetAttempts(ctx, "account:alice")),
	} {
		checkErr(t, what+" in the copy", err, storage.ErrNotFound)
	}

	// The expiry index came along: the spent pass is swept, the live one stays.
	_, err = to.DeleteExpired(ctx, now)
	must(t, "DeleteExpired", err)
	_, err = to.GetMethod(ctx, "m-spent")
	checkErr(t, "expired pass after DeleteExpired", err, storage.ErrNotFound)
	_, err = to.GetMethod(ctx, "m-pass")
	checkErr(t, "live pass after DeleteExpired", err, nil)

	// A copy refuses to be copied into again.
	_, err = storage.Copy(ctx, from, to, copyBatch, nil)
	checkErr(t, "Copy into a store holding the records", err, storage.ErrAlreadyExists)
}

func second[T any](_ T, err error) error { return err }

// checkCopyLookups checks that every look-up finds on the copy what it
// finds on the original: each index was written with its records.
func checkCopyLookups(t *testing.T, from, to storage.Storage, c copied) {
	ctx := t.Context()
	now := c.now

	for _, lookup := range []struct {
		what string
		get  func(s storage.Storage) (any, error)
	}{
		{"GetUserByUsername", func(s storage.Storage) (any, error) { return s.GetUserByUsername(ctx, "Alice") }},
		{"GetUserByEmail", func(s storage.Storage) (any, error) { return s.GetUserByEmail(ctx, "BOB@example.org") }},
		{"ListUsers", func(s storage.Storage) (any, error) { return listAllUsers(t, s, copyBatch), nil }},
		{"SearchUsers by text", func(s storage.Storage) (any, error) {
			return searchAll(t, s, storage.UserQuery{Text: "jane"}), nil
		}},
		{"SearchUsers by unit", func(s storage.Storage) (any, error) {
			return searchAll(t, s, storage.UserQuery{OrgUnitIDs: []string{"ward", "a-clinic"}}), nil
		}},
		{"SearchUsers by MFA and method", func(s storage.Storage) (any, error) {
			return searchAll(t, s, storage.UserQuery{MFA: "on", Method: storage.MethodTOTP}), nil
		}},
		{"ListAdmins", func(s storage.Storage) (any, error) { return s.ListAdmins(ctx) }},
		{"CountUsers", func(s storage.Storage) (any, error) { return s.CountUsers(ctx, "a-clinic") }},
		{"ListUserMethods", func(s storage.Storage) (any, error) { return s.ListUserMethods(ctx, "u-alice") }},
		{"ListUserExceptions", func(s storage.Storage) (any, error) { return s.ListUserExceptions(ctx, "u-bob") }},
		{"ListExceptions", func(s storage.Storage) (any, error) { return s.ListExceptions(ctx, storage.ExceptionRequested) }},
		{"FindProtectedApp", func(s storage.Storage) (any, error) {
			return s.FindProtectedApp(ctx, "wiki.example.ORG", "/w/Main_Page")
		}},
		{"GetClient", func(s storage.Storage) (any, error) { return s.GetClient(ctx, "web") }},
		{"FindRememberedDevice", func(s storage.Storage) (any, error) {
			return s.FindRememberedDevice(ctx, "u-alice", c.device.BrowserHash)
		}},
		{"ListUserRememberedDevices", func(s storage.Storage) (any, error) { return s.ListUserRememberedDevices(ctx, "u-alice") }},
		{"ListUserAppPasswords", func(s storage.Storage) (any, error) { return s.ListUserAppPasswords(ctx, "u-bob") }},
		{"GetRefreshToken", func(s storage.Storage) (any, error) { return s.GetRefreshToken(ctx, c.rotated.Hash) }},
		{"GetAccessToken", func(s storage.Storage) (any, error) { return s.GetAccessToken(ctx, c.clientCreds.ID) }},
		{"ListUserNotifications", func(s storage.Storage) (any, error) { return s.ListUserNotifications(ctx, "u-alice", 0) }},
		{"ListAudit", func(s storage.Storage) (any, error) { return s.ListAudit(ctx, storage.AuditQuery{}) }},
		{"ListAudit by user", func(s storage.Storage) (any, error) { return s.ListAudit(ctx, storage.AuditQuery{User: "u-alice"}) }},
		{"ListAudit by subject, paged", func(s storage.Storage) (any, error) {
			all, err := s.ListAudit(ctx, storage.AuditQuery{Subject: "u-bob", Limit: 1})
			if err != nil || len(all) == 0 {
				return all, err
			}
			return s.ListAudit(ctx, storage.AuditQuery{Before: all[0].ID, Limit: 2})
		}},
		{"ListSigningKeys", func(s storage.Storage) (any, error) { return s.ListSigningKeys(ctx) }},
		{"UpdateSecrets", func(s storage.Storage) (any, error) {
			return s.UpdateSecrets(ctx, "cookie-keys", noChange[[]storage.Secret])
		}},
		{"GetSettings", func(s storage.Storage) (any, error) { return s.GetSettings(ctx) }},
	} {
		want, err := lookup.get(from)
		must(t, lookup.what+" on the original", err)
		got, err := lookup.get(to)
		must(t, lookup.what+" on the copy", err)
		check(t, lookup.what+" on the copy", got, want)
	}

	// Unique keys hold on the copy.
	checkErr(t, "a second app at the copied app's host", to.CreateClient(ctx, storage.Client{ID: "wiki2", Name: "Wiki 2",
		CreatedAt: now, Forward: &storage.ForwardAuth{Host: "wiki.example.org", PathPrefix: "/w/"}}), storage.ErrAlreadyExists)
	checkErr(t, "a second user named alice", to.CreateUser(ctx, newUser("u-alice2", "alice", "", now)), storage.ErrAlreadyExists)
	checkErr(t, "a unit with users deleted", to.DeleteOrgUnit(ctx, "a-clinic"), storage.ErrNotEmpty)
	checkErr(t, "a unit with children deleted", to.DeleteOrgUnit(ctx, "ward"), storage.ErrNotEmpty)

	// The rotated token is still known as rotated, and its family is
	// found by index.
	checkErr(t, "rotating a rotated token on the copy",
		to.RotateRefreshToken(ctx, c.rotated.Hash, now, newRefreshToken("rt-3", "u-alice", "fam", now), newAccessToken("at-3", "u-alice", "fam", now)),
		storage.ErrTokenRotated)
	_, err := to.GetAccessToken(ctx, c.familyAccess.ID)
	checkErr(t, "the family's access token after reuse", err, storage.ErrNotFound)
	_, err = to.GetAccessToken(ctx, c.clientCreds.ID)
	checkErr(t, "another access token after reuse", err, nil)

	// The due index came along.
	claimed, err := to.ClaimNotifications(ctx, now, time.Minute, 10)
	must(t, "ClaimNotifications", err)
	check(t, "claimed on the copy", ids(claimed), []string{"n-due"})

	// An event appended at the moment of a copied one gets an id of its own.
	must(t, "AppendAudit on the copy", to.AppendAudit(ctx, storage.AuditEvent{Time: now, Actor: "cli", Action: "after", Outcome: storage.OutcomeSuccess}))
	events, err := to.ListAudit(ctx, storage.AuditQuery{Since: now, Until: now.Add(time.Nanosecond)})
	must(t, "ListAudit", err)
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			t.Errorf("two audit events with id %s on the copy", e.ID)
		}
		seen[e.ID] = true
	}
	if len(events) != 3 || events[0].Action != "after" {
		t.Errorf("events at %v on the copy: got %+v; want 3, newest the one appended", now, events)
	}
}

// testRestore: Restore writes a batch whole or not at all, refuses a
// record whose id or unique key is taken and one that refers to a
// missing org unit, and what it writes is found as the contract's own
// writes are.
func testRestore(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	now := testNow()
	createUnits(t, s)
	alice := newUser("u1", "alice", "alice@example.org", now)
	must(t, "create alice", s.CreateUser(ctx, alice))

	runErrCases(t, []errCase{
		{"a unit under a missing one", restoreFunc(s, storage.Records{OrgUnits: []storage.OrgUnit{{ID: "lost", ParentID: "nowhere"}}}), storage.ErrConflict},
		{"a second root", restoreFunc(s, storage.Records{OrgUnits: []storage.OrgUnit{{ID: "root2"}}}), storage.ErrConflict},
		{"a taken unit id", restoreFunc(s, storage.Records{OrgUnits: []storage.OrgUnit{{ID: "root"}}}), storage.ErrAlreadyExists},
		{"a user in a missing unit", restoreFunc(s, storage.Records{Users: []storage.User{func() storage.User {
			u := newUser("u2", "bob", "", now)
			u.OrgUnitID = "nowhere"
			return u
		}()}}), storage.ErrConflict},
		{"a taken user id", restoreFunc(s, storage.Records{Users: []storage.User{newUser("u1", "bob", "", now)}}), storage.ErrAlreadyExists},
		{"a taken username", restoreFunc(s, storage.Records{Users: []storage.User{newUser("u2", "alice", "", now)}}), storage.ErrAlreadyExists},
		{"a taken email", restoreFunc(s, storage.Records{Users: []storage.User{newUser("u2", "bob", "alice@example.org", now)}}), storage.ErrAlreadyExists},
		// The batch is one transaction: bob, before the taken id, is not kept.
		{"a batch with a taken id", restoreFunc(s, storage.Records{
			Users: []storage.User{newUser("u2", "bob", "", now)}, Methods: []storage.Method{{ID: "m1", UserID: "u2"}, {ID: "m1", UserID: "u2"}},
		}), storage.ErrAlreadyExists},
	})
	_, err := s.GetUser(ctx, "u2")
	checkErr(t, "a user of a batch refused", err, storage.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "bob")
	checkErr(t, "a user of a batch refused, by username", err, storage.ErrNotFound)

	// Each kind once, as given; and again, refused.
	event := storage.AuditEvent{ID: fmt.Sprintf("%016x%016x", now.UnixNano(), 7), Time: now, Actor: "u1", Action: "login", Outcome: storage.OutcomeSuccess}
	bob := newUser("u2", "Bob", "Bob@Example.org", now) // as given: not normalised
	kinds := []storage.Records{
		{OrgUnits: []storage.OrgUnit{{ID: "ward", Name: "Ward", ParentID: "root", MFA: storage.MFARequired, CreatedAt: now}}},
		{Users: []storage.User{bob}},
		{Methods: []storage.Method{{ID: "m1", UserID: "u1", Type: storage.MethodTOTP, CreatedAt: now, Secret: []byte("sealed")}}},
		{Exceptions: []storage.Exception{inForce("e1", now)}},
		{Clients: []storage.Client{{ID: "app", Name: "App", CreatedAt: now, Forward: &storage.ForwardAuth{Host: "app.example.org"}}}},
		{RememberedDevices: []storage.RememberedDevice{newDevice("d1", "u1", 1, now)}},
		{AppPasswords: []storage.AppPassword{newAppPassword("ap1", "u1", now)}},
		{RefreshTokens: []storage.RefreshToken{newRefreshToken("rt1", "u1", "f1", now)}},
		{AccessTokens: []storage.AccessToken{newAccessToken("at1", "u1", "f1", now)}},
		{Notifications: []storage.Notification{newNotification("n1", "u1", now, now)}},
		{Audit: []storage.AuditEvent{event}},
		{SigningKeys: []storage.SigningKey{{ID: "k1", Algorithm: "RS256", PrivateDER: []byte("der"), CreatedAt: now}}},
		{Secrets: map[string][]storage.Secret{"cookie-keys": {{Value: []byte("key"), CreatedAt: now}}}},
		{Settings: &storage.Settings{Notices: map[string]bool{"login": true}}},
	}
	for _, r := range kinds {
		must(t, fmt.Sprint("Restore ", r.Counts()), s.Restore(ctx, r))
		checkErr(t, fmt.Sprint("Restore again ", r.Counts()), s.Restore(ctx, r), storage.ErrAlreadyExists)
	}
	counts, err := s.Count(ctx)
	must(t, "Count", err)
	want := storage.Counts{}
	for _, k := range storage.CopyKinds {
		want[k] = 1
	}
	want[storage.KindOrgUnits], want[storage.KindUsers] = 2, 2
	check(t, "Count after restoring each kind", counts, want)

	got, err := s.GetUser(ctx, "u2")
	must(t, "GetUser of a restored user", err)
	check(t, "a restored user", got, bob)
	// Found by the unit and term indexes too.
	check(t, "SearchUsers for a restored user", searchAll(t, s, storage.UserQuery{Text: "user u2", OrgUnitIDs: []string{"root"}}), []string{"Bob"})
	app, err := s.FindProtectedApp(ctx, "APP.example.org", "/")
	must(t, "FindProtectedApp of a restored app", err)
	check(t, "a restored app", app.ID, "app")
	d, err := s.FindRememberedDevice(ctx, "u1", []byte{1, 0, 1})
	must(t, "FindRememberedDevice of a restored device", err)
	check(t, "a restored device", d.ID, "d1")
	events, err := s.ListAudit(ctx, storage.AuditQuery{User: "u1"})
	must(t, "ListAudit", err)
	check(t, "a restored audit event", events, []storage.AuditEvent{event})
	// The next event appended at the same moment gets a number past the
	// restored one's.
	must(t, "AppendAudit", s.AppendAudit(ctx, storage.AuditEvent{Time: now, Actor: "u1", Action: "logout", Outcome: storage.OutcomeSuccess}))
	events, err = s.ListAudit(ctx, storage.AuditQuery{User: "u1"})
	must(t, "ListAudit", err)
	if len(events) != 2 || events[0].Action != "logout" || events[0].ID <= event.ID {
		t.Errorf("after AppendAudit at a restored event's time: got %+v, want the new event first, its id after %s", events, event.ID)
	}
}

func restoreFunc(s storage.Storage, r storage.Records) func(context.Context) error {
	return func(ctx context.Context) error { return s.Restore(ctx, r) }
}
