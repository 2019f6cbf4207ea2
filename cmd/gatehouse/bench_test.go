package main

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Benchmarks of the fully wired server over HTTP on loopback, driven by the
// libraries a relying party uses. ns/op is a whole request as a client sees
// it: client, HTTP, op, storage and its fsync. The client shares the
// machine's cores with the server, so req/s is a floor, not a ceiling; the
// load tool (cmd/gatehouse-load) measures a separate server process.
//
//	go test -run '^$' -bench . -benchtime 2s ./cmd/gatehouse/

const benchPassword = "correct horse battery"

// reportRate adds requests (or flows) per second to the benchmark's output.
func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit+"/s")
}

// benchContext carries an HTTP client whose transport keeps a connection per
// concurrent caller: the default two idle connections per host would make
// parallel benchmarks measure TCP handshakes.
func benchContext(b *testing.B, conns int) context.Context {
	t := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}
	b.Cleanup(t.CloseIdleConnections)
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: t})
}

func (r *relyingParty) clientCredentials() *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: r.client.ID, ClientSecret: r.secret, TokenURL: r.provider.Endpoint().TokenURL}
}

// BenchmarkClientCredentials is one client asking for tokens back to back:
// the token endpoint's latency. Each token is one write, committed (and
// fsynced) at once when no other write is in flight.
func BenchmarkClientCredentials(b *testing.B) {
	e := newEnv(b)
	cc := e.addRP("svc", false, provider.GrantClientCredentials).clientCredentials()
	ctx := benchContext(b, 1)
	for b.Loop() {
		if _, err := cc.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "req")
}

// BenchmarkClientCredentialsJWTParallel is BenchmarkClientCredentialsParallel
// for a client that takes JWT access tokens: no write, a signature each,
// with RS256 and ES256 keys.
func BenchmarkClientCredentialsJWTParallel(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			e := newSeededEnv(b, nil, func(c *Config) { c.Keys.SigningAlgorithm = alg })
			cc := e.addRP("svc", false, provider.GrantClientCredentials).clientCredentials()
			e.setClient("svc", func(c *storage.Client) { c.AccessTokenFormat = storage.AccessTokenJWT })
			tokensInParallel(b, cc)
		})
	}
}

// BenchmarkClientCredentialsParallel is many clients at once: the token
// endpoint's throughput, with concurrent writes sharing a commit (and fsync).
func BenchmarkClientCredentialsParallel(b *testing.B) {
	e := newEnv(b)
	tokensInParallel(b, e.addRP("svc", false, provider.GrantClientCredentials).clientCredentials())
}

// tokensInParallel asks for tokens from 8 × GOMAXPROCS callers at once.
func tokensInParallel(b *testing.B, cc *clientcredentials.Config) {
	b.SetParallelism(8)
	ctx := benchContext(b, 64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cc.Token(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, "req")
}

// BenchmarkRefresh rotates a refresh token every iteration: a lookup, one
// write (old token marked, new tokens stored) and an RS256-signed ID token.
func BenchmarkRefresh(b *testing.B) {
	e := newEnv(b)
	e.addUser("alice", benchPassword)
	r := e.addRP("app", false)
	a := r.authorize()
	tok, err := r.exchange(a, e.newBrowser().signIn(r, a, "alice", benchPassword))
	if err != nil {
		b.Fatal(err)
	}
	rt := tok.RefreshToken
	ctx := benchContext(b, 1)
	for b.Loop() {
		next, err := r.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Unix(1, 0)}).Token()
		if err != nil {
			b.Fatal(err)
		}
		rt = next.RefreshToken
	}
	reportRate(b, "req")
}

// BenchmarkIntrospect asks about one opaque access token: client
// authentication, token decryption and a read, no write.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b)
	svc := e.addRP("svc", false, provider.GrantClientCredentials)
	tok, err := svc.clientCredentials().Token(svc.ctx())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if in := svc.introspect(tok.AccessToken); in["active"] != true {
			b.Fatalf("introspection = %v, want active", in)
		}
	}
	reportRate(b, "req")
}

// BenchmarkSSOAuthorize is a signed-in browser starting a sign-in for an app:
// /authorize, the dispatcher's session check, the callback, and the
// redirect with a code. Three HTTP round trips and five small commits per op
// (the auth request stored, marked done and marked answered; an audit event;
// the code).
func BenchmarkSSOAuthorize(b *testing.B) {
	benchSSO(b, newEnv(b))
}

// BenchmarkSSOAuthorizeManyUsers is BenchmarkSSOAuthorize in a store with
// 100,000 more users, each with a live session. Session and user look-ups are
// B-tree searches, so ns/op should match BenchmarkSSOAuthorize's.
func BenchmarkSSOAuthorizeManyUsers(b *testing.B) {
	const n = 100_000
	start := time.Now()
	e := newSeededEnv(b, func(ctx context.Context, store storage.Storage, root storage.OrgUnit) {
		seedUsers(b, ctx, store, root, n)
	})
	b.Logf("seeded %d users and sessions in %s", n, time.Since(start).Round(time.Millisecond))
	benchSSO(b, e)
}

func benchSSO(b *testing.B, e *env) {
	e.addUser("alice", benchPassword)
	app := e.addRP("app", false)
	br := e.newBrowser()
	a := app.authorize()
	br.signIn(app, a, "alice", benchPassword)
	for b.Loop() {
		a := app.authorize()
		if code := br.codeFrom(br.get(a.url), a); code == "" {
			b.Fatal("no code")
		}
	}
	reportRate(b, "sso")
}

// seedUsers stores n users, each with a session, through the storage API.
// They share one cheap password hash: nobody signs in as them. Users are
// written one at a time, one commit each (about 0.1 ms without fsync).
// Sessions are written by many writers at once, so that they share
// commits. Ids are generated in ascending order,
// so each commit appends to the B-trees rather than touching pages all over
// them: loading takes half the time it would.
func seedUsers(b *testing.B, ctx context.Context, store storage.Storage, root storage.OrgUnit, n int) {
	b.Helper()
	hash, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1).Hash(ctx, benchPassword)
	if err != nil {
		b.Fatal(err)
	}
	// Loading allocates heavily and keeps little: collect less often.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	now := time.Now().UTC()
	userIDs, sessionIDs := sortedIDs(n), sortedIDs(n)
	for i, id := range userIDs {
		u := storage.User{
			ID: id, Username: fmt.Sprintf("user%06d", i), Email: fmt.Sprintf("user%06d@example.org", i),
			DisplayName: fmt.Sprintf("User %d", i), PasswordHash: hash, OrgUnitID: root.ID, CreatedAt: now, UpdatedAt: now,
		}
		if err := store.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	const workers = 256
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				s := storage.Session{ID: sessionIDs[i], UserID: userIDs[i], AuthTime: now, AMR: []string{"pwd"}, ACR: "pwd",
					CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour)}
				if err := store.CreateSession(ctx, s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

func sortedIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = storage.NewID()
	}
	slices.Sort(ids)
	return ids
}
