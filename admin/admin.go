// Package admin owns what admins and the helpdesk do: granting and
// approving MFA exceptions, resetting a user's MFA, and (with the admin
// pages) managing org units, users, clients and protected apps. Every
// operation checks the actor's role over the subject's org-unit subtree
// and is audited, allowed or not. It works over the storage contract,
// never raw bbolt.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/factors/accesspass"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Errors an operation returns; pages translate them.
var (
	// ErrForbidden: the actor holds no role that allows this over the
	// subject's org unit. The attempt is audited as denied.
	ErrForbidden = errors.New("outside your scope")
)

// Refusal is ErrForbidden with the real reason, worded for the admin: the
// subject is outside their part of the organisation, or this needs a role
// they do not hold there, or the subject holds a role beyond theirs.
type Refusal struct{ Why string }

func (r *Refusal) Error() string        { return "forbidden: " + r.Why }
func (r *Refusal) Is(target error) bool { return target == ErrForbidden }

var (
	errOutside   = &Refusal{Why: "That is outside the part of the organisation you look after."}
	errRoleAbove = &Refusal{Why: "They hold an admin or helpdesk role you could not grant: ask an admin over their role."}
)

// Actor is who is acting, and from where, for scope checks and audit.
type Actor struct {
	User      storage.User
	IP        string
	UserAgent string
}

// System is the actor for an operator's tool, such as the command line
// (name "cli"): whoever holds the server's files holds a global admin's
// power, so it acts as one, through the same rules, and its changes are
// audited under name.
func System(name string) Actor {
	return Actor{User: storage.User{ID: name, Username: name, Roles: []storage.RoleBinding{{Role: storage.RoleGlobalAdmin}}}}
}

// Config configures the Service.
type Config struct {
	// PhoneRegions are the regions whose phone numbers are accepted where
	// an org unit names none: the server's default.
	PhoneRegions []string
	// OneTimeLifetime is how long the one-time passwords it makes work.
	OneTimeLifetime time.Duration
	// ServiceWords are the service's own words, which a password given to
	// a new user must not be built on (see password.Context).
	ServiceWords []string
	// Passes makes temporary access passes.
	Passes *accesspass.Factor
	// Notifier composes the notices an admin's change to an account sends
	// its holder; nil sends none.
	Notifier *notify.Notifier
	Now      func() time.Time
	Logger   *slog.Logger
}

// Store is the part of storage.Storage the admin pages read and write.
type Store interface {
	storage.OrgUnits
	storage.Users
	storage.Exceptions
	storage.Clients
	storage.Audit
	storage.Methods
	storage.SettingsStore
	ListUserNotifications(ctx context.Context, userID string, limit int) ([]storage.Notification, error)
	Atomically(ctx context.Context, fn func(storage.Tx) error) error
}

// Service runs admin operations. It holds no locks: the invariants its
// operations rely on (a tree, one exception in force) are the store's,
// checked in each write's own transaction, so replicas sharing a database
// keep them too.
type Service struct {
	store   Store
	hasher  *password.Hasher
	regions []string
	// oneTimeLifetime is how long the one-time passwords it makes work.
	oneTimeLifetime time.Duration
	serviceWords    []string
	passes          *accesspass.Factor
	notifier        *notify.Notifier
	// digested is the day of the last approvers' digests this process
	// made (see SendDigests).
	digested atomic.Pointer[time.Time]
	now      func() time.Time
	logger   *slog.Logger
}

// NewService returns a Service over store; hasher hashes the one-time
// passwords it makes.
func NewService(store Store, hasher *password.Hasher, cfg Config) *Service {
	return &Service{store: store, hasher: hasher, regions: cfg.PhoneRegions, oneTimeLifetime: cfg.OneTimeLifetime,
		serviceWords: cfg.ServiceWords, passes: cfg.Passes, notifier: cfg.Notifier, now: cfg.Now, logger: cfg.Logger}
}

// Can reports whether actor holds one of roles over org unit ouID: a
// global admin everywhere, an org admin or helpdesk member in their
// subtree.
func (s *Service) Can(ctx context.Context, actor storage.User, ouID string, roles ...string) (bool, error) {
	if actor.Disabled {
		return false, nil
	}
	for _, b := range actor.Roles {
		if b.Role == storage.RoleGlobalAdmin {
			return true, nil
		}
	}
	chain, err := storage.OrgUnitChain(ctx, s.store, ouID)
	if err != nil {
		return false, err
	}
	for _, b := range actor.Roles {
		if slices.Contains(roles, b.Role) && slices.ContainsFunc(chain, func(ou storage.OrgUnit) bool { return ou.ID == b.OrgUnitID }) {
			return true, nil
		}
	}
	return false, nil
}

// authorize checks that actor may act on u with one of roles, auditing a
// refusal as action denied.
func (s *Service) authorize(ctx context.Context, a Actor, u storage.User, action string, roles ...string) error {
	ok, err := s.Can(ctx, a.User, u.OrgUnitID, roles...)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	// Someone who looks after the unit with another role is refused for
	// the role, not the place.
	if near, err := s.Can(ctx, a.User, u.OrgUnitID, storage.RoleOrgAdmin, storage.RoleHelpdesk); err == nil && near {
		s.audit(ctx, a, u, action, storage.OutcomeDenied, map[string]string{"reason": "needs the role of " + strings.Join(roles, " or ")})
		return &Refusal{Why: "That needs an org admin over their unit. As helpdesk you can issue a temporary access pass or remove one of their methods."}
	}
	s.audit(ctx, a, u, action, storage.OutcomeDenied, map[string]string{"reason": "outside the actor's scope"})
	return errOutside
}

func (s *Service) audit(ctx context.Context, a Actor, u storage.User, action, outcome string, details map[string]string) {
	if err := s.store.AppendAudit(ctx, s.event(a, u, action, outcome, details)); err != nil {
		s.logger.ErrorContext(ctx, "append audit event", "action", action, "err", err)
	}
}

// event is the audit event of a's action on u, now.
func (s *Service) event(a Actor, u storage.User, action, outcome string, details map[string]string) storage.AuditEvent {
	return storage.AuditEvent{Time: s.now(), Actor: a.User.ID, Subject: u.ID, OrgUnitID: u.OrgUnitID, Action: action,
		Outcome: outcome, IP: a.IP, UserAgent: a.UserAgent, Details: details}
}

// change makes a's change to u, its audit event and the notice it sends
// u in one transaction: a crash leaves all or none.
func (s *Service) change(ctx context.Context, a Actor, u storage.User, action string, details map[string]string, change func(storage.Tx) error) error {
	e := s.event(a, u, action, storage.OutcomeSuccess, details)
	return s.commit(ctx, u, func(tx storage.Tx) ([]storage.AuditEvent, error) { return []storage.AuditEvent{e}, change(tx) })
}

// commit runs change in one transaction with the audit events it returns
// and the notices they send u.
func (s *Service) commit(ctx context.Context, u storage.User, change func(storage.Tx) ([]storage.AuditEvent, error)) error {
	mobile, err := s.mobile(ctx, u)
	if err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(tx storage.Tx) error {
		events, err := change(tx)
		if err != nil {
			return err
		}
		for _, e := range events {
			notices, err := s.told(u, &e, mobile)
			if err != nil {
				return err
			}
			if err := tx.AppendAudit(e); err != nil {
				return err
			}
			for _, n := range notices {
				if err := tx.AddNotification(n); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// mobile is the number of u's mobile phone, for the notices to a user
// with no email address; "" for one with an address.
func (s *Service) mobile(ctx context.Context, u storage.User) (string, error) {
	if s.notifier == nil || u.Email != "" {
		return "", nil
	}
	methods, err := s.store.ListUserMethods(ctx, u.ID)
	if err != nil {
		return "", fmt.Errorf("list methods: %w", err)
	}
	return storage.MobilePhone(methods), nil
}

// told is the notices event e sends u; where u is told nothing of an
// event people are told of, e's details say why.
func (s *Service) told(u storage.User, e *storage.AuditEvent, mobile string) ([]storage.Notification, error) {
	if s.notifier == nil {
		return nil, nil
	}
	notices, unsent, err := s.notifier.Notices(u, e.Action, notify.Facts{Details: e.Details, When: e.Time, ByAdmin: true, Mobile: mobile})
	if unsent != "" {
		e.Details = maps.Clone(e.Details)
		if e.Details == nil {
			e.Details = map[string]string{}
		}
		e.Details["notice"] = unsent
	}
	return notices, err
}

// ResetMFA removes all of a user's methods (recovery codes included),
// forgets every device remembered for them, turns their MFA switch off,
// ends their sessions and revokes their tokens: they set MFA up again at their next sign-in (or
// when their org unit asks). Only admins may do it.
func (s *Service) ResetMFA(ctx context.Context, a Actor, userID string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeManage(ctx, a, u, "mfa.reset"); err != nil {
		return err
	}
	methods, err := s.store.ListUserMethods(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("list methods: %w", err)
	}
	// One write: the reset time (from then on no remembered device
	// counts), the methods, the sessions and the tokens, which proved a
	// factor that may be in the wrong hands now.
	now := s.now()
	if err := s.change(ctx, a, u, "mfa.reset", map[string]string{"methods_removed": fmt.Sprint(len(methods))}, func(tx storage.Tx) error {
		if _, err := tx.UpdateUser(u.ID, func(u storage.User) (storage.User, error) {
			u.MFAResetAt, u.MFAEnabled, u.PreferredMethod, u.UpdatedAt = now, false, "", now
			return u, nil
		}); err != nil {
			return err
		}
		if err := tx.DeleteUserMethods(u.ID); err != nil {
			return err
		}
		return signOut(tx, u.ID)
	}); err != nil {
		return fmt.Errorf("reset MFA: %w", err)
	}
	// An exception covers a method out of reach; with none left, it would
	// only let the password in alone.
	return s.revokeInForce(ctx, a, u, "Revoked: the user's MFA was reset", "mfa reset")
}

// revokeInForce revokes u's exception in force, if any, noting why.
func (s *Service) revokeInForce(ctx context.Context, a Actor, u storage.User, note, reason string) error {
	active, err := s.activeException(ctx, u.ID)
	if err != nil || active == nil {
		return err
	}
	now := s.now()
	if err := s.commit(ctx, u, func(tx storage.Tx) ([]storage.AuditEvent, error) {
		revoked, err := tx.UpdateException(active.ID, func(e storage.Exception) (storage.Exception, error) {
			if e.InForce(now) {
				e.State, e.RevokedBy, e.RevokedAt, e.DecisionNote = storage.ExceptionRevoked, a.User.ID, now, note
			}
			return e, nil
		})
		return []storage.AuditEvent{s.event(a, u, "exception.revoked", storage.OutcomeSuccess, exceptionDetails(revoked, "reason", reason))}, err
	}); err != nil {
		return fmt.Errorf("revoke exception: %w", err)
	}
	return nil
}
