package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"
)

// The sign-in scenario runs what a browser and an app do: /authorize, the
// password page, the authenticator app's code when the user has one, and
// the code exchange. Each sign-in is a new browser (no single sign-on) as
// a new user: user0, user1, … in turn (see seed), so an authenticator
// app's code is not used twice within its 30 seconds while the users
// outnumber 30 seconds of sign-ins.

// totpKey is user's authenticator app key, made from seed: the seed
// command stores it, and the sign-in scenario computes its codes.
func totpKey(seed, user string) []byte {
	mac := hmac.New(sha256.New, []byte(seed))
	mac.Write([]byte(user))
	return mac.Sum(nil)[:20]
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formOf is the hidden fields of the page's form posting to action.
func formOf(body, action string) (url.Values, bool) {
	i := strings.Index(body, `action="`+action+`"`)
	if i < 0 {
		return nil, false
	}
	end := strings.Index(body[i:], "</form>")
	if end < 0 {
		end = len(body) - i
	}
	f := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(body[i:i+end], -1) {
		f.Set(m[1], html.UnescapeString(m[2]))
	}
	return f, true
}

// browser is one sign-in's user agent: a cookie jar over the loader's
// connections, following redirects on the issuer's host by hand.
type browser struct {
	l      *loader
	client *http.Client
}

func (l *loader) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *l.client
	c.Jar = jar
	return &browser{l: l, client: &c}
}

// page is a response read whole.
type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(ctx context.Context, method, target string, form url.Values) (page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return page{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return page{}, err
	}
	p := page{status: resp.StatusCode, body: string(raw)}
	if loc, err := resp.Location(); err == nil {
		p.location = loc.String()
	}
	return p, nil
}

// follow goes on from p through the issuer's redirects, and stops at a
// page or at a redirect leaving the issuer (to the app).
func (b *browser) follow(ctx context.Context, p page) (page, error) {
	for hops := 0; p.location != "" && strings.HasPrefix(p.location, b.l.cfg.issuer); hops++ {
		if hops == 10 {
			return p, fmt.Errorf("too many redirects, at %s", p.location)
		}
		var err error
		if p, err = b.do(ctx, http.MethodGet, p.location, nil); err != nil {
			return p, err
		}
	}
	return p, nil
}

// signIn runs one whole sign-in for user and returns its tokens' refresh
// token (if any) and the result: "200", or the step that failed and how.
func (l *loader) signIn(ctx context.Context, user string) (refreshToken string, r result) {
	r = result{kind: "signin", status: "transport error"}
	start := time.Now()
	defer func() { r.latency = time.Since(start) }()
	fail := func(step string, p page, err error) (string, result) {
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil:
			r.status = step + " transport error"
		default:
			r.status = fmt.Sprintf("%s %d", step, p.status)
		}
		return "", r
	}

	verifier, state := randomString(), randomString()
	challenge := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {l.cfg.clientID}, "redirect_uri": {l.cfg.redirectURI}, "response_type": {"code"},
		"scope": {l.cfg.scope}, "state": {state}, "nonce": {randomString()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"},
	}
	b := l.newBrowser()
	p, err := b.do(ctx, http.MethodGet, l.endpoints.Authorization+"?"+q.Encode(), nil)
	if err == nil {
		p, err = b.follow(ctx, p)
	}
	f, ok := formOf(p.body, "/login/password")
	if err != nil || !ok {
		return fail("authorize", p, err)
	}
	f.Set("username", user)
	f.Set("password", l.cfg.password)
	if p, err = b.do(ctx, http.MethodPost, l.cfg.issuer+"/login/password", f); err == nil {
		p, err = b.follow(ctx, p)
	}
	if f, ok := formOf(p.body, "/login/second-factor"); err == nil && ok {
		if l.cfg.totpSeed == "" {
			return fail("second factor (no -totp-seed)", p, nil)
		}
		key := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(totpKey(l.cfg.totpSeed, user))
		code, err := totp.GenerateCode(key, time.Now())
		if err != nil {
			return fail("second factor", p, err)
		}
		f.Set("code", code)
		if p, err = b.do(ctx, http.MethodPost, l.cfg.issuer+"/login/second-factor", f); err == nil {
			p, err = b.follow(ctx, p)
		}
		if err != nil || !strings.HasPrefix(p.location, l.cfg.redirectURI) {
			return fail("second factor", p, err)
		}
	}
	if err != nil || !strings.HasPrefix(p.location, l.cfg.redirectURI) {
		return fail("password", p, err)
	}
	back, err := url.Parse(p.location)
	if err != nil || back.Query().Get("state") != state || back.Query().Get("code") == "" {
		return fail("callback", p, nil)
	}

	var tokens struct {
		RefreshToken string `json:"refresh_token"`
	}
	exchange := l.post(ctx, "token", l.endpoints.Token, url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")},
		"redirect_uri": {l.cfg.redirectURI}, "code_verifier": {verifier},
	}, &tokens)
	if exchange.status != "200" {
		if ctx.Err() == nil {
			r.status = "exchange " + exchange.status
		}
		return "", r
	}
	r.status = "200"
	return tokens.RefreshToken, r
}

// refresh redeems a refresh token for new tokens, and returns the new
// refresh token: Gatehouse rotates them.
func (l *loader) refresh(ctx context.Context, token string) (string, result) {
	var tokens struct {
		RefreshToken string `json:"refresh_token"`
	}
	r := l.post(ctx, "refresh", l.endpoints.Token, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, &tokens)
	return tokens.RefreshToken, r
}

func randomString() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
