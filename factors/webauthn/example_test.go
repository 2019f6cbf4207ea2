package webauthn_test

import (
	"context"
	"fmt"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/webauthn"
	"github.com/gatehouse-id/gatehouse/factors/webauthn/webauthntest"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Example_registerAndSignIn registers a security key and signs in with it.
// The Security info page and the sign-in journey do the same: they keep the
// challenge (and so the session data) server-side, pass the browser's JSON
// as Response.WebAuthn, and store the method; Apply runs inside the method's
// update so the sign count moves forward once.
func Example_registerAndSignIn() {
	ctx := context.Background()
	store := &methodStore{}
	f, err := webauthn.New(webauthn.Config{
		RPID:    "login.example.org",
		Origins: []string{"https://login.example.org"},
		Methods: store,
		Now:     time.Now,
	})
	if err != nil {
		panic(err)
	}
	alice := storage.User{ID: storage.NewID(), Username: "alice"}

	// The browser's side, played by a virtual authenticator.
	rp := virtualwebauthn.RelyingParty{ID: "login.example.org", Origin: "https://login.example.org"}
	key := virtualwebauthn.NewAuthenticator()
	cred := webauthntest.NewCredential()

	// Registration: options for navigator.credentials.create, then the
	// attestation back.
	var enrol storage.Challenge
	p, err := f.BeginEnrol(ctx, alice, factors.EnrolInput{}, &enrol)
	if err != nil {
		panic(err)
	}
	createOpts, _ := virtualwebauthn.ParseAttestationOptions(string(p.Options))
	attestation := virtualwebauthn.CreateAttestationResponse(rp, key, cred, *createOpts)
	m, err := f.FinishEnrol(ctx, alice, enrol, factors.Response{WebAuthn: []byte(attestation)})
	if err != nil {
		panic(err)
	}
	m.Name = "Blue key"
	*store = append(*store, m)

	// Sign-in: options for navigator.credentials.get, then the assertion.
	var login storage.Challenge
	prompt, err := f.Begin(ctx, alice, m, &login)
	if err != nil {
		panic(err)
	}
	getOpts, _ := virtualwebauthn.ParseAssertionOptions(string(prompt.Options))
	cred.Counter = 1
	assertion := virtualwebauthn.CreateAssertionResponse(rp, key, cred, *getOpts)
	res, err := f.Verify(ctx, alice, m, login, factors.Response{WebAuthn: []byte(assertion)})
	if err != nil {
		panic(err)
	}
	if m, err = res.Apply(m); err != nil {
		panic(err)
	}
	stored, _ := webauthn.Credential(m)
	fmt.Println("amr:", res.AMR)
	fmt.Println("sign count:", stored.Authenticator.SignCount)
	// Output:
	// amr: hwk
	// sign count: 1
}
