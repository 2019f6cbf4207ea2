package main

// The real-browser harness: one headless Chromium for the package's test
// run, driven over the DevTools protocol (chromedp), a fresh browser
// context (cookies, storage) and tab per test, a virtual WebAuthn
// authenticator on demand, and checkA11y, which runs axe-core on a page and
// saves a screenshot of it. The journeys are in browser_pages_test.go; the
// admin pages will reuse the same helpers.
//
// Chromium is $CHROME_PATH, else /usr/bin/chromium, chromium-browser or
// google-chrome on PATH; axe-core is $AXE_CORE_JS, else where .ci/run
// installs it. Without either, the browser tests skip, except under CI
// (CI set), where they fail: CI never skips them silently.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
)

func TestMain(m *testing.M) {
	defer chrome.stop()
	defer pgtest.Stop()
	m.Run()
}

// chrome is the one browser the package's tests share: Chromium takes a
// second or two to start, a new browser context a few milliseconds. It is
// started by the first test that asks for it, so a run that selects no
// browser test starts none. Test-only shared state, set once.
var chrome sharedChrome

type sharedChrome struct {
	once    sync.Once
	ctx     context.Context // a chromedp context whose browser is running
	cancel  context.CancelFunc
	dataDir string
	err     error // why there is no browser
	missing bool  // err means nothing is installed (skip), not a failure
}

// browserTimeout bounds one step in a tab, so a page that never comes
// fails the test instead of hanging the run.
const browserTimeout = 30 * time.Second

// findChrome is the browser to run, or "" if none is installed.
func findChrome() string {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// skipOrFail skips a test that lacks a tool, or fails it under CI.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+" (CI is set, so this fails rather than skips)", args...)
	}
	t.Skipf(format, args...)
}

func (c *sharedChrome) start() {
	path := findChrome()
	if path == "" {
		c.missing = true
		c.err = errors.New("no Chromium: set CHROME_PATH, or install chromium (see README, Browser tests)")
		return
	}
	dir, err := os.MkdirTemp("", "gatehouse-chromium-")
	if err != nil {
		c.err = err
		return
	}
	c.dataDir = dir
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		// Trust the one key every httptest TLS server uses, and no other
		// bad certificate (rather than --ignore-certificate-errors).
		chromedp.Flag("ignore-certificate-errors-spki-list", httptestSPKI()),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(dir),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true), // CI runs as root
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true), // steadier screenshots
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(actx)
	c.ctx, c.cancel = ctx, func() { cancel(); cancelAlloc() }
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		c.err = fmt.Errorf("start %s: %w", path, err)
	}
}

// httptestSPKI is the base64 SHA-256 of the public key of httptest's TLS
// certificate, as Chromium's ignore-certificate-errors-spki-list wants it.
func httptestSPKI() string {
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.StartTLS()
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (c *sharedChrome) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.dataDir != "" {
		os.RemoveAll(c.dataDir)
	}
}

// tab is a browser tab in a browser context of its own: a user at a
// computer, with nothing remembered from other tests.
type tab struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	exceptions []string      // uncaught JavaScript exceptions
	shots      *atomic.Int32 // the test's screenshots so far, for their file names
}

// shotCounts counts each test's screenshots, over all its tabs: the first
// clears the test's old ones.
var shotCounts sync.Map // *testing.T → *atomic.Int32

// newTab opens a fresh tab, or skips (fails under CI) without a browser.
func newTab(t *testing.T) *tab {
	t.Helper()
	chrome.once.Do(chrome.start)
	if chrome.missing {
		skipOrFail(t, "%v", chrome.err)
	}
	if chrome.err != nil {
		t.Fatal(chrome.err)
	}
	if _, err := axeSource(); err != nil { // before the journey, not at its first check
		skipOrFail(t, "%v", err)
	}
	ctx, cancel := chromedp.NewContext(chrome.ctx, chromedp.WithNewBrowserContext())
	n, _ := shotCounts.LoadOrStore(t, new(atomic.Int32)) // one numbering for all the test's tabs
	b := &tab{t: t, ctx: ctx, shots: n.(*atomic.Int32)}
	t.Cleanup(func() {
		cancel()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught JavaScript exception: %s", e)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // opens the tab, with no timeout
		t.Fatalf("open a tab: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg = d.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", msg, d.URL, d.LineNumber+1))
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return b
}

// otherTab opens a second tab in the same browser context (same cookies),
// as a user opening a link in a new tab.
func (b *tab) otherTab() *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a second tab: %v", err)
	}
	return &tab{t: b.t, ctx: ctx, shots: b.shots}
}

// inTab runs one action with the step timeout and fails the test on error.
func inTab[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v (at %s)", what, err, b.url())
	}
	return v
}

// url is where the tab is, for messages; it never fails the test.
func (b *tab) url() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown: " + err.Error()
	}
	return u
}

// open loads a URL and returns the HTTP status of the page it ends on.
func (b *tab) open(url string) int64 {
	b.t.Helper()
	resp := inTab(b, "open "+url, chromedp.NavigateResponse(url))
	if resp == nil {
		return 0
	}
	return resp.Status
}

// clickOn clicks sel: a CSS selector, or after "js:" a JavaScript
// expression for what CSS cannot say, such as a button's text.
func clickOn(sel string) chromedp.Action[chromedp.Void] {
	if js, ok := strings.CutPrefix(sel, "js:"); ok {
		return chromedp.Click(chromedp.JSPath(js), chromedp.NodeVisible)
	}
	return chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)
}

// fill types text into the field sel, as a user does.
func (b *tab) fill(sel, text string) {
	b.t.Helper()
	inTab(b, "fill "+sel, chromedp.Steps(
		chromedp.Clear(chromedp.CSS(sel), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS(sel), text, chromedp.NodeVisible),
	))
}

// submit clicks sel, waits for the page the click leads to and returns
// its HTTP status.
func (b *tab) submit(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	r, err := chromedp.RunResponse(ctx, clickOn(sel))
	if err != nil {
		b.t.Fatalf("browser: click %s: %v (at %s)", sel, err, b.url())
	}
	if r == nil {
		return 0
	}
	return r.Status
}

// click clicks sel and does not wait for anything.
func (b *tab) click(sel string) {
	b.t.Helper()
	inTab(b, "click "+sel, clickOn(sel))
}

// waitFor waits until sel is visible.
func (b *tab) waitFor(sel string) {
	b.t.Helper()
	inTab(b, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// text is the visible text of the first element sel matches.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return inTab(b, "read "+sel, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// has reports whether sel matches anything now, without waiting.
func (b *tab) has(sel string) bool {
	b.t.Helper()
	q, _ := json.Marshal(sel)
	return inTab(b, "look for "+sel, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%s) !== null", q)))
}

// wantText fails the test unless sel's text contains want.
func (b *tab) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Errorf("%s at %s: text %q, want it to contain %q", sel, b.url(), got, want)
	}
}

// wantPage fails the test unless the page's h1 is heading.
func (b *tab) wantPage(heading string) {
	b.t.Helper()
	if got := b.text("h1"); got != heading {
		b.t.Fatalf("at %s: heading %q, want %q\n%s", b.url(), got, heading, b.text("main"))
	}
}

// viewport sets the tab's viewport, as a phone or a desktop shows it.
func (b *tab) viewport(width, height int64, opts ...chromedp.EmulateViewportOption) {
	b.t.Helper()
	inTab(b, "set the viewport", chromedp.EmulateViewport(width, height, opts...))
}

// addVirtualAuthenticator gives the tab a platform authenticator (like
// Touch ID or Windows Hello): CTAP2, resident keys, user verification that
// succeeds, and presence confirmed without a touch.
func (b *tab) addVirtualAuthenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{EnableUI: new(false)}); err != nil {
		b.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		b.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials are the credentials the virtual authenticator holds.
func (b *tab) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// axeSource is axe-core's script, read once.
var axeSource = sync.OnceValues(func() (string, error) {
	path := axePath()
	src, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no axe-core at %s: set AXE_CORE_JS, or install it as the README's Browser tests section says: %w", path, err)
	}
	return string(src), nil
})

// axePath is $AXE_CORE_JS, else where .ci/run installs axe-core:
// $XDG_CACHE_HOME (or ~/.cache)/gatehouse/axe-core.
func axePath() string {
	if p := os.Getenv("AXE_CORE_JS"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "axe.min.js"
	}
	return filepath.Join(cache, "gatehouse", "axe-core", "node_modules", "axe-core", "axe.min.js")
}

// axeViolation is one rule a page breaks, as axe reports it.
type axeViolation struct {
	ID, Impact, Help, HelpURL string
	Nodes                     []struct {
		Target  []string
		Summary string
	}
}

// axeRun runs axe on the document for WCAG 2.0 and 2.1 A and AA and axe's
// best practices, and returns the violations.
const axeRun = `axe.run(document, {
  runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
  resultTypes: ["violations"]
}).then(r => r.violations.map(v => ({
  ID: v.id, Impact: v.impact || "", Help: v.help, HelpURL: v.helpUrl,
  Nodes: v.nodes.map(n => ({Target: n.target.map(s => Array.isArray(s) ? s.join(" >>> ") : String(s)), Summary: n.failureSummary || ""}))
})))`

// checkA11y checks the page the tab shows with axe-core and fails the test
// for each serious or critical violation (lesser ones are logged), and
// saves a full-page screenshot as name.
func checkA11y(t *testing.T, b *tab, name string) {
	t.Helper()
	b.screenshot(name)
	for _, v := range b.axe(name) {
		var nodes []string
		for _, n := range v.Nodes {
			nodes = append(nodes, strings.Join(n.Target, " "))
		}
		msg := fmt.Sprintf("%s: axe %s (%s): %s; %s\n    at %s", name, v.ID, v.Impact, v.Help, v.HelpURL, strings.Join(nodes, "\n    at "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// axe runs axe-core on the page the tab shows and returns the violations.
func (b *tab) axe(name string) []axeViolation {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		skipOrFail(b.t, "%v", err)
	}
	if !inTab(b, "look for axe", chromedp.Evaluate[bool](`typeof axe === "object"`)) {
		inTab(b, "inject axe-core", chromedp.Evaluate[chromedp.Void](src))
	}
	return inTab(b, "run axe on "+name, chromedp.Evaluate[[]axeViolation](axeRun, chromedp.EvalAwaitPromise))
}

// screenshot saves a full-page PNG of the tab to the screenshot directory.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png := inTab(b, "screenshot "+name, chromedp.FullScreenshot(100))
	n := b.shots.Add(1)
	dir := screenshotDir(b.t)
	if n == 1 { // this test's screenshots from an earlier run would mislead
		old, _ := filepath.Glob(filepath.Join(dir, fileName(b.t.Name())+"-[0-9][0-9]-*.png"))
		for _, f := range old {
			os.Remove(f)
		}
	}
	file := filepath.Join(dir, fmt.Sprintf("%s-%02d-%s.png", fileName(b.t.Name()), n, fileName(name)))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Errorf("save screenshot: %v", err)
	}
}

// screenshotDir is $GATEHOUSE_SCREENSHOTS, else testdata/screenshots at the
// top of the repository (ignored by git).
func screenshotDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "screenshots") // go test runs in cmd/gatehouse
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot directory: %v", err)
	}
	return dir
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileName(s string) string { return strings.Trim(unsafeFileChars.ReplaceAllString(s, "_"), "_") }

// newBrowserEnv is a Gatehouse for a real browser, with the demo app as the
// relying party. The issuer is http://localhost:PORT: a secure context with
// a domain name, so WebAuthn works, and a loopback issuer, so the dev
// outbox stands in for the mailbox and the phone. The demo is on
// 127.0.0.1, another host, so the two keep their cookies apart.
func newBrowserEnv(t *testing.T, seed func(ctx context.Context, store storage.Storage, root storage.OrgUnit), configure ...func(*Config)) (e *env, demoURL string) {
	t.Helper()
	localhost := func(c *Config) { c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) }
	e = newSeededEnv(t, seed, append([]func(*Config){localhost}, configure...)...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	demoURL = "http://" + ln.Addr().String()
	if err := ensureDemoClient(context.Background(), e.store, demoURL, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d, err := newDemo(context.Background(), e.issuer, demoURL, e.srv.Client(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: d.handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return e, demoURL
}
