package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDemoSignIn is the newcomer's path: the demo relying party (zitadel's
// rp package) signs in a user through Gatehouse and shows the ID token's
// claims, then signs out again.
func TestDemoSignIn(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", "correct horse battery")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	if err := ensureDemoClient(context.Background(), e.store, base, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d, err := newDemo(context.Background(), e.issuer, base, e.srv.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	demoSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: d.handler()}}
	demoSrv.Start()
	defer demoSrv.Close()

	jar, _ := cookiejar.New(nil)
	b := &browser{e: e, client: &http.Client{Jar: jar}}
	if p := b.get(base + "/"); !strings.Contains(p.body, `action="/login"`) {
		t.Fatalf("demo home has no sign-in button:\n%s", p.body)
	}
	p := b.get(base + "/login")
	if !strings.Contains(p.body, "Gatehouse demo app") {
		t.Errorf("sign-in page does not name the app:\n%s", p.body)
	}
	p = b.submitPassword(p, "alice", "correct horse battery")
	for _, want := range []string{"Your ID token claims", `<code>acr</code>`, `&#34;pwd&#34;`, `<code>amr</code>`, `<code>auth_time</code>`, "alice@example.org"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("demo page after sign-in lacks %q:\n%s", want, p.body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/logout", nil)
	p = b.do(req)
	if p.resp.Request.URL.String() != base+"/" || !strings.Contains(p.body, `action="/login"`) {
		t.Errorf("after sign-out, at %s:\n%s", p.resp.Request.URL, p.body)
	}
}

// TestDemoCallbackErrorIsGeneric: a failed callback shows a plain failure,
// never the rp library's error text (here: no state cookie) or the query's
// error description.
func TestDemoCallbackErrorIsGeneric(t *testing.T) {
	e := newEnv(t)
	base := "http://127.0.0.1:9"
	if err := ensureDemoClient(context.Background(), e.store, base, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d, err := newDemo(context.Background(), e.issuer, base, e.srv.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{
		"code=x&state=y",
		"error=access_denied&error_description=call+0800+to+unlock&state=y",
	} {
		rec := httptest.NewRecorder()
		d.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/callback?"+query, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest || !strings.Contains(body, "Sign-in failed") {
			t.Errorf("/callback?%s: status %d, want 400 and a sign-in failure:\n%s", query, rec.Code, body)
		}
		for _, leak := range []string{"failed to get state", "cookie", "0800"} {
			if strings.Contains(body, leak) {
				t.Errorf("/callback?%s shows %q:\n%s", query, leak, body)
			}
		}
	}
}
