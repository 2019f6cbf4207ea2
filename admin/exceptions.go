package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// errInForce refuses a second exception while active is in force.
func errInForce(active storage.Exception) error {
	return &factors.InputError{Field: "kind", Msg: "This user already has an exception until " + active.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST") + "; revoke it first"}
}

// ErrEvidenceRequired refuses a long-term request without evidence; the
// request is recorded as rejected with this reason.
var ErrEvidenceRequired = &factors.InputError{Field: "evidence", Msg: "Evidence is required for a long-term exception"}

// maxText bounds a note or evidence, which go to the audit log, in
// characters, as the forms' maxlength does.
const maxText = 2000

func tooLong(s string) bool { return utf8.RuneCountInString(s) > maxText }

// ExceptionRequest is what a helpdesk member or admin fills in.
type ExceptionRequest struct {
	UserID   string
	Kind     string
	Reason   string
	Note     string
	Evidence string
}

// RequestException makes an exception for a user. A short-term exception
// is approved at once, for 24 hours; a long-term one waits for another
// admin's approval, and without evidence is rejected. Nobody makes one for
// themselves, nor for an account holding a role they could not grant (a
// helpdesk member waiving an org admin's second factor), and the user must
// already have a registered method: an exception covers a method that is
// unavailable, not one never set up.
func (s *Service) RequestException(ctx context.Context, a Actor, req ExceptionRequest) (storage.Exception, error) {
	u, err := s.store.GetUser(ctx, req.UserID)
	if err != nil {
		return storage.Exception{}, fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeCovering(ctx, a, u, "exception.requested", storage.RoleOrgAdmin, storage.RoleHelpdesk); err != nil {
		return storage.Exception{}, err
	}
	if a.User.ID == u.ID {
		s.audit(ctx, a, u, "exception.requested", storage.OutcomeDenied, map[string]string{"reason": "self-service"})
		return storage.Exception{}, ErrForbidden
	}
	now := s.now()
	e := storage.Exception{
		ID: storage.NewID(), UserID: u.ID, OrgUnitID: u.OrgUnitID, Kind: req.Kind, Reason: req.Reason,
		Note: strings.TrimSpace(req.Note), Evidence: strings.TrimSpace(req.Evidence),
		State: storage.ExceptionRequested, RequestedBy: a.User.ID, RequestedAt: now,
	}
	kind, ok := policy.KindOf(req.Kind)
	reason, known := kind.Reason(req.Reason)
	switch {
	case !ok:
		return e, &factors.InputError{Field: "kind", Msg: "Choose short-term or long-term"}
	case !known:
		return e, &factors.InputError{Field: "reason", Msg: "Choose a reason from the list"}
	case reason.NeedsNote && e.Note == "":
		return e, &factors.InputError{Field: "note", Msg: "Say why in a note when the reason is Other"}
	case tooLong(e.Note) || tooLong(e.Evidence):
		return e, &factors.InputError{Field: "note", Msg: fmt.Sprintf("Keep the note and evidence under %d characters", maxText)}
	}
	if err := s.hasMethod(ctx, u); err != nil {
		return e, err
	}
	active, err := s.activeException(ctx, u.ID)
	if err != nil {
		return e, err
	}
	if active != nil && !e.Replaces(*active) {
		return e, errInForce(*active)
	}
	switch {
	case !kind.Reviewed:
		e.State, e.DecidedBy, e.DecidedAt, e.ExpiresAt = storage.ExceptionApproved, a.User.ID, now, now.Add(kind.Lasts)
	case e.Evidence == "":
		e.State, e.DecidedAt, e.DecisionNote = storage.ExceptionRejected, now, ErrEvidenceRequired.Msg
	}
	var approvals []storage.Notification
	if e.State == storage.ExceptionRequested {
		if approvals, err = s.approvals(ctx, e, u, a.User); err != nil {
			return e, err
		}
	}
	events := []storage.AuditEvent{s.event(a, u, "exception.requested", storage.OutcomeSuccess, exceptionDetails(e))}
	switch e.State {
	case storage.ExceptionApproved:
		events = append(events, s.event(a, u, "exception.approved", storage.OutcomeSuccess, exceptionDetails(e)))
	case storage.ExceptionRejected:
		events = append(events, s.event(a, u, "exception.rejected", storage.OutcomeSuccess, exceptionDetails(e)))
	}
	// The store refuses a second one in force made meanwhile.
	switch err := s.commit(ctx, u, func(tx storage.Tx) ([]storage.AuditEvent, error) {
		if err := tx.CreateException(e); err != nil {
			return nil, err
		}
		for _, n := range approvals {
			if err := tx.AddNotification(n); err != nil {
				return nil, err
			}
		}
		return events, nil
	}); {
	case errors.Is(err, storage.ErrConflict):
		return e, &factors.InputError{Field: "kind", Msg: "Another exception for this user was made just now: reload to see it"}
	case err != nil:
		return e, fmt.Errorf("create exception: %w", err)
	case e.State == storage.ExceptionRejected:
		return e, ErrEvidenceRequired
	}
	return e, nil
}

// DecideException approves or rejects a long-term request. The approver
// must be an admin over the user, and neither the person who asked for it
// nor the user it is for.
func (s *Service) DecideException(ctx context.Context, a Actor, id string, approve bool, note string) (storage.Exception, error) {
	e, u, err := s.exceptionAndUser(ctx, id)
	if err != nil {
		return e, err
	}
	action := "exception.rejected"
	if approve {
		action = "exception.approved"
	}
	if err := s.authorizeCovering(ctx, a, u, action, storage.RoleOrgAdmin); err != nil {
		return e, err
	}
	if approve && a.User.ID == e.RequestedBy {
		s.audit(ctx, a, u, action, storage.OutcomeDenied, exceptionDetails(e, "reason", "requester cannot approve"))
		return e, &factors.InputError{Field: "decision", Msg: "Another admin must approve a request you made"}
	}
	if approve && a.User.ID == u.ID {
		s.audit(ctx, a, u, action, storage.OutcomeDenied, exceptionDetails(e, "reason", "self-service"))
		return e, &factors.InputError{Field: "decision", Msg: "Another admin must approve an exception for you"}
	}
	if note = strings.TrimSpace(note); tooLong(note) {
		return e, &factors.InputError{Field: "decision", Msg: fmt.Sprintf("Keep the decision note under %d characters", maxText)}
	}
	if approve {
		if err := s.hasMethod(ctx, u); err != nil {
			return e, err
		}
	}
	now := s.now()
	var decided storage.Exception
	err = s.commit(ctx, u, func(tx storage.Tx) (_ []storage.AuditEvent, err error) {
		decided, err = tx.UpdateException(id, func(e storage.Exception) (storage.Exception, error) {
			if e.State != storage.ExceptionRequested {
				return e, &factors.InputError{Field: "decision", Msg: "This request was already " + e.State}
			}
			e.State, e.DecidedBy, e.DecidedAt, e.DecisionNote = storage.ExceptionRejected, a.User.ID, now, note
			if approve {
				kind, _ := policy.KindOf(e.Kind)
				e.State, e.ExpiresAt = storage.ExceptionApproved, now.Add(kind.Lasts)
			}
			return e, nil
		})
		return []storage.AuditEvent{s.event(a, u, action, storage.OutcomeSuccess, exceptionDetails(decided))}, err
	})
	if errors.Is(err, storage.ErrConflict) {
		// Another long-term exception is in force.
		if active, err := s.activeException(ctx, u.ID); err == nil && active != nil {
			return e, errInForce(*active)
		}
		return e, &factors.InputError{Field: "decision", Msg: "Another exception for this user is in force: revoke it first"}
	}
	if err != nil {
		return e, err
	}
	if approve {
		s.auditReplaced(ctx, a, u, decided)
	}
	return decided, nil
}

// auditReplaced records the short-term exceptions the store ended when
// approved was approved.
func (s *Service) auditReplaced(ctx context.Context, a Actor, u storage.User, approved storage.Exception) {
	list, err := s.store.ListUserExceptions(ctx, u.ID)
	if err != nil {
		s.logger.ErrorContext(ctx, "list exceptions", "user", u.ID, "err", err)
		return
	}
	for _, e := range list {
		if e.State == storage.ExceptionRevoked && e.RevokedAt.Equal(approved.DecidedAt) && e.RevokedBy == a.User.ID && e.ID != approved.ID {
			s.audit(ctx, a, u, "exception.revoked", storage.OutcomeSuccess, exceptionDetails(e, "reason", "replaced by long-term exception "+approved.ID))
		}
	}
}

// RevokeException ends an approved exception before it expires: prompts
// resume at the user's next sign-in.
func (s *Service) RevokeException(ctx context.Context, a Actor, id, note string) (storage.Exception, error) {
	e, u, err := s.exceptionAndUser(ctx, id)
	if err != nil {
		return e, err
	}
	if err := s.authorize(ctx, a, u, "exception.revoked", storage.RoleOrgAdmin, storage.RoleHelpdesk); err != nil {
		return e, err
	}
	if note = strings.TrimSpace(note); tooLong(note) {
		return e, &factors.InputError{Field: "exception", Msg: fmt.Sprintf("Keep the note under %d characters", maxText)}
	}
	now := s.now()
	var revoked storage.Exception
	err = s.commit(ctx, u, func(tx storage.Tx) (_ []storage.AuditEvent, err error) {
		revoked, err = tx.UpdateException(id, func(e storage.Exception) (storage.Exception, error) {
			if !e.InForce(now) {
				return e, &factors.InputError{Field: "exception", Msg: "Only an exception in force can be revoked"}
			}
			e.State, e.RevokedBy, e.RevokedAt = storage.ExceptionRevoked, a.User.ID, now
			if note != "" {
				e.DecisionNote = note
			}
			return e, nil
		})
		return []storage.AuditEvent{s.event(a, u, "exception.revoked", storage.OutcomeSuccess, exceptionDetails(revoked))}, err
	})
	if err != nil {
		return e, err
	}
	return revoked, nil
}

func (s *Service) exceptionAndUser(ctx context.Context, id string) (storage.Exception, storage.User, error) {
	e, err := s.store.GetException(ctx, id)
	if err != nil {
		return e, storage.User{}, fmt.Errorf("get exception: %w", err)
	}
	u, err := s.store.GetUser(ctx, e.UserID)
	if err != nil {
		return e, u, fmt.Errorf("get user: %w", err)
	}
	return e, u, nil
}

func (s *Service) hasMethod(ctx context.Context, u storage.User) error {
	methods, err := s.store.ListUserMethods(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("list methods: %w", err)
	}
	if !slices.ContainsFunc(methods, func(m storage.Method) bool { return !m.Fallback() }) {
		return &factors.InputError{Field: "kind", Msg: "This user has no registered method: an exception covers a method that is unavailable. Ask them to set one up instead"}
	}
	return nil
}

// usersWithException counts the users with an exception in force now:
// those who may sign in without a second factor wherever exceptions are
// honoured. It reads the approved exceptions, not every user.
func (s *Service) usersWithException(ctx context.Context) (int, error) {
	list, err := s.store.ListExceptions(ctx, storage.ExceptionApproved)
	if err != nil {
		return 0, fmt.Errorf("list exceptions: %w", err)
	}
	now, users := s.now(), map[string]bool{}
	for _, e := range list {
		if e.InForce(now) {
			users[e.UserID] = true
		}
	}
	return len(users), nil
}

// activeException is the user's exception in force now, or nil.
func (s *Service) activeException(ctx context.Context, userID string) (*storage.Exception, error) {
	list, err := s.store.ListUserExceptions(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list exceptions: %w", err)
	}
	if e, ok := policy.ActiveException(list, s.now()); ok {
		return &e, nil
	}
	return nil, nil
}

// exceptionDetails are e's audit details, and extra ones as key, value
// pairs.
func exceptionDetails(e storage.Exception, extra ...string) map[string]string {
	d := map[string]string{"exception": e.ID, "kind": e.Kind, "reason": e.Reason, "state": e.State}
	for i := 0; i+1 < len(extra); i += 2 {
		d[extra[i]] = extra[i+1]
	}
	if !e.ExpiresAt.IsZero() {
		d["expires"] = e.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if e.Note != "" {
		d["note"] = e.Note
	}
	if e.DecisionNote != "" {
		d["decision_note"] = e.DecisionNote
	}
	return d
}

// approvers are the admins who may approve a long-term exception for u
// asked for by requester: org admins over u's unit, covering u's roles,
// and global admins; never the requester or u.
func (s *Service) approvers(ctx context.Context, u storage.User, requester string) ([]storage.User, error) {
	admins, err := s.store.ListAdmins(ctx)
	if err != nil {
		return nil, fmt.Errorf("list admins: %w", err)
	}
	var list []storage.User
	for _, a := range admins {
		if a.ID == requester || a.ID == u.ID {
			continue
		}
		can, err := s.Can(ctx, a, u.OrgUnitID, storage.RoleOrgAdmin)
		if err != nil {
			return nil, err
		}
		covers, err := s.covers(ctx, a, u)
		if err != nil {
			return nil, err
		}
		if can && covers {
			list = append(list, a)
		}
	}
	return list, nil
}

// approvals are the notices telling e's approvers that it waits for one
// of them.
func (s *Service) approvals(ctx context.Context, e storage.Exception, u, requester storage.User) ([]storage.Notification, error) {
	if s.notifier == nil {
		return nil, nil
	}
	approvers, err := s.approvers(ctx, u, requester.ID)
	if err != nil {
		return nil, err
	}
	return s.notifier.Approvals(approvers, notify.Waiting{Exception: e, User: u, Requester: requester}, e.RequestedAt)
}

// digestHour is the hour of the day, in the server's time zone, after
// which approvers are sent the day's digest of requests still waiting.
const digestHour = 8

// SendDigests adds, once a day after digestHour, a digest for each
// approver of the long-term requests waiting for them. It may run on
// every replica, and any number of times a day: each approver's digest
// for the day is added once. It says how many it added.
func (s *Service) SendDigests(ctx context.Context) (int, error) {
	now := s.now()
	day := time.Date(now.Year(), now.Month(), now.Day(), digestHour, 0, 0, 0, now.Location())
	if last := s.digested.Load(); s.notifier == nil || now.Before(day) || last != nil && last.Equal(day) {
		return 0, nil
	}
	requests, err := s.store.ListExceptions(ctx, storage.ExceptionRequested)
	if err != nil {
		return 0, fmt.Errorf("list exceptions: %w", err)
	}
	waiting := map[string][]notify.Waiting{}
	var order []storage.User
	for _, e := range requests {
		u, err := s.store.GetUser(ctx, e.UserID)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("get user: %w", err)
		}
		requester, err := s.store.GetUser(ctx, e.RequestedBy)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return 0, fmt.Errorf("get user: %w", err)
		}
		approvers, err := s.approvers(ctx, u, e.RequestedBy)
		if err != nil {
			return 0, err
		}
		for _, a := range approvers {
			if waiting[a.ID] == nil {
				order = append(order, a)
			}
			waiting[a.ID] = append(waiting[a.ID], notify.Waiting{Exception: e, User: u, Requester: requester})
		}
	}
	added := 0
	for _, a := range order {
		n, ok, err := s.notifier.ApprovalDigest(a, waiting[a.ID], day)
		if err != nil {
			return added, err
		}
		if !ok {
			continue
		}
		switch err := s.store.Atomically(ctx, func(tx storage.Tx) error { return tx.AddNotification(n) }); {
		case errors.Is(err, storage.ErrAlreadyExists):
		case err != nil:
			return added, fmt.Errorf("add digest: %w", err)
		default:
			added++
		}
	}
	s.digested.Store(&day)
	return added, nil
}
