package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/descope/virtualwebauthn"

	"github.com/gatehouse-id/gatehouse/factors/webauthn/webauthntest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestEnrolmentIsTheSecondFactor: a user who must set up MFA during a
// sign-in proves their new method by answering it once, and that answer is
// the sign-in's second factor: no second challenge follows, and the token
// claims the method (phr for a security key). For each kind of method.
func TestEnrolmentIsTheSecondFactor(t *testing.T) {
	for _, tc := range []struct {
		typ, target string
		acr         string
		amr         string
	}{
		{storage.MethodTOTP, "", "mfa", "otp"},
		{storage.MethodEmail, "alice@example.org", "mfa", "otp"},
		{storage.MethodSMS, "07700 900123", "mfa", "sms"},
		{storage.MethodVoice, "07700 900123", "mfa", "tel"},
		{storage.MethodWebAuthn, "", "phr", "hwk"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			e := newSeededEnv(t, nil, func(c *Config) { c.Issuer = "http://localhost:" + strings.Split(c.Issuer, ":")[2] })
			e.addUser("alice", alicePassword)
			app := e.addRP("app", false)
			e.setRootMFA(storage.MFARequired)
			b := e.newBrowser()
			a := app.authorize()
			p := b.submitPassword(b.get(a.url), "alice", alicePassword)
			link := regexp.MustCompile(`href="(/security/add/` + tc.typ + `\?return=[^"]+)"`).FindStringSubmatch(p.body)
			if link == nil {
				t.Fatalf("no %s link on the set-up page:\n%s", tc.typ, p.body)
			}
			p = b.get(e.issuer + htmlUnescape(link[1]))
			f := p.form()
			f.Set("name", "New "+tc.typ)
			f.Set("target", tc.target)
			p = b.post("/security/add/"+tc.typ, f)
			f = p.form()
			switch tc.typ {
			case storage.MethodTOTP:
				f.Set("code", e.totpCode(enrolKey(p.body)))
			case storage.MethodEmail, storage.MethodSMS:
				f.Set("code", e.outboxCode())
			case storage.MethodVoice:
				if got := b.post("/dev/outbox/press", e.newBrowser().get(e.issuer+"/dev/outbox").form()); !strings.Contains(got.body, "You pressed #") {
					t.Fatalf("press: status %d\n%s", got.status(), got.body)
				}
			case storage.MethodWebAuthn:
				rp := virtualwebauthn.RelyingParty{ID: "localhost", Name: "Gatehouse", Origin: e.issuer}
				auth := virtualwebauthn.NewAuthenticator()
				opts, err := virtualwebauthn.ParseAttestationOptions(webAuthnOptions(t, p, webAuthnCreate))
				if err != nil {
					t.Fatal(err)
				}
				f.Set("webauthn", virtualwebauthn.CreateAttestationResponse(rp, auth, webauthntest.NewCredential(), *opts))
			}
			p = b.pastCodes(b.post("/security/add/"+tc.typ+"/finish", f))
			tok, err := app.exchange(a, b.codeFrom(p, a))
			if err != nil {
				t.Fatal(err)
			}
			if amr := claimsAMR(t, tok); tok.claims["acr"] != tc.acr || !slices.Equal(amr, []string{"pwd", tc.amr, "mfa"}) {
				t.Errorf("acr %v amr %v, want %s and [pwd %s mfa]", tok.claims["acr"], amr, tc.acr, tc.amr)
			}
			if tc.typ == storage.MethodEmail || tc.typ == storage.MethodSMS {
				if n := e.outboxCount(); n != 1 {
					t.Errorf("%d codes sent, want the enrolment's one", n)
				}
			}
		})
	}
}
