package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
)

// TestMigrate: a bbolt store holding every lasting kind, made by a server
// and a real sign-in, is copied into PostgreSQL and back into a new bbolt
// file, and each copy's counts match the source's. A server on the last
// copy, with the first one's mfa.key, signs the user in with their
// password and authenticator app, takes the client's secret, refreshes
// the refresh token issued before the moves and still knows the access
// token. A target that is not empty is refused, and a DSN that cannot be
// used is one line.
func TestMigrate(t *testing.T) {
	ctx := t.Context()
	var dataDir string
	e := newSeededEnv(t, nil, func(c *Config) { dataDir = c.DataDir })
	alice := e.addUser("alice", alicePassword)
	app := e.addRP("app", false)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)
	key := b.enrolTOTP("Phone")
	e.clock.Advance(30 * time.Second) // the enrolment's code is spent
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	tok, err := app.exchange(a, b.codeFrom(b.passChallenge(b.submitPassword(b.get(a.url), "alice", alicePassword), e.totpCode(key)), a))
	if err != nil {
		t.Fatal(err)
	}
	fillRest(t, e, alice)
	e.srv.Close()
	e.store.Close()
	source := countStore(t, func() (storage.Storage, error) {
		return bbolt.Open(filepath.Join(dataDir, "gatehouse.db"), bbolt.Options{})
	})
	for _, k := range storage.CopyKinds {
		if source[k] == 0 {
			t.Errorf("the source holds no %s: fill it with one", k)
		}
	}

	dsn := pgtest.NewDatabase(t)
	out, err := gatehouse(t, ctx, "migrate", "--to", "postgres", "--dsn", dsn, "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("migrate --to postgres: %v\n%s", err, out)
	}
	checkCountTable(t, "migrate --to postgres", out, source)
	out, err = gatehouse(t, ctx, "migrate", "--to", "postgres", "--dsn", dsn, "--data-dir", dataDir)
	checkOneLine(t, "migrate into a PostgreSQL database holding the copy", err, out, "the target is not empty (it holds 1 org units,")
	out, err = gatehouse(t, ctx, "migrate", "--to", "postgres", "--dsn", "postgres://gatehouse@127.0.0.1:1/none?connect_timeout=2", "--data-dir", dataDir)
	checkOneLine(t, "migrate with a DSN that cannot connect", err, out, "--dsn: cannot use the PostgreSQL database")

	back := t.TempDir()
	fromPostgres := []string{"migrate", "--to", "bbolt", "--storage.driver", "postgres", "--storage.dsn", dsn, "--data-dir", back}
	out, err = gatehouse(t, ctx, fromPostgres...)
	if err != nil {
		t.Fatalf("migrate --to bbolt: %v\n%s", err, out)
	}
	checkCountTable(t, "migrate --to bbolt", out, source)
	out, err = gatehouse(t, ctx, fromPostgres...)
	checkOneLine(t, "migrate into a bbolt file holding the copy", err, out, "the target is not empty")
	got := countStore(t, func() (storage.Storage, error) {
		return bbolt.Open(filepath.Join(back, "gatehouse.db"), bbolt.Options{})
	})
	if diff := cmp.Diff(source, got); diff != "" {
		t.Errorf("the bbolt copy after a refused migrate (-source +copy):\n%s", diff)
	}

	// A server on the copy of the copy, with the original mfa.key.
	e2 := newSeededEnv(t, nil, func(c *Config) { c.DataDir, c.MFA.KeyFile = back, filepath.Join(dataDir, "mfa.key") })
	e2.clock.Advance(time.Minute) // past the last code used before the moves
	app2 := e2.relyingParty(app.client, app.secret)
	b2 := e2.newBrowser()
	a = app2.authorize()
	p := b2.passChallenge(b2.submitPassword(b2.get(a.url), "alice", alicePassword), e2.totpCode(key))
	tok2, err := app2.exchange(a, b2.codeFrom(p, a))
	if err != nil {
		t.Fatalf("signing in on the copy: %v", err)
	}
	if tok2.claims["acr"] != "mfa" || tok2.claims["sub"] != alice.ID {
		t.Errorf("signed in on the copy: acr %v, sub %v; want mfa and %s", tok2.claims["acr"], tok2.claims["sub"], alice.ID)
	}
	if in := app2.introspect(tok.AccessToken); in["active"] != true {
		t.Errorf("an access token from before the moves, on the copy: %v, want active", in)
	}
	if _, err := app2.refresh(tok.RefreshToken); err != nil {
		t.Errorf("refreshing a refresh token from before the moves, on the copy: %v", err)
	}
}

// fillRest stores, beside what a server and a sign-in made, one of each
// lasting kind they did not.
func fillRest(t *testing.T, e *env, alice storage.User) {
	ctx := context.Background()
	now := e.clock.Now()
	bob := e.addUser("bob", alicePassword)
	for what, err := range map[string]error{
		"exception": e.store.CreateException(ctx, storage.Exception{ID: storage.NewID(), UserID: bob.ID, OrgUnitID: bob.OrgUnitID,
			Kind: storage.ExceptionShortTerm, Reason: "phone_lost", State: storage.ExceptionApproved, RequestedBy: alice.ID, RequestedAt: now,
			DecidedBy: alice.ID, DecidedAt: now, ExpiresAt: now.Add(24 * time.Hour)}),
		"app password": e.store.CreateAppPassword(ctx, storage.AppPassword{ID: storage.NewID(), UserID: bob.ID, Name: "Mail",
			Hash: []byte("sha-256 of it"), CreatedAt: now}),
		"protected app": e.store.CreateClient(ctx, storage.Client{ID: "wiki", Name: "Wiki", MinimumACR: "mfa", CreatedAt: now,
			Forward: &storage.ForwardAuth{Host: "wiki.example.org", AppPasswords: true}}),
		"notification": e.store.Atomically(ctx, func(tx storage.Tx) error {
			return tx.AddNotification(storage.Notification{ID: storage.NewID(), UserID: bob.ID, Channel: storage.ChannelEmail, To: bob.Email,
				Event: "exception.approved", Subject: "An exception", Text: "An exception.", State: storage.NotificationPending,
				NextAttemptAt: now, CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)})
		}),
		"remembered device": second(e.store.RememberDevice(ctx, storage.RememberedDevice{ID: storage.NewID(), UserID: alice.ID,
			BrowserHash: []byte("browser"), CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)})),
		"settings": second(e.store.UpdateSettings(ctx, func(s storage.Settings) (storage.Settings, error) {
			s.Notices = map[string]bool{"mfa.method_added": false}
			return s, nil
		})),
	} {
		if err != nil {
			t.Fatalf("store %s: %v", what, err)
		}
	}
}

func second[T, U any](_ T, err U) U { return err }

// countStore opens a store, counts it and closes it.
func countStore(t *testing.T, open func() (storage.Storage, error)) storage.Counts {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var countRow = regexp.MustCompile(`(?m)^([a-z ]+?)\s+(\d+)\s+(\d+)\s*(differs)?$`)

// checkCountTable checks migrate's table of counts against want, on both
// sides.
func checkCountTable(t *testing.T, what, out string, want storage.Counts) {
	t.Helper()
	source, target := storage.Counts{}, storage.Counts{}
	for _, m := range countRow.FindAllStringSubmatch(out, -1) {
		source[storage.Kind(m[1])], _ = strconv.Atoi(m[2])
		target[storage.Kind(m[1])], _ = strconv.Atoi(m[3])
	}
	for side, got := range map[string]storage.Counts{"source": source, "target": target} {
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: the table's %s counts (-want +got):\n%s\n%s", what, side, diff, out)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("copied %d records", want.Total())) {
		t.Errorf("%s: no total of %d records copied:\n%s", what, want.Total(), out)
	}
}

// checkOneLine checks that a command failed with an error of one line
// holding want.
func checkOneLine(t *testing.T, what string, err error, out, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("%s: got error %v, want one line holding %q\n%s", what, err, want, out)
	}
}

// fakeSource is a store to migrate from that exports the batches given
// and counts what it is told to.
type fakeSource struct {
	batches []storage.Records
	counts  storage.Counts
}

func (f fakeSource) Export(_ context.Context, _ int, fn func(storage.Records) error) error {
	for _, r := range f.batches {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (f fakeSource) Restore(context.Context, storage.Records) error {
	return errors.New("not a target")
}

func (f fakeSource) Count(context.Context) (storage.Counts, error) { return f.counts, nil }

// TestMigrateFails: a copy whose counts differ from the source's fails;
// one that fails midway says so, and what is left of the target: a new
// bbolt file is removed; a PostgreSQL database is left for the operator
// to drop, unless nothing was written to it.
func TestMigrateFails(t *testing.T) {
	ctx := t.Context()
	root := storage.OrgUnit{ID: "root", Name: "Root"}
	lost := storage.User{ID: "u1", Username: "alice", OrgUnitID: "nowhere"}
	for _, tt := range []struct {
		name string
		to   string
		from fakeSource
		want []string
	}{
		{"counts differ", driverBbolt, fakeSource{[]storage.Records{{OrgUnits: []storage.OrgUnit{root}}}, storage.Counts{storage.KindOrgUnits: 2}},
			[]string{"the copy's count of org units differs from the source's", "removed the partial copy"}},
		{"a write fails", driverBbolt, fakeSource{[]storage.Records{{OrgUnits: []storage.OrgUnit{root}}, {Users: []storage.User{lost}}}, nil},
			[]string{"write the copy", "user u1", "org unit nowhere is missing", "removed the partial copy"}},
		{"nothing written", driverPostgres, fakeSource{[]storage.Records{{Users: []storage.User{lost}}}, nil},
			[]string{"write the copy", "user u1", "nothing was written"}},
		{"part written", driverPostgres, fakeSource{[]storage.Records{{OrgUnits: []storage.OrgUnit{root}}, {Users: []storage.User{lost}}}, nil},
			[]string{"write the copy", "user u1", "holds part of the copy: drop it"}},
	} {
		cfg := defaultConfig()
		cfg.DataDir = t.TempDir()
		var dsn string
		if tt.to == driverPostgres {
			dsn = pgtest.NewDatabase(t)
		}
		dst, err := openTarget(ctx, cfg, tt.to, dsn)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var out bytes.Buffer
		err = migrate(ctx, tt.from, dst.store, &out, &out)
		if err == nil {
			t.Errorf("%s: migrate succeeded:\n%s", tt.name, out.String())
			dst.store.Close()
			continue
		}
		err = dst.fail(err)
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: got error %q, want it to hold %q", tt.name, err, want)
			}
		}
		if _, statErr := os.Stat(dbPath(cfg)); tt.to == driverBbolt && !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("%s: the partial copy is still at %s", tt.name, dbPath(cfg))
		}
	}
}
