package policy

import (
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// What a sign-in needs (storage.Requirement) is built once, when its auth
// request is created: here, from the client and the request, or from what
// one of Gatehouse's own pages needs. Decide reads it.

// Who asks for a requirement's acr, for reasons.
const (
	byClient  = "client"
	byRequest = "request"
)

// ForClient is what a sign-in to client c needs: the client's minimum acr
// and stance on exceptions, and what the request asks for: acr values
// (acr_values, or an essential acr in the claims parameter: any one of them
// will do, so the weakest Gatehouse issues is required), max_age and prompt.
func ForClient(c storage.Client, acrValues []string, maxAge *uint, prompt []string) storage.Requirement {
	minimum, requested := ACR(c.MinimumACR), weakestKnown(acrValues)
	r := storage.Requirement{ACR: string(minimum), ACRBy: byClient, Prompt: prompt}
	if requested.Rank() > minimum.Rank() {
		r.ACR, r.ACRBy = string(requested), byRequest
	}
	if maxAge != nil {
		within := time.Duration(*maxAge) * time.Second
		r.PasswordWithin = &within
	}
	// An exception stands in for what the client or the user's policy asks,
	// never for what this request itself asks; a remembered device for
	// neither a second factor asked for nor a request to see the user again.
	r.ExceptionsAnswer = c.ExceptionsAllowed && requested.Rank() < ACRMFA.Rank()
	r.RememberedAnswers = max(minimum.Rank(), requested.Rank()) < ACRMFA.Rank() && maxAge == nil && !slices.Contains(prompt, "login")
	return r
}

// WithClient is r held to client c as it is now: a client whose minimum
// rose, or that stopped honouring exceptions, in the middle of a sign-in
// gets what it now asks for.
func WithClient(r storage.Requirement, c storage.Client) storage.Requirement {
	minimum := ACR(c.MinimumACR)
	if minimum.Rank() > ACR(r.ACR).Rank() {
		r.ACR, r.ACRBy = string(minimum), byClient
	}
	if minimum.Rank() >= ACRMFA.Rank() {
		r.RememberedAnswers = false
	}
	r.ExceptionsAnswer = r.ExceptionsAnswer && c.ExceptionsAllowed
	return r
}

// weakestKnown is the weakest of values that Gatehouse issues, or "".
func weakestKnown(values []string) ACR {
	var weakest ACR
	for _, v := range values {
		if a := ACR(v); a.Rank() >= 0 && (weakest == "" || a.Rank() < weakest.Rank()) {
			weakest = a
		}
	}
	return weakest
}

// Page is how fresh a sign-in one of Gatehouse's own pages needs.
type Page int

const (
	// AnySession: any live session will do.
	AnySession Page = iota
	// RecentPassword: the password within RecentFactor (Security info,
	// for a user with no method yet).
	RecentPassword
	// RecentMFA: a second factor within RecentFactor (Security info).
	RecentMFA
	// AdminMFA: a second factor, which no exception or remembered device
	// answers (the admin pages).
	AdminMFA
	// AdminReauth: the password and a second factor, again (the admin
	// pages, after AdminIdle).
	AdminReauth
)

// RecentFactor is how recent a factor must be to change one's security
// settings.
const RecentFactor = 10 * time.Minute

// ForPage is what a sign-in for page p needs.
func ForPage(p Page) storage.Requirement {
	recent, now := RecentFactor, time.Duration(0)
	switch p {
	case RecentPassword:
		return storage.Requirement{PasswordWithin: &recent, ExceptionsAnswer: true}
	case RecentMFA:
		return storage.Requirement{ACR: string(ACRMFA), ACRBy: byRequest, MFAWithin: RecentFactor}
	case AdminMFA:
		return storage.Requirement{ACR: string(ACRMFA), ACRBy: byRequest}
	case AdminReauth:
		return storage.Requirement{ACR: string(ACRMFA), ACRBy: byRequest, PasswordWithin: &now}
	}
	return storage.Requirement{ExceptionsAnswer: true, RememberedAnswers: true}
}
