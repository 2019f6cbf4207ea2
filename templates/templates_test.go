package templates

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEveryPageRenders renders each page through its typed function and
// checks the shared layout, the escaping and the security headers.
func TestEveryPageRenders(t *testing.T) {
	tp, err := Parse(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	evil := `<script>alert(1)</script>`
	pages := []struct {
		name   string
		render func(w http.ResponseWriter)
		want   string
	}{
		{"login", func(w http.ResponseWriter) {
			tp.Login(w, 200, LoginPage{Page: Page{Title: "Sign in"}, ClientName: evil, AuthRequestID: "id1", Error: "bad"})
		}, `<label for="password">Password</label>`},
		{"change_password", func(w http.ResponseWriter) {
			tp.ChangePassword(w, 200, ChangePasswordPage{Page: Page{Title: "Choose a new password"}, Username: evil, MinLength: 8})
		}, "At least 8 characters"},
		{"change_password, own", func(w http.ResponseWriter) {
			tp.ChangePassword(w, 200, ChangePasswordPage{Page: Page{Title: "Change your password"}, Username: evil, Current: true, MinLength: 8, Error: evil, ErrorField: "current_password"})
		}, `<a href="#current_password">`},
		{"challenge", func(w http.ResponseWriter) {
			tp.Challenge(w, 200, ChallengePage{Page: Page{Title: "Verify it's you"}, MethodLabel: "Authenticator app", MethodName: evil, Kind: "code", Message: "Enter the code", Error: evil, OtherMethods: true})
		}, `<input id="code" name="code"`},
		{"methods", func(w http.ResponseWriter) {
			tp.Methods(w, 200, MethodsPage{Page: Page{Title: "Choose"}, Methods: []MethodChoice{{ID: "m1", Label: "Text message", Name: evil}}})
		}, `value="m1"`},
		{"security", func(w http.ResponseWriter) {
			tp.Security(w, 200, SecurityPage{Page: Page{Title: "Security info"}, Name: evil, Methods: []MethodRow{{ID: "m1", Label: "Authenticator app", Name: evil}}, SingleMethod: true, CanAdd: []MethodType{{Type: "totp", Label: "Authenticator app"}}})
		}, "Add a second one"},
		{"setup", func(w http.ResponseWriter) {
			tp.Setup(w, 200, SetupPage{Page: Page{Title: "Set up"}, AuthRequestID: evil, Methods: []MethodType{{Type: "totp", Label: "Authenticator app", URL: "/security/add/totp?return=%2Flogin%3Fid%3Dx"}}})
		}, "Not now"},
		{"add_method", func(w http.ResponseWriter) {
			tp.AddMethod(w, 200, AddMethodPage{Page: Page{Title: "Add"}, Type: "sms", Label: "Text message", NeedsTarget: "phone", Target: evil, Error: evil})
		}, `type="tel"`},
		{"enrol", func(w http.ResponseWriter) {
			tp.Enrol(w, 200, EnrolPage{Page: Page{Title: "Add"}, Type: "totp", Label: "Authenticator app", Kind: "code", QRCode: []byte("\x89PNG"), Secret: "ABC", Name: evil})
		}, `<img class="qr" src="data:image/png;base64,`},
		{"recovery_codes", func(w http.ResponseWriter) {
			tp.RecoveryCodes(w, 200, RecoveryCodesPage{Page: Page{Title: "Codes"}, Codes: []string{"aaaa-bbbb-cccc"}})
		}, "<code>aaaa-bbbb-cccc</code>"},
		{"error", func(w http.ResponseWriter) {
			tp.Error(w, 400, ErrorPage{Page: Page{Title: "Oops"}, Heading: "Oops", Message: evil, Code: "x"})
		}, "Reference: <code>x</code>"},
		{"logout", func(w http.ResponseWriter) {
			tp.Logout(w, 200, LogoutPage{Page: Page{Title: "Sign out"}, Username: evil, Params: map[string]string{"state": evil}})
		}, "Sign out?"},
		{"logged_out", func(w http.ResponseWriter) { tp.LoggedOut(w, 200, LoggedOutPage{Page: Page{Title: "Signed out"}}) }, "You are signed out"},
		{"demo", func(w http.ResponseWriter) {
			tp.Demo(w, 200, DemoPage{Page: Page{Title: "Demo"}, SignedIn: true, Claims: []Claim{{"acr", evil}}})
		}, "Your ID token claims"},
		{"outbox", func(w http.ResponseWriter) {
			tp.Outbox(w, 200, OutboxPage{Page: Page{Title: "Dev outbox"}, Messages: []OutboxMessage{
				{ID: "m1", Kind: "sms", To: "+447700900123", Text: evil},
				{ID: "m2", Kind: "call", To: "+447700900123", Text: "Press the hash key", Token: "t1"},
			}})
		}, `<button type="submit">Press # to approve the call to &#43;447700900123</button>`},
	}
	for _, p := range pages {
		w := httptest.NewRecorder()
		p.render(w)
		body := w.Body.String()
		if !strings.Contains(body, p.want) || !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, `<main id="main"`) {
			t.Errorf("%s: page lacks %q or the layout:\n%s", p.name, p.want, body)
		}
		if strings.Contains(body, evil) {
			t.Errorf("%s: unescaped input in page", p.name)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy = %q", p.name, csp)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", p.name, cc)
		}
	}
}

// TestEnrolKeyAndAppLink: the key shows in groups of four with nothing
// between them to copy, and the app link takes an otpauth:// URL and
// nothing else.
func TestEnrolKeyAndAppLink(t *testing.T) {
	tp, err := Parse(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, want string }{
		{"otpauth://totp/Gatehouse:alice?secret=ABCDEFGHIJ&issuer=Gatehouse", `href="otpauth://totp/Gatehouse:alice?secret=ABCDEFGHIJ&amp;issuer=Gatehouse"`},
		{"javascript:alert(1)", `href="#ZgotmplZ"`},
	} {
		w := httptest.NewRecorder()
		tp.Enrol(w, 200, EnrolPage{Page: Page{Title: "Add"}, Type: "totp", Kind: "code", Secret: "ABCDEFGHIJ", AppURL: tc.url})
		body := w.Body.String()
		if !strings.Contains(body, tc.want) {
			t.Errorf("AppURL %s: page lacks %s:\n%s", tc.url, tc.want, body)
		}
		if want := `<code class="secret key"><span>ABCD</span><span>EFGH</span><span>IJ</span></code>`; !strings.Contains(body, want) {
			t.Errorf("page lacks the grouped key %s:\n%s", want, body)
		}
	}
}

// TestSignOutInLayout: a page shown to a signed-in browser, and every
// admin page, has Sign out in its header: a POST to end_session with the
// form token and confirm=yes; a page before sign-in has none.
func TestSignOutInLayout(t *testing.T) {
	tp, err := Parse(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const signOut = `<form method="post" action="/end_session" class="signout"><input type="hidden" name="csrf" value="tok"><button type="submit" name="confirm" value="yes" class="link">Sign out</button></form>`
	for _, tc := range []struct {
		name   string
		render func(w http.ResponseWriter)
		want   bool
	}{
		{"security info", func(w http.ResponseWriter) {
			tp.Security(w, 200, SecurityPage{Page: Page{Title: "Security info", CSRF: "tok", SignedIn: true}})
		}, true},
		{"admin", func(w http.ResponseWriter) {
			tp.AdminHome(w, 200, AdminHomePage{Page: Page{Title: "Admin", CSRF: "tok", Admin: &AdminNav{Name: "Boss"}}})
		}, true},
		{"sign in", func(w http.ResponseWriter) {
			tp.Login(w, 200, LoginPage{Page: Page{Title: "Sign in", CSRF: "tok"}, AuthRequestID: "id1"})
		}, false},
	} {
		w := httptest.NewRecorder()
		tc.render(w)
		body := w.Body.String()
		header := body[:strings.Index(body, "<main")]
		if got := strings.Contains(header, signOut); got != tc.want {
			t.Errorf("%s: Sign out in the header = %v, want %v:\n%s", tc.name, got, tc.want, header)
		}
	}
}
