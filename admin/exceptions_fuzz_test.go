package admin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// FuzzExceptionRequest sends the exception form's fields (kind, reason,
// note, evidence), fuzzed, to RequestException for a new user in ward
// with an authenticator app, by actors in and out of their subtree.
// Properties: a request is refused (ErrForbidden) outside the actor's
// scope, or with an InputError for the field at fault, and then stores
// nothing; it is never a server error. What is stored is of a
// kind policy.KindOf knows, for one of that kind's reasons, with the note
// and evidence trimmed and within 2000 characters, and a note whenever
// the reason needs one. Only a short-term exception is in force at once,
// approved by the actor for exactly its kind's 24 hours; a long-term one
// waits for review, or is rejected without evidence (ErrEvidenceRequired).
func FuzzExceptionRequest(f *testing.F) {
	fx, _, _ := newFuzzHandler(f, nil)
	ctx := f.Context()
	actors := []string{"wales-helpdesk", "ward-helpdesk", "global", "england-helpdsk", "nobody"}
	short, long := storage.ExceptionShortTerm, storage.ExceptionLongTerm
	for _, s := range []struct {
		kind, reason, note, evidence string
		actor                        uint8
	}{
		{short, "phone_lost", "", "", 0},
		{short, "other", "travelling, phone broken", "", 1},
		{short, "other", " \t\n", "", 0},
		{short, "accessibility", "", "", 2},
		{long, "clinical_risk", "", "Risk assessment RA-17", 0},
		{long, "clinical_risk", "", "  ", 0},
		{long, "phone_lost", "", "x", 0},
		{"forever", "phone_lost", "", "", 0},
		{"SHORT_TERM", "PHONE_LOST", "", "", 0},
		{" short_term", "phone_lost ", "", "", 0},
		{short, "other", strings.Repeat("é", 2000), "", 0},
		{short, "other", strings.Repeat("a", 2001), "", 0},
		{long, "secure_location", "", strings.Repeat("a", 2001), 2},
		{short, "phone_lost", "", "", 3},
		{short, "phone_lost", "", "", 4},
		{"", "", "", "", 0},
	} {
		f.Add(s.kind, s.reason, s.note, s.evidence, s.actor)
	}
	n := 0 // users made so far
	f.Fuzz(func(t *testing.T, kind, reason, note, evidence string, who uint8) {
		n++
		u := storage.User{ID: fmt.Sprint("user", n), Username: fmt.Sprint("user", n), OrgUnitID: "ward"}
		if err := fx.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if err := fx.store.CreateMethod(ctx, storage.Method{ID: u.ID + "-app", UserID: u.ID, Type: storage.MethodTOTP}); err != nil {
			t.Fatal(err)
		}
		actor := actors[int(who)%len(actors)]
		e, err := fx.svc.RequestException(ctx, fx.actor[actor], ExceptionRequest{UserID: u.ID, Kind: kind, Reason: reason, Note: note, Evidence: evidence})
		list, lerr := fx.store.ListUserExceptions(ctx, u.ID)
		if lerr != nil {
			t.Fatal(lerr)
		}
		stored := len(list) > 0
		var in *factors.InputError
		switch {
		case errors.Is(err, ErrForbidden):
			if actor == "wales-helpdesk" || actor == "ward-helpdesk" || actor == "global" || stored {
				t.Fatalf("%s: refused (stored %v): %v", actor, stored, err)
			}
			return
		case errors.Is(err, ErrEvidenceRequired):
		case errors.As(err, &in):
			if stored {
				t.Fatalf("%s, %q/%q: refused on %s, yet stored", actor, kind, reason, in.Field)
			}
			return
		case err != nil:
			t.Fatalf("%s, %q/%q: %v", actor, kind, reason, err)
		}
		if !stored {
			t.Fatalf("%s, %q/%q: accepted, nothing stored", actor, kind, reason)
		}
		k, ok := policy.KindOf(e.Kind)
		r, known := k.Reason(e.Reason)
		switch {
		case !ok || !known || e.Kind != kind || e.Reason != reason:
			t.Fatalf("%q/%q stored as %q/%q", kind, reason, e.Kind, e.Reason)
		case e.Note != strings.TrimSpace(note) || e.Evidence != strings.TrimSpace(evidence) ||
			utf8.RuneCountInString(e.Note) > maxText || utf8.RuneCountInString(e.Evidence) > maxText:
			t.Fatalf("note %q, evidence %q stored as %q, %q", note, evidence, e.Note, e.Evidence)
		case r.NeedsNote && e.Note == "":
			t.Fatalf("reason %q stored without a note", reason)
		}
		switch {
		case !k.Reviewed:
			if err != nil || e.State != storage.ExceptionApproved || e.DecidedBy != actor || !e.ExpiresAt.Equal(fx.now.Add(k.Lasts)) || k.Lasts != 24*time.Hour {
				t.Fatalf("short-term %+v, %v: want approved by %s for 24 hours", e, err, actor)
			}
		case e.Evidence == "":
			if !errors.Is(err, ErrEvidenceRequired) || e.State != storage.ExceptionRejected || e.InForce(fx.now) {
				t.Fatalf("long-term without evidence %+v, %v: want rejected", e, err)
			}
		default:
			if err != nil || e.State != storage.ExceptionRequested || e.InForce(fx.now) {
				t.Fatalf("long-term %+v, %v: want waiting for review", e, err)
			}
		}
	})
}
