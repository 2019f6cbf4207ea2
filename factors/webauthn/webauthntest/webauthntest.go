// Package webauthntest helps tests play the browser's part of WebAuthn with
// github.com/descope/virtualwebauthn.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/x509"

	"github.com/descope/virtualwebauthn"
)

// NewCredential is a new P-256 credential for a virtual authenticator.
// virtualwebauthn encodes a key's coordinates without their leading zero
// bytes, which go-webauthn rightly refuses; so about one key in 128 would
// fail to register. Such keys are drawn again.
func NewCredential() virtualwebauthn.Credential {
	for {
		cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		parsed, err := x509.ParsePKCS8PrivateKey(cred.Key.Data)
		if err != nil {
			panic(err)
		}
		key := parsed.(*ecdsa.PrivateKey)
		if len(key.X.Bytes()) == 32 && len(key.Y.Bytes()) == 32 {
			return cred
		}
	}
}
