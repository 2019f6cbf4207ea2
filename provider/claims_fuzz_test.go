package provider

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzRequirement checks how an authorization request's claims parameter,
// acr_values, max_age and prompt become the sign-in's requirement, along
// the path CreateAuthRequest takes (essentialACR, acrValues,
// policy.ForClient). Property: a requirement never comes out weaker than
// asked, by the rule acrValues documents (an essential acr outranks the
// voluntary acr_values). A claims parameter that is not JSON is refused as
// invalid_request, never read as empty. An essential acr (the member
// names as OIDC Core 5.5 spells them: JSON is case-sensitive) is never
// dropped: it is kept, only values Gatehouse issues and only values the
// RP named, or refused as unmet_authentication_requirements when none can
// be issued. The requirement's acr is at least the client's minimum and
// the weakest kept essential value, or, with none kept, the weakest known
// acr_values entry; max_age becomes exactly that password age, and
// prompt is kept as asked.
func FuzzRequirement(f *testing.F) {
	for _, s := range []struct {
		claims, acrValues string
		maxAge            int64
		prompt            string
		min               uint8
	}{
		{"", "", -1, "", 0},
		{"", "mfa", 0, "login", 1},
		{`{"id_token":{"acr":{"essential":true,"values":["phr"]}}}`, "pwd", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"value":"mfa"}}}`, "phr", 300, "", 2},
		{`{"id_token":{"acr":{"essential":true,"values":["urn:x","pwd"]}}}`, "", -1, "consent", 3},
		{`{"id_token":{"acr":{"essential":true,"values":["urn:x"]}}}`, "", -1, "", 0},
		{`{"id_token":{"acr":{"essential":false,"values":["phr"]}}}`, "mfa", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"Essential":false,"values":["mfa"]}}}`, "", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"values":["mfa"],"VALUES":["pwd"]}}}`, "", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"values":["mfa"]}},"ID_TOKEN":{"acr":null}}`, "", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"values":["mfa"]},"ACR":{"essential":false}}}`, "", -1, "", 0},
		{`{"id_token":{"acr":{"essential":"true","values":["mfa"]}}}`, "", -1, "", 0},
		{`{"userinfo":{"acr":{"essential":true,"values":["phr"]}}}`, "", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"values":"phr"}}}`, "", -1, "", 0},
		{`{"id_token":null}`, "", -1, "", 0},
		{`null`, "", -1, "", 0},
		{`{`, "mfa", -1, "", 0},
		{`{"id_token":{"acr":{"essential":true,"values":["phr"]}}} x`, "", -1, "", 0},
		{"\"\xff\"", "", 4294967296, "none login", 0},
	} {
		f.Add(s.claims, s.acrValues, s.maxAge, s.prompt, s.min)
	}
	minimums := []string{"", "pwd", "mfa", "phr"}
	f.Fuzz(func(t *testing.T, claims, acrList string, maxAge int64, promptList string, min uint8) {
		c := storage.Client{ID: "rp", MinimumACR: minimums[int(min)%len(minimums)]}
		requested := strings.Fields(acrList)
		prompt := strings.Fields(promptList)
		var age *uint
		if maxAge >= 0 {
			u := uint(maxAge)
			age = &u
		}

		kept, e := essentialACR(claims)
		asked, askedOK := strictEssential(claims)
		switch {
		case claims == "":
			if kept != nil || e != nil {
				t.Fatalf("no claims parameter gave %q, %v", kept, e)
			}
		case !json.Valid([]byte(claims)):
			if e == nil || e.ErrorType != "invalid_request" {
				t.Fatalf("claims %q is not JSON, yet gave %q, %v", claims, kept, e)
			}
		}
		if e != nil {
			if kept != nil {
				t.Fatalf("claims %q gave both %q and %v", claims, kept, e)
			}
			if e.ErrorType != "invalid_request" && e.ErrorType != "unmet_authentication_requirements" {
				t.Fatalf("claims %q refused with %q", claims, e.ErrorType)
			}
			if e.ErrorType == "unmet_authentication_requirements" && askedOK && slices.ContainsFunc(asked, known) {
				t.Fatalf("claims %q asks for issuable %q, yet refused as unmet", claims, asked)
			}
			return // the request goes no further
		}
		if askedOK && asked != nil && len(kept) == 0 {
			t.Fatalf("claims %q asks for an essential acr in %q, which was dropped", claims, asked)
		}
		for _, v := range kept {
			if !known(v) {
				t.Fatalf("claims %q kept %q, which Gatehouse never issues", claims, v)
			}
			if askedOK && !slices.Contains(asked, v) {
				t.Fatalf("claims %q kept %q, which it never asked for (asked %q)", claims, v, asked)
			}
		}

		ctx := t.Context()
		if len(kept) > 0 {
			ctx = context.WithValue(ctx, essentialACRKey{}, kept)
		}
		r := policy.ForClient(c, acrValues(ctx, requested), age, prompt)
		// An essential acr outranks acr_values, which are voluntary: then
		// the floor is the essential one, else the weakest acr_values entry.
		floor := max(policy.ACR(c.MinimumACR).Rank(), weakestRank(requested))
		if len(kept) > 0 {
			floor = max(policy.ACR(c.MinimumACR).Rank(), weakestRank(kept))
		}
		if got := policy.ACR(r.ACR).Rank(); got < floor {
			t.Fatalf("client min %q, acr_values %q, essential %q: requirement %q is weaker than asked", c.MinimumACR, requested, kept, r.ACR)
		}
		switch {
		case age == nil && r.PasswordWithin != nil:
			t.Fatalf("no max_age, yet the password must be within %v", *r.PasswordWithin)
		case age != nil && (r.PasswordWithin == nil || *r.PasswordWithin != time.Duration(*age)*time.Second):
			t.Fatalf("max_age %d became %v", *age, r.PasswordWithin)
		}
		if !slices.Equal(r.Prompt, prompt) {
			t.Fatalf("prompt %q became %q", prompt, r.Prompt)
		}
	})
}

func known(v string) bool { return policy.ACR(v).Rank() >= 0 }

// weakestRank is the rank of the weakest value Gatehouse issues in vs, or
// -1 for none.
func weakestRank(vs []string) int {
	rank := -1
	for _, v := range vs {
		if r := policy.ACR(v).Rank(); r >= 0 && (rank < 0 || r < rank) {
			rank = r
		}
	}
	return rank
}

// strictEssential reads the claims parameter as OIDC Core spells it, with
// JSON's case-sensitive member names: the essential acr values asked for,
// or nil for none. ok is false when the parameter does not have the
// shape the spec gives it; then nothing is promised but a refusal or a
// requirement no stronger than asked.
func strictEssential(raw string) (values []string, ok bool) {
	var v any
	if json.Unmarshal([]byte(raw), &v) != nil {
		return nil, false
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, v == nil
	}
	idToken, ok := top["id_token"].(map[string]any)
	if !ok {
		return nil, top["id_token"] == nil
	}
	acr, ok := idToken["acr"].(map[string]any)
	if !ok {
		return nil, idToken["acr"] == nil
	}
	essential, ok := acr["essential"].(bool)
	if !ok {
		return nil, acr["essential"] == nil
	}
	if !essential {
		return nil, true
	}
	switch vs := acr["values"].(type) {
	case nil:
	case []any:
		for _, v := range vs {
			s, ok := v.(string)
			if !ok {
				return nil, false
			}
			values = append(values, s)
		}
	default:
		return nil, false
	}
	switch v := acr["value"].(type) {
	case nil:
	case string:
		values = append(values, v)
	default:
		return nil, false
	}
	return values, true
}
