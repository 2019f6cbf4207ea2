package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// demoClientID is the demo relying party's client, managed by Gatehouse.
const demoClientID = "gatehouse-demo"

// ensureRoot returns the root org unit, making it ("Organisation", MFA
// optional) in a store that has none yet; created says it did.
func ensureRoot(ctx context.Context, store storage.OrgUnits, now time.Time) (root storage.OrgUnit, created bool, err error) {
	ous, err := store.ListOrgUnits(ctx)
	if err != nil {
		return root, false, fmt.Errorf("list org units: %w", err)
	}
	if i := slices.IndexFunc(ous, func(o storage.OrgUnit) bool { return o.ParentID == "" }); i >= 0 {
		return ous[i], false, nil
	}
	root = storage.OrgUnit{ID: storage.NewID(), Name: "Organisation", MFA: storage.MFAOptional, CreatedAt: now}
	if err := store.CreateOrgUnit(ctx, root); errors.Is(err, storage.ErrConflict) {
		// Another replica, starting at the same moment, made it first.
		return ensureRoot(ctx, store, now)
	} else if err != nil {
		return root, false, fmt.Errorf("create root org unit: %w", err)
	}
	return root, true, nil
}

// bootstrap prepares a new store: a root org unit and a global admin whose
// one-time password is written to out, once. It does nothing to a store
// that already has a user. Everything that can fail without writing comes
// first, so a failed first start leaves nothing half-made behind.
func bootstrap(ctx context.Context, store storage.Storage, cfg Config, hasher *password.Hasher, now time.Time, out io.Writer) error {
	users, err := store.ListUsers(ctx, "", 1)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	if len(users.Users) > 0 {
		return nil
	}
	username, err := storage.NormalizeUsername(cfg.Bootstrap.AdminUsername)
	if err != nil {
		return fmt.Errorf("bootstrap.admin_username: %w", err)
	}
	otp := password.Generate()
	hash, err := hasher.Hash(ctx, otp)
	if err != nil {
		return fmt.Errorf("hash admin password: %w", err)
	}
	root, _, err := ensureRoot(ctx, store, now) // an earlier first start may have got this far
	if err != nil {
		return err
	}
	admin := storage.User{
		ID: storage.NewID(), Username: username, DisplayName: "Administrator",
		PasswordHash: hash, MustChangePassword: true, OneTimePasswordExpiresAt: now.Add(cfg.Password.OneTimeLifetime),
		OrgUnitID: root.ID, Roles: []storage.RoleBinding{{Role: storage.RoleGlobalAdmin, OrgUnitID: root.ID}},
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
	}
	// The admin and its audit event are one write. Of replicas starting
	// at the same moment on one database, one makes the admin and tells
	// of it; the others find the username taken, and say nothing.
	err = store.Atomically(ctx, func(tx storage.Tx) error {
		if err := tx.CreateUser(admin); err != nil {
			return err
		}
		return tx.AppendAudit(storage.AuditEvent{Time: now, Actor: "gatehouse", Subject: admin.ID, OrgUnitID: root.ID,
			Action: "bootstrap", Outcome: storage.OutcomeSuccess})
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create admin: %w", err)
	}
	fmt.Fprintf(out, `
  Gatehouse is set up. Sign in as the global admin:

      username: %s
      one-time password: %s

  This password is shown once, works until %s, and must be changed at
  first sign-in. If it expires unused, stop Gatehouse and run
  'gatehouse user set-password --username %s' with the same
  configuration for a new one.

`, username, otp, formatExpiry(admin.OneTimePasswordExpiresAt), username)
	return nil
}

// ensureDemoClient registers (or updates) the demo relying party: a public
// client, so there is no secret to hand over, redirecting to the demo's
// address exactly.
func ensureDemoClient(ctx context.Context, store storage.Clients, demoURL string, now time.Time) error {
	want := storage.Client{
		ID:                     demoClientID,
		Name:                   "Gatehouse demo app",
		RedirectURIs:           []string{demoURL + "/callback"},
		PostLogoutRedirectURIs: []string{demoURL + "/"},
		GrantTypes:             []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken},
		MinimumACR:             string(policy.ACRPassword),
		ExceptionsAllowed:      true,
		CreatedAt:              now,
	}
	_, err := store.UpdateClient(ctx, demoClientID, func(c storage.Client) (storage.Client, error) {
		c.RedirectURIs, c.PostLogoutRedirectURIs = want.RedirectURIs, want.PostLogoutRedirectURIs
		return c, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		err = store.CreateClient(ctx, want)
	}
	if err != nil {
		return fmt.Errorf("register demo client: %w", err)
	}
	return nil
}
