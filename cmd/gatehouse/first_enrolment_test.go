package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

var (
	// offered are the method types a page offers to add, in its order.
	offered = regexp.MustCompile(`<a class="button" href="/security/add/([a-z]+)[?"]`)
	// recommendedBadge names the method type marked Recommended.
	recommendedBadge = regexp.MustCompile(`<span class="badge" id="recommended_([a-z]+)">Recommended</span>`)
	// appLink is the enrol page's link to an authenticator app on the same
	// phone.
	appLink = regexp.MustCompile(`<a class="button" href="(otpauth://[^"]+)">Open in authenticator app</a>`)
	// methodRow is a registered method's cell on Security info and the
	// admin user page: its label, then what else it says.
	methodRow = regexp.MustCompile(`<td><strong>([^<]+)</strong>(.*?)</td>`)
	tag       = regexp.MustCompile(`<[^>]+>`)
)

func submatches(re *regexp.Regexp, body string) []string {
	var out []string
	for _, m := range re.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestTOTPWrongFirstCodeKeepsKey: a wrong first code leaves the QR code,
// the key (in groups of four) and the link for an app on the same phone on
// the page, with the error on the code field; the right code then adds the
// app.
func TestTOTPWrongFirstCodeKeepsKey(t *testing.T) {
	e, app := newAliceEnv(t)
	b := e.newBrowser()
	a := app.authorize()
	b.signIn(app, a, "alice", alicePassword)

	f := b.get(e.issuer + "/security/add/totp").form()
	f.Set("name", "Phone")
	p := b.post("/security/add/totp", f)
	key := enrolKey(p.body)
	if len(key) != 32 {
		t.Fatalf("enrol page: key %q, want 32 characters\n%s", key, p.body)
	}
	groups := regexp.MustCompile(`<span>([A-Z2-7]+)</span>`).FindAllStringSubmatch(p.body, -1)
	if len(groups) != 8 || slices.ContainsFunc(groups, func(g []string) bool { return len(g[1]) != 4 }) {
		t.Errorf("the key is not shown in eight groups of four: %q", groups)
	}
	wantAppLink := func(p page) {
		t.Helper()
		m := appLink.FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("no Open in authenticator app link:\n%s", p.body)
		}
		u, err := url.Parse(htmlUnescape(m[1]))
		if err != nil || u.Host != "totp" || u.Query().Get("secret") != key || u.Query().Get("issuer") != "Gatehouse" || !strings.HasSuffix(u.Path, ":alice") {
			t.Errorf("app link %s (%v): want otpauth://totp/Gatehouse:alice with the key", m[1], err)
		}
	}
	wantAppLink(p)

	f = p.form()
	f.Set("code", "000000")
	p = b.post("/security/add/totp/finish", f)
	if p.status() != http.StatusUnauthorized {
		t.Errorf("wrong code: status %d, want 401", p.status())
	}
	if got := enrolKey(p.body); got != key {
		t.Errorf("after a wrong code the key is %q, want the same %q", got, key)
	}
	if !strings.Contains(p.body, `<img class="qr" src="data:image/png;base64,`) {
		t.Error("after a wrong code the QR code is gone")
	}
	wantAppLink(p)
	for _, want := range []string{
		`<p id="code_error"><a href="#code">That didn&#39;t work. Check and try again.</a></p>`,
		`aria-describedby="enrol_hint code_error" aria-invalid="true"`,
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("after a wrong code the page lacks %s:\n%s", want, p.body)
		}
	}

	f = p.form()
	f.Set("code", e.totpCode(key))
	if p = b.post("/security/add/totp/finish", f); !strings.Contains(p.body, "Method added.") {
		t.Fatalf("the right code after a wrong one: status %d\n%s", p.status(), p.body)
	}
}

// TestMethodOfferOrder: the methods to add, on the set-up page during a
// sign-in and on Security info, come in methods.order (by default an
// authenticator app first), each with its description; the first the
// user's org unit allows is the one marked Recommended.
func TestMethodOfferOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		order   list
		allowed []string
		want    []string
	}{
		{name: "default", want: []string{"totp", "webauthn", "sms", "voice", "email"}},
		{name: "email and text first", order: list{"email", "sms"}, want: []string{"email", "sms", "totp", "webauthn", "voice"}},
		{name: "the first not allowed", order: list{"email", "sms"}, allowed: []string{storage.MethodTOTP, storage.MethodSMS, storage.MethodWebAuthn},
			want: []string{"sms", "totp", "webauthn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSeededEnv(t, nil, func(c *Config) {
				c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) // security keys need a domain
				c.Methods.Order = tc.order
			})
			e.addUser("alice", alicePassword)
			app := e.addRP("app", false)
			root, err := findOrgUnit(context.Background(), e.store, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.UpdateOrgUnit(context.Background(), root.ID, func(ou storage.OrgUnit) (storage.OrgUnit, error) {
				ou.MFA, ou.AllowedMethods = storage.MFARequired, tc.allowed
				return ou, nil
			}); err != nil {
				t.Fatal(err)
			}
			b := e.newBrowser()
			setup := b.submitPassword(b.get(app.authorize().url), "alice", alicePassword)
			if !strings.Contains(setup.body, "Set up multi-factor authentication") {
				t.Fatalf("want the set-up page, got status %d\n%s", setup.status(), setup.body)
			}
			security := b.get(e.issuer + "/security")
			for name, p := range map[string]page{"set-up page": setup, "Security info": security} {
				if got := submatches(offered, p.body); !slices.Equal(got, tc.want) {
					t.Errorf("%s offers %v, want %v", name, got, tc.want)
				}
				if got := submatches(recommendedBadge, p.body); !slices.Equal(got, tc.want[:1]) {
					t.Errorf("%s recommends %v, want %v", name, got, tc.want[:1])
				}
				if !strings.Contains(p.body, `aria-describedby="recommended_`+tc.want[0]+` about_`+tc.want[0]+`"`) {
					t.Errorf("%s: the recommended method's link is not described by its badge and description", name)
				}
				for typ, about := range map[string]string{
					"totp": "Works without signal.", "webauthn": "fingerprint, face or PIN", "sms": "Needs signal.",
					"voice": "answer and press #", "email": "A code sent to an email address",
				} {
					if slices.Contains(tc.want, typ) && !strings.Contains(p.body, about) {
						t.Errorf("%s lacks the %s description %q", name, typ, about)
					}
				}
			}
		})
	}
}

// TestBlankMethodNames: a method's name is optional, and a method without
// one (or, stored before names were optional, named with its type's
// label) is shown by its label alone, never "Authenticator app:
// Authenticator app": on Security info, the challenge, the method choice
// and the admin user page. The name field's hint fits the method; an
// email address names itself, so its page asks for no name.
func TestBlankMethodNames(t *testing.T) {
	e, app, b := newOTPEnv(t, func(c *Config) { c.Issuer = strings.Replace(c.Issuer, "127.0.0.1", "localhost", 1) })
	for typ, want := range map[string]string{
		"totp": "for example, Work phone.", "sms": "for example, Work phone.", "voice": "for example, Work phone.", "webauthn": "for example, YubiKey or Laptop.",
	} {
		if p := b.get(e.issuer + "/security/add/" + typ); !strings.Contains(p.body, "Name (optional)") || !strings.Contains(p.body, want) {
			t.Errorf("add %s: no optional name hinted %q\n%s", typ, want, p.body)
		}
	}
	if p := b.get(e.issuer + "/security/add/email"); strings.Contains(p.body, `id="name"`) {
		t.Errorf("add email asks for a name:\n%s", p.body)
	}

	// An email address, with a name posted anyway: the address is its name.
	wantAdded(t, b.finishEnrol("email", b.startEnrol("email", "Ignored", "alice@example.org"), e.outboxCode()))
	b.passChallenge(b.get(e.issuer+"/security/add/totp"), e.outboxCode()) // a second method needs a recent factor
	b.enrolTOTP("")
	alice, err := e.store.GetUserByUsername(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	// A phone stored before names were optional: the label was its name.
	if err := e.store.CreateMethod(context.Background(), storage.Method{ID: storage.NewID(), UserID: alice.ID, Type: storage.MethodSMS,
		Name: "Text message", Target: "+447700900123", CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.methodsOf(alice) {
		if m.Type != storage.MethodSMS && m.Name != "" {
			t.Errorf("%s stored with the name %q, want none", m.Type, m.Name)
		}
	}

	wantRows := func(where, body string) {
		t.Helper()
		rows := methodRow.FindAllStringSubmatch(body, -1)
		// Three methods, and the recovery codes made at the first.
		if len(rows) != 4 {
			t.Fatalf("%s lists %d methods, want 4:\n%s", where, len(rows), body)
		}
		for _, r := range rows {
			if rest := tag.ReplaceAllString(r[2], " "); strings.Contains(rest, r[1]) {
				t.Errorf("%s: %s is named %q", where, r[1], strings.TrimSpace(rest))
			}
		}
	}
	wantRows("Security info", b.get(e.issuer+"/security").body)

	// The challenge and the method choice: the preferred (first) method,
	// the email address, then the others.
	_, p := signInAgain(t, e, b, app)
	if !strings.Contains(p.body, `<p class="lead">Email code</p>`) {
		t.Errorf("challenge: want the label alone as its lead:\n%s", p.body)
	}
	p = b.get(e.issuer + "/login/methods?id=" + p.form().Get("id"))
	for _, want := range []string{">Authenticator app</button>", ">Email code (al•••@example.org)</button>", ">Text message (••••123)</button>"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("method choice lacks %s:\n%s", want, p.body)
		}
	}

	e.withRole(e.addUser("boss", alicePassword), storage.RoleGlobalAdmin)
	admin, _ := e.adminSignIn(t, "boss")
	wantRows("admin user page", admin.get(e.issuer+"/admin/users/"+alice.ID).body)
}

// TestMethodsOrderSetting: methods.order takes method types; an unknown or
// repeated one is refused, naming the setting.
func TestMethodsOrderSetting(t *testing.T) {
	c, err := load(t, nil, map[string]string{"GATEHOUSE_METHODS_ORDER": "email, sms"})
	if err != nil || !slices.Equal(c.Methods.Order, list{"email", "sms"}) {
		t.Errorf("methods.order = %v (err %v), want [email sms]", c.Methods.Order, err)
	}
	for raw, want := range map[string]string{
		"totp,fax":          `methods.order: "fax" is not a method type: the types are totp, webauthn, sms, voice, email`,
		"sms,totp,sms":      `methods.order: "sms" is listed twice`,
		"recovery":          `methods.order: "recovery" is not a method type`,
		"Authenticator app": `methods.order: "Authenticator app" is not a method type`,
	} {
		if _, err := load(t, []string{"--methods.order", raw}, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--methods.order %s: err = %v, want %q", raw, err, want)
		}
	}
}
