package policy

import (
	"slices"

	"github.com/gatehouse-id/gatehouse/storage"
)

// ACR is an authentication context class: how strongly a sign-in proved
// who the user is. Gatehouse issues three.
type ACR string

const (
	// ACRPassword: a password alone (or a password and an MFA exception
	// standing in for the second factor).
	ACRPassword ACR = "pwd"
	// ACRMFA: a password and a second factor.
	ACRMFA ACR = "mfa"
	// ACRPhishingResistant: a password and a security key or passkey.
	ACRPhishingResistant ACR = "phr"
)

// acrs are the classes Gatehouse issues, weakest first.
var acrs = []ACR{ACRPassword, ACRMFA, ACRPhishingResistant}

// ACRs returns the classes Gatehouse issues, weakest first.
func ACRs() []ACR { return slices.Clone(acrs) }

// Rank orders classes: pwd < mfa < phr. An unknown or empty class ranks
// lowest, below pwd.
func (a ACR) Rank() int { return slices.Index(acrs, a) }

// AMR values (RFC 8176) a sign-in's proof lists besides its factor's own
// (otp, sms, tel, hwk, swk, which each factor names).
const (
	AMRPassword = "pwd"
	AMRMFA      = "mfa"
)

// PasswordProof is what a password alone proves.
func PasswordProof() (ACR, []string) { return ACRPassword, []string{AMRPassword} }

// ProofOf is what a password and a verified second factor of methodType,
// whose own amr is factorAMR, prove: mfa, or phr for a security key or
// passkey (phishing-resistant: bound to Gatehouse's origin).
func ProofOf(methodType, factorAMR string) (ACR, []string) {
	acr := ACRMFA
	if methodType == storage.MethodWebAuthn {
		acr = ACRPhishingResistant
	}
	return acr, []string{AMRPassword, factorAMR, AMRMFA}
}

// HasMFA reports whether an amr list includes a second factor.
func HasMFA(amr []string) bool { return slices.Contains(amr, AMRMFA) }
