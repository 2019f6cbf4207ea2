package policy

import (
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The rules of MFA exceptions, in one place: their kinds, how long each
// lasts, the reasons each may be made for, and which one is in force. The
// admin pages make them, the decision honours them, the provider ends
// tokens with them; all three read these.

// ExceptionKind is one kind of MFA exception.
type ExceptionKind struct {
	Kind  string // storage.ExceptionShortTerm or storage.ExceptionLongTerm
	Label string
	// Lasts is how long the exception is in force once approved.
	Lasts time.Duration
	// Reviewed kinds need evidence and another admin's approval; others
	// are approved as they are made.
	Reviewed bool
	Reasons  []Reason
}

// Reason is a reason an exception may be made for.
type Reason struct {
	Code, Label string
	// NeedsNote: the reason (Other) says too little alone.
	NeedsNote bool
}

// exceptionKinds are the kinds of exception.
var exceptionKinds = []ExceptionKind{
	{Kind: storage.ExceptionShortTerm, Label: "Short-term", Lasts: 24 * time.Hour, Reasons: []Reason{
		{Code: "phone_lost", Label: "Phone lost or stolen"},
		{Code: "phone_misplaced", Label: "Phone misplaced"},
		{Code: "no_signal", Label: "At a location without signal or internet"},
		{Code: "no_notifications", Label: "Not receiving notifications"},
		{Code: "other", Label: "Other (helpdesk discretion; note required)", NeedsNote: true},
	}},
	{Kind: storage.ExceptionLongTerm, Label: "Long-term", Lasts: 180 * 24 * time.Hour, Reviewed: true, Reasons: []Reason{
		{Code: "accessibility", Label: "Accessibility needs"},
		{Code: "clinical_risk", Label: "Disproportionate clinical risk"},
		{Code: "secure_location", Label: "Persistent work in a secure location"},
	}},
}

// KindOf returns the kind named kind.
func KindOf(kind string) (ExceptionKind, bool) {
	i := slices.IndexFunc(exceptionKinds, func(k ExceptionKind) bool { return k.Kind == kind })
	if i < 0 {
		return ExceptionKind{}, false
	}
	k := exceptionKinds[i]
	k.Reasons = slices.Clone(k.Reasons)
	return k, true
}

// Reason returns the kind's reason with code.
func (k ExceptionKind) Reason(code string) (Reason, bool) {
	i := slices.IndexFunc(k.Reasons, func(r Reason) bool { return r.Code == code })
	if i < 0 {
		return Reason{}, false
	}
	return k.Reasons[i], true
}

// ReasonLabel is the words for a reason code, of any kind.
func ReasonLabel(code string) string {
	for _, k := range exceptionKinds {
		if r, ok := k.Reason(code); ok {
			return r.Label
		}
	}
	return code
}

// ActiveException returns the exception in force at now among list, if
// any (storage.Exception.InForce is what in force means). The store keeps
// one in force at a time; of several, the one lasting longest is taken.
func ActiveException(list []storage.Exception, now time.Time) (storage.Exception, bool) {
	var best storage.Exception
	found := false
	for _, e := range list {
		if e.InForce(now) && (!found || e.ExpiresAt.After(best.ExpiresAt)) {
			best, found = e, true
		}
	}
	return best, found
}
