package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestThrottleHoldsUnderParallelGuesses: guesses sent all at once are
// admitted only while those in flight, were they all to fail, would not
// lock the account, so no more get checked than the free budget allows,
// however many arrive together.
func TestThrottleHoldsUnderParallelGuesses(t *testing.T) {
	e, app := newAliceEnv(t)
	const n = 30
	pages := make([]page, n)
	var wg sync.WaitGroup
	for i := range n {
		b := e.newBrowser()
		_, p := e.startSignIn(b, app)
		wg.Go(func() { pages[i] = b.submitPassword(p, "alice", "wrong password") })
	}
	wg.Wait()
	checked := 0
	for _, p := range pages {
		switch p.status() {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("parallel guess: status %d", p.status())
		}
	}
	// Five are free; the sixth is charged into a lock but still checked.
	if checked > 6 {
		t.Errorf("%d of %d parallel guesses were checked, want at most 6", checked, n)
	}
}

// TestRushFromOneAddress: at the start of a shift a whole site signs in
// at once from one public address. None of 200 correct sign-ins at once is
// refused, by the start budget or the failure throttle, and the next round
// goes through as well (it would not, were finished sign-ins counted
// against the start budget); a guesser at one account from the same address,
// meanwhile, still gets no more guesses checked than the account's budget.
// Only real failures count against an account or an address.
func TestRushFromOneAddress(t *testing.T) {
	t.Parallel() // long: overlap it with the other slow tests
	e := newSeededEnv(t, nil, func(c *Config) {
		c.Limits.AuthRequestsPerMinute = defaultConfig().Limits.AuthRequestsPerMinute
	})
	e.addUser("alice", alicePassword)
	app := e.addRP("app", false)
	const guesses = 20
	rounds := []int{200, 100} // sign-ins at once: with the guesses, more than the start budget of 300
	for i := range rounds[0] {
		e.addUser(fmt.Sprint("user", i), alicePassword)
	}
	checked := 0 // guesses checked
	for round, n := range rounds {
		browsers, auths, pages := make([]*browser, n), make([]authorization, n), make([]page, n)
		guessed := make([]page, guesses)
		var wg sync.WaitGroup
		for i := range n {
			browsers[i], auths[i] = e.newBrowser(), app.authorize()
			wg.Go(func() {
				b := browsers[i]
				pages[i] = b.submitPassword(b.get(auths[i].url), fmt.Sprint("user", i), alicePassword)
			})
		}
		for i := range guesses {
			b := e.newBrowser()
			wg.Go(func() {
				guessed[i] = b.submitPassword(b.get(app.authorize().url), "alice", fmt.Sprint("guess ", round, i))
			})
		}
		wg.Wait()

		refused := 0
		for i, p := range pages {
			if p.location().Host != e.rpHost {
				refused++
				if refused == 1 {
					t.Errorf("round %d: a correct sign-in was refused: status %d\n%s", round, p.status(), p.body)
				}
				continue
			}
			if code := browsers[i].codeFrom(p, auths[i]); i < 10 { // a few to show the codes work
				if _, err := app.exchange(auths[i], code); err != nil {
					t.Errorf("round %d: exchange for user%d: %v", round, i, err)
				}
			}
		}
		if refused > 0 {
			t.Fatalf("round %d: %d of %d correct sign-ins from one address were refused", round, refused, n)
		}
		for _, p := range guessed {
			switch p.status() {
			case http.StatusUnauthorized:
				checked++
			case http.StatusTooManyRequests:
			default:
				t.Errorf("round %d: guess: status %d", round, p.status())
			}
		}
	}
	// Five are free, the sixth checked into a lock; fewer when guesses
	// wait for those in flight.
	if checked == 0 || checked > 6 {
		t.Errorf("%d of %d guesses at one account were checked, want 1 to 6", checked, 2*guesses)
	}
}

// TestKnownDeviceKeepsItsBudget: an attacker who locks an account does not
// lock out a browser the user has signed in from before.
func TestKnownDeviceKeepsItsBudget(t *testing.T) {
	e, app := newAliceEnv(t)
	users := e.newBrowser()
	a := app.authorize()
	if _, err := app.exchange(a, users.signIn(app, a, "alice", alicePassword)); err != nil {
		t.Fatal(err)
	}
	attacker := e.newBrowser()
	_, p := e.startSignIn(attacker, app)
	for range 10 {
		p = attacker.submitPassword(p, "alice", "guess")
	}
	if p = attacker.submitPassword(p, "alice", alicePassword); p.status() != http.StatusTooManyRequests {
		t.Fatalf("attacker's browser after 10 guesses: status %d, want 429", p.status())
	}
	a = app.authorize(oauth2.SetAuthURLParam("prompt", "login"))
	if _, err := app.exchange(a, users.codeFrom(users.submitPassword(users.get(a.url), "alice", alicePassword), a)); err != nil {
		t.Errorf("the user's own browser during the attack: %v", err)
	}
}

// TestOneTimePasswordGivesNoSession: abandoning the change-password step
// leaves the browser without a session, so a one-time password alone never
// completes a sign-in.
func TestOneTimePasswordGivesNoSession(t *testing.T) {
	e, app := newAliceEnv(t)
	u, err := e.store.GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	e.store.UpdateUser(context.Background(), u.ID, func(u storage.User) (storage.User, error) {
		u.MustChangePassword, u.OneTimePasswordExpiresAt = true, e.clock.Now().Add(time.Hour)
		return u, nil
	})
	b := e.newBrowser()
	_, p := e.startSignIn(b, app)
	if p = b.submitPassword(p, "alice", alicePassword); !strings.Contains(p.body, "Choose a new password") {
		t.Fatalf("expected the change-password page, got %d", p.status())
	}
	a := app.authorize(oauth2.SetAuthURLParam("prompt", "none"))
	if q := b.get(a.url).location().Query(); q.Get("error") != "login_required" {
		t.Errorf("prompt=none after abandoning the change: %v, want login_required", q)
	}
	a = app.authorize()
	if p := b.get(a.url); !strings.Contains(p.body, `name="password"`) {
		t.Errorf("a new sign-in after abandoning the change did not ask for the password: status %d", p.status())
	}
}

// TestClientMinimumACR: a client that requires more than a password gets
// unmet_authentication_requirements, never a weaker token.
func TestClientMinimumACR(t *testing.T) {
	e, _ := newAliceEnv(t)
	strict := e.addRP("strict", false)
	e.store.UpdateClient(context.Background(), "strict", func(c storage.Client) (storage.Client, error) {
		c.MinimumACR = "mfa"
		return c, nil
	})
	b := e.newBrowser()
	a := strict.authorize()
	p := b.submitPassword(b.get(a.url), "alice", alicePassword)
	q := p.location().Query()
	if q.Get("error") != "unmet_authentication_requirements" || q.Get("code") != "" || q.Get("state") != a.state {
		t.Errorf("redirect = %v, want error=unmet_authentication_requirements with state and no code", q)
	}
}

// TestCodeWithoutVerifierIsNotBurned: a code presented without its PKCE
// verifier is refused and stays usable by its rightful holder; a replay
// after the exchange revokes even a token issued without a refresh token.
func TestCodeWithoutVerifierIsNotBurned(t *testing.T) {
	e, _ := newAliceEnv(t)
	r := e.addRP("noofflineapp", false)
	r.oauth.Scopes = []string{"openid", "profile"}
	b := e.newBrowser()
	a := r.authorize()
	code := b.signIn(r, a, "alice", alicePassword)
	if _, err := r.oauth.Exchange(r.ctx(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("wrong verifier: %v, want invalid_grant", err)
	}
	tok, err := r.exchange(a, code)
	if err != nil {
		t.Fatalf("the rightful exchange after a failed one: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Fatal("got a refresh token without offline_access")
	}
	if _, err := r.exchange(a, code); !isOAuthError(err, "invalid_grant") {
		t.Fatalf("replayed code: %v, want invalid_grant", err)
	}
	if in := r.introspect(tok.AccessToken); in["active"] != false {
		t.Errorf("access token after the code was replayed: %v, want inactive", in)
	}
}

// TestControlCharactersInSignInName: a name holding a NUL byte or other
// control characters, or one far longer than any username, is a wrong
// password like any other, never a 500, and is throttled like one.
func TestControlCharactersInSignInName(t *testing.T) {
	e, app := newAliceEnv(t)
	for _, name := range []string{"ali\x00ce", "\x00", "alice\r\nadmin", "\x1b[31malice", strings.Repeat("a", 10000)} {
		b := e.newBrowser()
		_, p := e.startSignIn(b, app)
		if p = b.submitPassword(p, name, "a password"); p.status() != http.StatusUnauthorized || !strings.Contains(p.body, "The username or password is incorrect.") {
			t.Errorf("sign-in name %q: status %d, want 401 and the usual message", name[:min(len(name), 20)], p.status())
		}
	}
	b := e.newBrowser()
	_, p := e.startSignIn(b, app)
	for range 7 {
		p = b.submitPassword(p, "ali\x00ce", "a password")
	}
	if p.status() != http.StatusTooManyRequests {
		t.Errorf("the seventh guess at a name with a NUL byte: status %d, want 429", p.status())
	}
}

// TestSignInFromBeforeRequirements: a sign-in an older Gatehouse began
// (its auth request holds no requirement, so what the app asked for is
// lost) is not finished with less than was asked: it must start again.
func TestSignInFromBeforeRequirements(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	_, p := e.startSignIn(b, app, oauth2.SetAuthURLParam("acr_values", "phr"))
	id := p.form().Get("id")
	if _, err := e.store.UpdateAuthRequest(context.Background(), id, func(a storage.AuthRequest) (storage.AuthRequest, error) {
		a.Requirement = storage.Requirement{}
		return a, nil
	}); err != nil {
		t.Fatal(err)
	}
	p = b.submitPassword(p, "alice", alicePassword)
	if p.location().Host == e.rpHost || !strings.Contains(p.body, "This sign-in link has expired") {
		t.Errorf("a sign-in from before requirements: status %d, location %v", p.status(), p.location())
	}
}
