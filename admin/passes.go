package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/accesspass"
	"github.com/gatehouse-id/gatehouse/storage"
)

// What the helpdesk does for a user whose device is lost: a temporary
// access pass gets them back in, and the lost method can be removed.
//
// A temporary access pass gets a user whose device is lost back in: the
// helpdesk or an admin over the user issues one, reads it out, and the user
// signs in with it and registers a new method. One is live at a time (the
// store's rule), it is never for oneself, and never for an account holding
// a role the issuer could not grant.

// IssuePass makes a temporary access pass for a user that lasts lifetime
// (1 to 8 hours) and works once, or until it expires when reusable. It
// returns the pass, to be shown once, and the stored method.
func (s *Service) IssuePass(ctx context.Context, a Actor, userID string, lifetime time.Duration, reusable bool) (string, storage.Method, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return "", storage.Method{}, fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeCovering(ctx, a, u, "access_pass.issued", storage.RoleOrgAdmin, storage.RoleHelpdesk); err != nil {
		return "", storage.Method{}, err
	}
	if a.User.ID == u.ID {
		s.audit(ctx, a, u, "access_pass.issued", storage.OutcomeDenied, map[string]string{"reason": "self-service"})
		return "", storage.Method{}, ErrForbidden
	}
	if lifetime < accesspass.MinLifetime || lifetime > accesspass.MaxLifetime {
		return "", storage.Method{}, &factors.InputError{Field: "lifetime", Msg: "Choose how long the pass lasts: 1 to 8 hours"}
	}
	code, m := s.passes.Issue(u.ID, lifetime, reusable)
	switch err := s.change(ctx, a, u, "access_pass.issued", passDetails(m), func(tx storage.Tx) error { return tx.CreateMethod(m) }); {
	case errors.Is(err, storage.ErrConflict):
		return "", m, &factors.InputError{Field: "lifetime", Msg: "This user has a pass already: revoke it first"}
	case err != nil:
		return "", m, fmt.Errorf("create access pass: %w", err)
	}
	return code, m, nil
}

// RevokePass ends a user's live temporary access pass.
func (s *Service) RevokePass(ctx context.Context, a Actor, userID string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if err := s.authorize(ctx, a, u, "access_pass.revoked", storage.RoleOrgAdmin, storage.RoleHelpdesk); err != nil {
		return err
	}
	pass, err := s.livePass(ctx, u.ID)
	if err != nil {
		return err
	}
	if pass == nil {
		return &factors.InputError{Field: "pass", Msg: "This user has no pass in force"}
	}
	if err := s.change(ctx, a, u, "access_pass.revoked", passDetails(*pass), func(tx storage.Tx) error { return deleteMethod(tx, pass.ID) }); err != nil {
		return fmt.Errorf("delete access pass: %w", err)
	}
	return nil
}

// livePass is the user's temporary access pass in force now, or nil.
func (s *Service) livePass(ctx context.Context, userID string) (*storage.Method, error) {
	methods, err := s.store.ListUserMethods(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list methods: %w", err)
	}
	now := s.now()
	for _, m := range methods {
		if m.Type == storage.MethodPass && m.LiveAt(now) {
			return &m, nil
		}
	}
	return nil, nil
}

func passDetails(m storage.Method) map[string]string {
	uses := "one"
	if accesspass.Reusable(m) {
		uses = "many"
	}
	return map[string]string{"method_id": m.ID, "expires": m.ExpiresAt.UTC().Format(time.RFC3339), "uses": uses}
}

// RemoveMethod removes one of a user's methods (the lost phone): the
// helpdesk may, as well as an org admin; resetting all of them stays an
// org admin's (ResetMFA). The user's preferred method, if it was this one,
// is forgotten.
func (s *Service) RemoveMethod(ctx context.Context, a Actor, userID, methodID string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeCovering(ctx, a, u, "mfa.method_removed", storage.RoleOrgAdmin, storage.RoleHelpdesk); err != nil {
		return err
	}
	m, err := s.store.GetMethod(ctx, methodID)
	if errors.Is(err, storage.ErrNotFound) || err == nil && m.UserID != u.ID {
		return &factors.InputError{Field: "method", Msg: "That method is not one of this user's: reload the page"}
	}
	if err != nil {
		return fmt.Errorf("get method: %w", err)
	}
	now := s.now()
	if err := s.change(ctx, a, u, "mfa.method_removed", factors.AuditDetails(m), func(tx storage.Tx) error {
		if err := deleteMethod(tx, m.ID); err != nil {
			return err
		}
		_, err := tx.UpdateUser(u.ID, func(cur storage.User) (storage.User, error) {
			if cur.PreferredMethod == m.ID {
				cur.PreferredMethod, cur.UpdatedAt = "", now
			}
			return cur, nil
		})
		return err
	}); err != nil {
		return fmt.Errorf("remove method: %w", err)
	}
	return nil
}

// deleteMethod deletes a method in tx; one deleted meanwhile is no error.
func deleteMethod(tx storage.Tx, id string) error {
	if err := tx.DeleteMethod(id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}
