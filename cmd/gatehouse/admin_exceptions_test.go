package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// adminCSRF is the form token of an admin browser.
func (b *browser) adminCSRF(t *testing.T) string {
	t.Helper()
	csrf := b.get(b.e.issuer + "/admin/exceptions").form().Get("csrf")
	if csrf == "" {
		csrf = b.get(b.e.issuer + "/admin/org-units").form().Get("csrf")
	}
	if csrf == "" {
		t.Fatal("no form token on the admin pages")
	}
	return csrf
}

// userExceptions are a user's exceptions, by state.
func userExceptions(t *testing.T, e *env, userID string) map[string][]storage.Exception {
	t.Helper()
	list, err := e.store.ListUserExceptions(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]storage.Exception{}
	for _, ex := range list {
		out[ex.StateAt(e.clock.Now())] = append(out[ex.StateAt(e.clock.Now())], ex)
	}
	return out
}

// TestAdminExceptionPages: the helpdesk grants a short-term exception from
// the form and the user signs in with a password only; revoking it (after
// the confirmation step) brings the challenge back. A long-term request
// needs evidence, waits in the queue, cannot be approved by whoever asked
// for it, and another admin approves it from the queue. An admin of
// another subtree can neither see nor act on the user.
func TestAdminExceptionPages(t *testing.T) {
	ctx := context.Background()
	e, app, _ := newRequiredAliceEnv(t)
	alice := mustUser(t, e, "alice")
	hdUser := e.withRole(e.addUser("hd", alicePassword), storage.RoleHelpdesk)
	e.withRole(e.addUser("boss", alicePassword), storage.RoleOrgAdmin)
	e.withRole(e.addUser("boss2", alicePassword), storage.RoleOrgAdmin)
	root, _ := findOrgUnit(ctx, e.store, "")
	if err := e.store.CreateOrgUnit(ctx, storage.OrgUnit{ID: "wales", Name: "Wales", ParentID: root.ID}); err != nil {
		t.Fatal(err)
	}
	wales := e.addUser("wales-admin", alicePassword)
	if _, err := e.store.UpdateUser(ctx, wales.ID, func(u storage.User) (storage.User, error) {
		u.Roles = []storage.RoleBinding{{Role: storage.RoleOrgAdmin, OrgUnitID: "wales"}}
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	formURL := e.issuer + "/admin/users/" + alice.ID + "/exceptions/new"
	postURL := "/admin/users/" + alice.ID + "/exceptions"

	// The helpdesk finds alice by username and opens her form.
	hd, _ := e.adminSignIn(t, "hd")
	p := hd.get(e.issuer + "/admin/exceptions/new?username=alice")
	if p.status() != http.StatusOK || !strings.Contains(p.body, "<h1>MFA exception for User alice</h1>") || p.resp.Request.URL.String() != formURL {
		t.Fatalf("finding alice by username: status %d at %s\n%s", p.status(), p.resp.Request.URL, p.body)
	}
	csrf := p.form().Get("csrf")
	// Other without a note: the error summary links to the note.
	p = hd.post(postURL, url.Values{"csrf": {csrf}, "kind": {"short_term"}, "reason": {"other"}})
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#short_note">Say why in a note when the reason is Other</a>`) ||
		!strings.Contains(p.body, `id="short_reason_other" name="reason" value="other" checked`) {
		t.Errorf("Other without a note: status %d\n%s", p.status(), p.body)
	}
	p = hd.post(postURL, url.Values{"csrf": {csrf}, "kind": {"short_term"}, "reason": {"phone_lost"}, "note": {"Ticket 4411"}})
	if !strings.Contains(p.body, "Short-term exception granted") || !strings.Contains(p.body, "Phone lost or stolen") || !strings.Contains(p.body, "Ticket 4411") {
		t.Fatalf("granting a short-term exception: status %d\n%s", p.status(), p.body)
	}
	granted := userExceptions(t, e, alice.ID)[storage.ExceptionApproved]
	if len(granted) != 1 || granted[0].Kind != storage.ExceptionShortTerm {
		t.Fatalf("alice's exceptions in force: %+v", granted)
	}
	wantPasswordOnly(t, signInWithoutChallenge(t, e, app), e.clock.Now())

	// A second one while the first is in force is refused, with the reason.
	p = hd.post(postURL, url.Values{"csrf": {csrf}, "kind": {"short_term"}, "reason": {"no_signal"}})
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#short">This user already has an exception until`) {
		t.Errorf("a second exception: status %d\n%s", p.status(), p.body)
	}

	// Never for oneself, however asked; the attempt is audited.
	p = hd.post("/admin/users/"+hdUser.ID+"/exceptions", url.Values{"csrf": {csrf}, "kind": {"short_term"}, "reason": {"phone_lost"}})
	if p.status() != http.StatusForbidden || !strings.Contains(p.body, "You can&#39;t make an exception for yourself") {
		t.Errorf("an exception for oneself: status %d\n%s", p.status(), p.body)
	}
	if self, _ := e.store.ListAudit(ctx, storage.AuditQuery{Subject: hdUser.ID, Action: "exception.requested"}); len(self) != 1 || self[0].Outcome != storage.OutcomeDenied {
		t.Errorf("audit of an exception for oneself: %+v", self)
	}

	// Revoke: first the confirmation step, then the exception ends.
	revoke := "/admin/exceptions/" + granted[0].ID + "/revoke"
	p = hd.post(revoke, url.Values{"csrf": {csrf}, "note": {"Phone found"}})
	if !strings.Contains(p.body, "Revoke User alice&#39;s exception?") || p.form().Get("confirm") != "yes" || p.form().Get("note") != "Phone found" {
		t.Fatalf("revoke: want the confirmation step, got status %d\n%s", p.status(), p.body)
	}
	if len(userExceptions(t, e, alice.ID)[storage.ExceptionApproved]) != 1 {
		t.Fatal("the exception was revoked before the confirmation")
	}
	if p = hd.post(revoke, p.form()); !strings.Contains(p.body, "Exception revoked") {
		t.Fatalf("confirming the revoke: status %d\n%s", p.status(), p.body)
	}
	if r := userExceptions(t, e, alice.ID)[storage.ExceptionRevoked]; len(r) != 1 || r[0].DecisionNote != "Phone found" {
		t.Errorf("alice's revoked exceptions: %+v", r)
	}
	wantChallenge(t, e, app, "after the exception was revoked from the admin pages")

	// Alice is told of both, once each.
	e.sendDue()
	box := e.newBrowser().get(e.issuer + "/dev/outbox").body
	until := granted[0].ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST")
	for _, want := range []string{
		"Your helpdesk granted an exception on your account, short-term, Phone lost or stolen, until " + until,
		"The exception on your account, short-term, Phone lost or stolen, until " + until + ", has ended",
	} {
		if strings.Count(box, want) != 1 {
			t.Errorf("the dev outbox has %q %d times, want once:\n%s", want, strings.Count(box, want), box)
		}
	}

	// Long-term without evidence: the reason is shown, the request is
	// recorded as rejected.
	p = hd.post(postURL, url.Values{"csrf": {csrf}, "kind": {"long_term"}, "reason": {"accessibility"}})
	if p.status() != http.StatusUnprocessableEntity || !strings.Contains(p.body, `<a href="#evidence">Evidence is required for a long-term exception</a>`) ||
		!strings.Contains(p.body, "recorded as rejected") || !strings.Contains(p.body, `id="long_reason" name="reason" value="accessibility" checked`) {
		t.Errorf("long-term without evidence: status %d\n%s", p.status(), p.body)
	}
	if r := userExceptions(t, e, alice.ID)[storage.ExceptionRejected]; len(r) != 1 || r[0].Kind != storage.ExceptionLongTerm {
		t.Errorf("alice's rejected exceptions: %+v", r)
	}

	// With evidence, an org admin's request waits in the queue; neither
	// they nor the helpdesk may approve it.
	boss, _ := e.adminSignIn(t, "boss")
	bossCSRF := boss.adminCSRF(t)
	evidence := "Occupational health assessment OH-2291 <cannot use a phone app>"
	p = boss.post(postURL, url.Values{"csrf": {bossCSRF}, "kind": {"long_term"}, "reason": {"clinical_risk"}, "evidence": {evidence}})
	if !strings.Contains(p.body, "Long-term exception requested") || !strings.Contains(p.body, "OH-2291 &lt;cannot use a phone app&gt;") {
		t.Fatalf("long-term with evidence: status %d\n%s", p.status(), p.body)
	}
	pending := userExceptions(t, e, alice.ID)[storage.ExceptionRequested]
	if len(pending) != 1 {
		t.Fatalf("alice's pending requests: %+v", pending)
	}
	approve := "/admin/exceptions/" + pending[0].ID + "/approve"
	if !strings.Contains(p.body, "You made this request: another admin must approve it.") {
		t.Errorf("the requester's queue does not say another admin must approve:\n%s", p.body)
	}
	if strings.Contains(p.body, `<button type="submit">Approve<`) {
		t.Error("the requester is offered an Approve button for their own request")
	}
	p = boss.post(approve, url.Values{"csrf": {bossCSRF}})
	if p.status() != http.StatusConflict || !strings.Contains(p.body, `<a href="#exception-`+pending[0].ID+`">Another admin must approve a request you made</a>`) {
		t.Errorf("the requester approving: status %d\n%s", p.status(), p.body)
	}
	if p = hd.post(approve, url.Values{"csrf": {csrf}}); p.status() != http.StatusForbidden {
		t.Errorf("the helpdesk approving: status %d, want 403", p.status())
	}
	if len(userExceptions(t, e, alice.ID)[storage.ExceptionRequested]) != 1 {
		t.Fatal("the request was decided by someone who may not")
	}
	wantChallenge(t, e, app, "a long-term request not yet approved")

	// Another admin approves it from the queue.
	boss2, _ := e.adminSignIn(t, "boss2")
	p = boss2.get(e.issuer + "/admin/exceptions")
	if !strings.Contains(p.body, `action="`+approve+`"`) || !strings.Contains(p.body, `<a href="/admin/users/`+alice.ID+`">User alice</a>`) {
		t.Fatalf("the queue for another admin: status %d\n%s", p.status(), p.body)
	}
	p = boss2.post(approve, url.Values{"csrf": {p.form().Get("csrf")}, "note": {"Assessment seen"}})
	if !strings.Contains(p.body, "Exception approved") || !strings.Contains(p.body, "Assessment seen") || !strings.Contains(p.body, "in 180 days") {
		t.Fatalf("approving: status %d\n%s", p.status(), p.body)
	}
	wantPasswordOnly(t, signInWithoutChallenge(t, e, app), e.clock.Now())

	// An admin of another subtree sees none of it and can do none of it.
	w, _ := e.adminSignIn(t, "wales-admin")
	p = w.get(e.issuer + "/admin/exceptions")
	if p.status() != http.StatusOK || strings.Contains(p.body, "User alice") || strings.Contains(p.body, "OH-2291") {
		t.Errorf("another subtree's exceptions page shows alice: status %d\n%s", p.status(), p.body)
	}
	wCSRF := w.adminCSRF(t)
	approved := userExceptions(t, e, alice.ID)[storage.ExceptionApproved]
	for _, tc := range []struct {
		what string
		do   func() page
	}{
		{"find alice", func() page { return w.get(e.issuer + "/admin/exceptions/new?username=alice") }},
		{"alice's form", func() page { return w.get(formURL) }},
		{"grant alice", func() page {
			return w.post(postURL, url.Values{"csrf": {wCSRF}, "kind": {"short_term"}, "reason": {"phone_lost"}})
		}},
		{"revoke alice's", func() page {
			return w.post("/admin/exceptions/"+approved[0].ID+"/revoke", url.Values{"csrf": {wCSRF}, "confirm": {"yes"}})
		}},
		{"approve for alice", func() page { return w.post(approve, url.Values{"csrf": {wCSRF}}) }},
	} {
		if p := tc.do(); p.status() != http.StatusForbidden || strings.Contains(p.body, "User alice") {
			t.Errorf("wales admin, %s: status %d, want 403", tc.what, p.status())
		}
	}
	if len(userExceptions(t, e, alice.ID)[storage.ExceptionApproved]) != 1 {
		t.Error("the wales admin changed alice's exceptions")
	}
	events, err := e.store.ListAudit(ctx, storage.AuditQuery{Subject: alice.ID})
	if err != nil {
		t.Fatal(err)
	}
	denied := map[string]int{}
	for _, ev := range events {
		if ev.Actor == wales.ID && ev.Outcome == storage.OutcomeDenied {
			denied[ev.Action]++
		}
	}
	for action, want := range map[string]int{"exception.viewed": 2, "exception.requested": 1, "exception.revoked": 1, "exception.approved": 1} {
		if denied[action] != want {
			t.Errorf("denied %s events for the wales admin: %d, want %d (all: %v)", action, denied[action], want, denied)
		}
	}
}
