package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/accesspass"
	"github.com/gatehouse-id/gatehouse/factors/otp"
	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login/notify"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The user pages: a search (name, username or email; an org unit and the
// units below it; MFA switch; method) paged by cursor; create a user with
// a one-time password shown once; one user's page (what their next
// sign-in will be, then what the helpdesk needs on a call: methods, a
// temporary access pass, exceptions, recent sign-ins; then details, org
// unit and roles); edit, move, disable and enable, reset the password or the MFA, and,
// for global admins, roles. Helpdesk members see users in their subtrees;
// changing one takes an org admin. The changes are Service methods that
// check scope and audit, refusals too.

// NewUser is what an admin fills in to create a user.
type NewUser struct {
	Username, DisplayName, Email, OrgUnitID string
	// Password, for scripted provisioning, is the first password; empty,
	// one is generated. Either way it is one-time: the user chooses their
	// own at first sign-in.
	Password string
}

// Profile is what an admin may change of a user's details. Their phones
// are their text-message and voice call methods, which only they add.
type Profile struct {
	DisplayName, Email string
}

// covers reports whether actor could grant every role u holds: only a
// global admin a global admin's, and an org admin's or helpdesk member's
// only an org admin over their unit. Without it an org admin could reset
// the password and MFA of an account more powerful than their own, and
// take it over.
func (s *Service) covers(ctx context.Context, actor, u storage.User) (bool, error) {
	for _, b := range u.Roles {
		if b.Role == storage.RoleGlobalAdmin {
			if !isGlobal(actor) {
				return false, nil
			}
			continue
		}
		if ok, err := s.Can(ctx, actor, b.OrgUnitID, storage.RoleOrgAdmin); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func isGlobal(u storage.User) bool {
	return !u.Disabled && slices.ContainsFunc(u.Roles, func(b storage.RoleBinding) bool { return b.Role == storage.RoleGlobalAdmin })
}

// manages reports whether actor may change u: an org admin over u's unit
// who covers u's roles.
func (s *Service) manages(ctx context.Context, actor, u storage.User) (bool, error) {
	ok, err := s.Can(ctx, actor, u.OrgUnitID, storage.RoleOrgAdmin)
	if err != nil || !ok {
		return false, err
	}
	return s.covers(ctx, actor, u)
}

// authorizeManage checks that actor manages u, auditing a refusal as
// action denied.
func (s *Service) authorizeManage(ctx context.Context, a Actor, u storage.User, action string) error {
	return s.authorizeCovering(ctx, a, u, action, storage.RoleOrgAdmin)
}

// authorizeCovering checks that actor holds one of roles over u and covers
// u's roles, auditing a refusal as action denied: what weakens an account
// (a reset, an exception) is for accounts no more powerful than the
// actor could make them.
func (s *Service) authorizeCovering(ctx context.Context, a Actor, u storage.User, action string, roles ...string) error {
	if err := s.authorize(ctx, a, u, action, roles...); err != nil {
		return err
	}
	ok, err := s.covers(ctx, a.User, u)
	if err != nil {
		return err
	}
	if !ok {
		s.audit(ctx, a, u, action, storage.OutcomeDenied, map[string]string{"reason": "the user holds roles beyond the actor's"})
		return errRoleAbove
	}
	return nil
}

// issuePass issues a temporary access pass and shows it, once.
func (h *Handler) issuePass(rq *request) {
	u, ok := h.pathUser(rq, "access_pass.issued", storage.RoleOrgAdmin, storage.RoleHelpdesk)
	if !ok {
		return
	}
	lifetime, err := time.ParseDuration(rq.r.PostFormValue("lifetime"))
	if err != nil {
		lifetime = 0 // refused below, with the rule
	}
	code, m, err := h.svc.IssuePass(rq.ctx(), rq.actor, u.ID, lifetime, rq.r.PostFormValue("reusable") == "yes")
	if isInput(err) {
		h.userPage(rq, http.StatusUnprocessableEntity, u, "", inputErrors(err), nil)
		return
	}
	if err != nil {
		rq.serverError(err)
		return
	}
	name, uses := displayName(u), "once"
	if accesspass.Reusable(m) {
		uses = "any number of times"
	}
	h.pages.AdminNotice(rq.w, http.StatusOK, templates.AdminNoticePage{
		Page: rq.page("Temporary access pass", "Users"), Heading: "Temporary access pass for " + name,
		Message:     fmt.Sprintf("It works %s until %s, in place of %s's second factor, so they can sign in and add a new method.", uses, m.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"), name),
		SecretLabel: "Pass for " + u.Username, Secret: code,
		Next: []string{
			"Read it out to " + name + " in its groups of four, once you are sure it is them: letters and digits that cannot be mixed up (no I, L, O or U).",
			fmt.Sprintf("It is %d random bits, kept only as a keyed hash, and wrong tries are limited like every code's.", accesspass.Bits),
			"They sign in with their password, enter the pass when asked for a second factor, and add a method on Security info straight away. Remove the lost one from this page's methods.",
		},
		Back: templates.NavLink{Label: "Back to " + name + "'s page", URL: "/admin/users/" + u.ID},
	})
}

// removeMethod removes one of a user's methods, after a confirmation step.
func (h *Handler) removeMethod(rq *request) {
	u, ok := h.pathUser(rq, "mfa.method_removed", storage.RoleOrgAdmin, storage.RoleHelpdesk)
	if !ok {
		return
	}
	name := displayName(u)
	if !rq.confirmed("Remove this method from "+name+"'s account?",
		"It stops working at once. "+name+" keeps their other methods, and can add a new one on Security info.",
		"Remove the method", "/admin/users/"+u.ID) {
		return
	}
	if err := h.svc.RemoveMethod(rq.ctx(), rq.actor, u.ID, rq.r.PostFormValue("method")); isInput(err) {
		h.userPage(rq, http.StatusUnprocessableEntity, u, "", inputErrors(err), nil)
		return
	} else if err != nil {
		rq.serverError(err)
		return
	}
	rq.redirect("/admin/users/" + u.ID + "?done=method_removed")
}

// revokePass ends a user's temporary access pass.
func (h *Handler) revokePass(rq *request) {
	u, ok := h.pathUser(rq, "access_pass.revoked", storage.RoleOrgAdmin, storage.RoleHelpdesk)
	if !ok {
		return
	}
	if err := h.svc.RevokePass(rq.ctx(), rq.actor, u.ID); isInput(err) {
		h.userPage(rq, http.StatusUnprocessableEntity, u, "", inputErrors(err), nil)
		return
	} else if err != nil {
		rq.serverError(err)
		return
	}
	rq.redirect("/admin/users/" + u.ID + "?done=pass_revoked")
}

// errUnitGone: the org unit chosen was deleted while the change was made.
var errUnitGone = &factors.InputError{Field: "org_unit", Msg: "That org unit was deleted just now: choose another"}

// CreateUser creates a user in an org unit the actor is an org admin
// over, with a one-time password it returns (to be shown once; empty when
// in.Password gave it, which must pass the password policy) and must
// change at their first sign-in: no admin ever chooses a user's lasting
// password. Refused fields come back as InputErrors, joined.
func (s *Service) CreateUser(ctx context.Context, a Actor, in NewUser) (storage.User, string, error) {
	target := storage.User{OrgUnitID: in.OrgUnitID}
	var errs []error
	_, err := s.store.GetOrgUnit(ctx, in.OrgUnitID)
	switch {
	case errors.Is(err, storage.ErrNotFound) || in.OrgUnitID == "":
		// No unit to check the scope against: check that the actor is an
		// org admin somewhere, and report the unit with the other fields.
		if !slices.ContainsFunc(a.User.Roles, func(b storage.RoleBinding) bool {
			return b.Role == storage.RoleOrgAdmin || b.Role == storage.RoleGlobalAdmin
		}) || a.User.Disabled {
			s.audit(ctx, a, target, "user.created", storage.OutcomeDenied, map[string]string{"reason": "no org admin role"})
			return storage.User{}, "", ErrForbidden
		}
		errs = append(errs, &factors.InputError{Field: "org_unit", Msg: "Choose an org unit"})
	case err != nil:
		return storage.User{}, "", fmt.Errorf("get org unit: %w", err)
	default:
		if err := s.authorize(ctx, a, target, "user.created", storage.RoleOrgAdmin); err != nil {
			return storage.User{}, "", err
		}
	}
	now := s.now()
	u := storage.User{ID: storage.NewID(), OrgUnitID: in.OrgUnitID, MustChangePassword: true, OneTimePasswordExpiresAt: now.Add(s.oneTimeLifetime),
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	if u.Username, err = s.checkUsername(ctx, in.Username); err != nil {
		errs = append(errs, err)
	}
	if u.DisplayName, err = checkDisplayName(in.DisplayName); err != nil {
		errs = append(errs, err)
	}
	if u.Email, err = s.checkEmail(ctx, in.Email, ""); err != nil {
		errs = append(errs, err)
	}
	pw, shown := in.Password, ""
	if pw == "" {
		pw = password.Generate()
		shown = pw
	} else if err := password.CheckPolicy(pw, password.Context{Username: u.Username, Email: u.Email, DisplayName: u.DisplayName, Service: s.serviceWords}); err != nil {
		// Worded for whoever gives it: the errors speak to its owner.
		errs = append(errs, &factors.InputError{Field: "password", Msg: "The first " + strings.Replace(err.Error(), " your ", " the user's ", 1)})
	}
	if err := errors.Join(errs...); err != nil {
		return u, "", err
	}
	if u.PasswordHash, err = s.hasher.Hash(ctx, pw); err != nil {
		return u, "", fmt.Errorf("hash one-time password: %w", err)
	}
	details := map[string]string{"username": u.Username, "email": u.Email, "display_name": u.DisplayName, "first_password": "generated"}
	if shown == "" {
		details["first_password"] = "given"
	}
	// Taken, or the unit deleted, between the checks and now.
	switch err := s.change(ctx, a, u, "user.created", details, func(tx storage.Tx) error { return tx.CreateUser(u) }); {
	case errors.Is(err, storage.ErrAlreadyExists):
		return u, "", &factors.InputError{Field: "username", Msg: "That username or email address was taken just now: choose another"}
	case errors.Is(err, storage.ErrConflict):
		return u, "", errUnitGone
	case err != nil:
		return u, "", fmt.Errorf("create user: %w", err)
	}
	return u, shown, nil
}

// UpdateProfile changes a user's display name and email.
// Refused fields come back as InputErrors, joined.
func (s *Service) UpdateProfile(ctx context.Context, a Actor, userID string, p Profile) (storage.User, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return u, fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeManage(ctx, a, u, "user.updated"); err != nil {
		return u, err
	}
	next := u
	var errs []error
	if next.DisplayName, err = checkDisplayName(p.DisplayName); err != nil {
		errs = append(errs, err)
	}
	if next.Email, err = s.checkEmail(ctx, p.Email, u.ID); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return u, err
	}
	changes := map[string]string{}
	for _, c := range []struct{ k, a, b string }{
		{"display_name", u.DisplayName, next.DisplayName}, {"email", u.Email, next.Email},
	} {
		if c.a != c.b {
			changes[c.k] = c.a + " -> " + c.b
		}
	}
	if len(changes) == 0 {
		return u, nil
	}
	now := s.now()
	var saved storage.User
	err = s.change(ctx, a, u, "user.updated", changes, func(tx storage.Tx) (err error) {
		saved, err = tx.UpdateUser(u.ID, func(cur storage.User) (storage.User, error) {
			cur.DisplayName, cur.Email, cur.UpdatedAt = next.DisplayName, next.Email, now
			return cur, nil
		})
		return err
	})
	if errors.Is(err, storage.ErrAlreadyExists) {
		return u, &factors.InputError{Field: "email", Msg: "Another user has that email address"}
	}
	if err != nil {
		return u, fmt.Errorf("update user: %w", err)
	}
	return saved, nil
}

// MoveUser moves a user to another org unit, whose policy then applies to
// them. The actor must manage the user and be an org admin over the new
// unit too.
func (s *Service) MoveUser(ctx context.Context, a Actor, userID, ouID string) (storage.User, error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return u, fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeManage(ctx, a, u, "user.moved"); err != nil {
		return u, err
	}
	if _, err := s.store.GetOrgUnit(ctx, ouID); errors.Is(err, storage.ErrNotFound) || ouID == "" {
		return u, &factors.InputError{Field: "org_unit", Msg: "Choose an org unit to move to"}
	} else if err != nil {
		return u, fmt.Errorf("get org unit: %w", err)
	}
	if err := s.authorize(ctx, a, storage.User{ID: u.ID, OrgUnitID: ouID}, "user.moved", storage.RoleOrgAdmin); err != nil {
		return u, err
	}
	if ouID == u.OrgUnitID {
		return u, nil
	}
	// A unit that forbids app passwords takes away those the user had.
	chain, err := storage.OrgUnitChain(ctx, s.store, ouID)
	if err != nil {
		return u, err
	}
	keepAppPasswords := policy.Effective(chain).AppPasswords
	now := s.now()
	moved := u
	moved.OrgUnitID = ouID // the event is the new unit's
	var saved storage.User
	err = s.change(ctx, a, moved, "user.moved", map[string]string{"from": u.OrgUnitID, "to": ouID}, func(tx storage.Tx) (err error) {
		saved, err = tx.UpdateUser(u.ID, func(cur storage.User) (storage.User, error) {
			cur.OrgUnitID, cur.UpdatedAt = ouID, now
			return cur, nil
		})
		if err != nil || keepAppPasswords {
			return err
		}
		return tx.DeleteUserAppPasswords(u.ID)
	})
	if errors.Is(err, storage.ErrConflict) {
		return u, errUnitGone
	}
	if err != nil {
		return u, fmt.Errorf("update user: %w", err)
	}
	return saved, nil
}

// SetDisabled disables or enables a user. Disabling also ends every
// session and revokes every refresh and access token: apps lose access at
// their next refresh or introspection, not at the token's expiry. Nobody
// disables themselves.
func (s *Service) SetDisabled(ctx context.Context, a Actor, userID string, disabled bool) error {
	action := "user.enabled"
	if disabled {
		action = "user.disabled"
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeManage(ctx, a, u, action); err != nil {
		return err
	}
	if disabled && u.ID == a.User.ID {
		s.audit(ctx, a, u, action, storage.OutcomeDenied, map[string]string{"reason": "self"})
		return &factors.InputError{Field: "account", Msg: "You can't disable your own account: ask another admin"}
	}
	now := s.now()
	if err := s.change(ctx, a, u, action, nil, func(tx storage.Tx) error {
		if _, err := tx.UpdateUser(u.ID, func(cur storage.User) (storage.User, error) {
			cur.Disabled, cur.UpdatedAt = disabled, now
			return cur, nil
		}); err != nil || !disabled {
			return err
		}
		return signOut(tx, u.ID)
	}); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	return nil
}

// signOut ends a user's sessions and revokes their tokens and app
// passwords, in tx.
func signOut(tx storage.Tx, userID string) error {
	if err := tx.DeleteUserSessions(userID); err != nil {
		return err
	}
	if err := tx.DeleteUserAppPasswords(userID); err != nil {
		return err
	}
	return tx.RevokeUserTokens(userID)
}

// ResetPassword gives a user a new one-time password, returned to be shown
// once with when it expires, which they must change at their next sign-in;
// their sessions end and their tokens are revoked.
func (s *Service) ResetPassword(ctx context.Context, a Actor, userID string) (pw string, expires time.Time, err error) {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return "", expires, fmt.Errorf("get user: %w", err)
	}
	if err := s.authorizeManage(ctx, a, u, "user.password_reset"); err != nil {
		return "", expires, err
	}
	pw = password.Generate()
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return "", expires, fmt.Errorf("hash one-time password: %w", err)
	}
	now := s.now()
	expires = now.Add(s.oneTimeLifetime)
	// The password and the sign-out are one write: a crash between them
	// would leave whoever held a session signed in.
	if err := s.change(ctx, a, u, "user.password_reset", nil, func(tx storage.Tx) error {
		if _, err := tx.UpdateUser(u.ID, func(cur storage.User) (storage.User, error) {
			cur.PasswordHash, cur.MustChangePassword, cur.PasswordChangedAt, cur.UpdatedAt = hash, true, now, now
			cur.OneTimePasswordExpiresAt = expires
			return cur, nil
		}); err != nil {
			return err
		}
		return signOut(tx, u.ID)
	}); err != nil {
		return "", expires, fmt.Errorf("reset password: %w", err)
	}
	return pw, expires, nil
}

// roleLabels are the roles a global admin may grant, in the order offered.
var roleLabels = []templates.Choice{
	{Value: storage.RoleOrgAdmin, Label: "Org admin"},
	{Value: storage.RoleHelpdesk, Label: "Helpdesk"},
	{Value: storage.RoleGlobalAdmin, Label: "Global admin"},
}

func roleLabel(role string) string {
	for _, c := range roleLabels {
		if c.Value == role {
			return c.Label
		}
	}
	return role
}

// GrantRole gives a user a role: org admin or helpdesk over an org unit's
// subtree, or global admin. Only a global admin grants roles.
func (s *Service) GrantRole(ctx context.Context, a Actor, userID string, b storage.RoleBinding) error {
	return s.changeRole(ctx, a, userID, b, true)
}

// RemoveRole takes a role away. A global admin cannot remove their own
// global admin role, so the last one cannot lock everybody out.
func (s *Service) RemoveRole(ctx context.Context, a Actor, userID string, b storage.RoleBinding) error {
	return s.changeRole(ctx, a, userID, b, false)
}

func (s *Service) changeRole(ctx context.Context, a Actor, userID string, b storage.RoleBinding, grant bool) error {
	action := "user.role_removed"
	if grant {
		action = "user.role_granted"
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("get user: %w", err)
	}
	details := map[string]string{"role": b.Role, "org_unit": b.OrgUnitID}
	if !isGlobal(a.User) {
		details["reason"] = "only a global admin changes roles"
		s.audit(ctx, a, u, action, storage.OutcomeDenied, details)
		return ErrForbidden
	}
	switch b.Role {
	case storage.RoleGlobalAdmin:
		b.OrgUnitID = ""
		details["org_unit"] = ""
	case storage.RoleOrgAdmin, storage.RoleHelpdesk:
		if _, err := s.store.GetOrgUnit(ctx, b.OrgUnitID); errors.Is(err, storage.ErrNotFound) || b.OrgUnitID == "" {
			if grant {
				return &factors.InputError{Field: "role_unit", Msg: "Choose the org unit the role is over"}
			}
		} else if err != nil {
			return fmt.Errorf("get org unit: %w", err)
		}
	default:
		return &factors.InputError{Field: "role", Msg: "Choose a role"}
	}
	has := slices.Contains(u.Roles, b)
	switch {
	case grant && has:
		return &factors.InputError{Field: "role", Msg: displayName(u) + " already holds that role"}
	case !grant && !has:
		return &factors.InputError{Field: "role", Msg: displayName(u) + " does not hold that role"}
	case !grant && u.ID == a.User.ID && b.Role == storage.RoleGlobalAdmin:
		details["reason"] = "own global admin role"
		s.audit(ctx, a, u, action, storage.OutcomeDenied, details)
		return &factors.InputError{Field: "role", Msg: "You can't remove your own global admin role: ask another global admin"}
	}
	now := s.now()
	var saved storage.User
	if err := s.change(ctx, a, u, action, details, func(tx storage.Tx) (err error) {
		saved, err = tx.UpdateUser(u.ID, func(cur storage.User) (storage.User, error) {
			cur.Roles = slices.DeleteFunc(slices.Clone(cur.Roles), func(r storage.RoleBinding) bool { return r == b })
			if grant {
				cur.Roles = append(cur.Roles, b)
			}
			cur.UpdatedAt = now
			return cur, nil
		})
		if err != nil || !grant {
			return err
		}
		// A role holder uses their second factor everywhere.
		return tx.DeleteUserAppPasswords(u.ID)
	}); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	if grant {
		return s.revokeUncovered(ctx, a, saved)
	}
	return nil
}

// revokeUncovered ends u's exception in force if whoever granted it could
// not grant it to u as u is now (a role u was just given is beyond them):
// nobody holds an exception they could not be given.
func (s *Service) revokeUncovered(ctx context.Context, a Actor, u storage.User) error {
	active, err := s.activeException(ctx, u.ID)
	if err != nil || active == nil {
		return err
	}
	grantor, err := s.store.GetUser(ctx, active.DecidedBy)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("get exception's grantor: %w", err)
	}
	if err == nil {
		if ok, err := s.covers(ctx, grantor, u); err != nil || ok {
			return err
		}
	}
	return s.revokeInForce(ctx, a, u, "Revoked: a role the user was given is beyond whoever granted it", "role granted beyond the grantor's")
}

// checkUsername checks a new username and returns its stored form.
func (s *Service) checkUsername(ctx context.Context, raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return raw, &factors.InputError{Field: "username", Msg: "Enter a username"}
	}
	// What is stored is checked too: PRECIS maps a full-width ＠ to @,
	// and can lengthen a name (İ is i and a combining dot).
	name, err := storage.NormalizeUsername(raw)
	switch {
	case utf8.RuneCountInString(raw) > 64 || utf8.RuneCountInString(name) > 64:
		return raw, &factors.InputError{Field: "username", Msg: "Use at most 64 characters for the username"}
	case strings.Contains(raw, "@") || strings.Contains(name, "@"):
		// People sign in with their email address too, and the sign-in
		// page tries a username first: a username that looks like one
		// would take that address's sign-ins.
		return raw, &factors.InputError{Field: "username", Msg: "A username can't contain @"}
	case err != nil:
		return raw, &factors.InputError{Field: "username", Msg: "Use letters, digits and punctuation such as . - _ in the username, with no spaces"}
	}
	if _, err := s.store.GetUserByUsername(ctx, name); err == nil {
		return name, &factors.InputError{Field: "username", Msg: "That username is taken"}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return name, fmt.Errorf("get user by username: %w", err)
	}
	return name, nil
}

func checkDisplayName(raw string) (string, error) {
	name := strings.TrimSpace(raw)
	switch {
	case name == "":
		return name, &factors.InputError{Field: "display_name", Msg: "Enter the user's name"}
	case utf8.RuneCountInString(name) > 100:
		return name, &factors.InputError{Field: "display_name", Msg: "Use at most 100 characters for the name"}
	case strings.ContainsFunc(name, unicode.IsControl):
		return name, &factors.InputError{Field: "display_name", Msg: "Use only printable characters in the name"}
	}
	return name, nil
}

// checkEmail checks an email address, which may be empty, and that no
// user but self has it.
func (s *Service) checkEmail(ctx context.Context, raw, self string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", nil
	}
	addr, err := otp.ParseEmail(raw)
	if err != nil || len(addr) > 254 {
		return strings.TrimSpace(raw), &factors.InputError{Field: "email", Msg: "Enter an email address, like name@example.org"}
	}
	addr = storage.NormalizeEmail(addr)
	if other, err := s.store.GetUserByEmail(ctx, addr); err == nil && other.ID != self {
		return addr, &factors.InputError{Field: "email", Msg: "Another user has that email address"}
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return addr, fmt.Errorf("get user by email: %w", err)
	}
	return addr, nil
}

// The pages.

func (h *Handler) userRoutes(get, post func(string, func(*request))) {
	get("/admin/users", h.showUsers)
	get("/admin/users/new", h.newUser)
	post("/admin/users", h.createUser)
	get("/admin/users/{id}", h.showUser)
	post("/admin/users/{id}", h.saveUser)
	post("/admin/users/{id}/move", h.moveUser)
	post("/admin/users/{id}/disable", func(rq *request) { h.setDisabled(rq, true) })
	post("/admin/users/{id}/enable", func(rq *request) { h.setDisabled(rq, false) })
	post("/admin/users/{id}/reset-password", h.resetPassword)
	get("/admin/users/{id}/mfa", h.showUserMFA)
	post("/admin/users/{id}/mfa", h.resetUserMFA)
	post("/admin/users/{id}/roles", func(rq *request) { h.changeRole(rq, true) })
	post("/admin/users/{id}/roles/remove", func(rq *request) { h.changeRole(rq, false) })
	post("/admin/users/{id}/access-pass", h.issuePass)
	post("/admin/users/{id}/access-pass/revoke", h.revokePass)
	post("/admin/users/{id}/methods/remove", h.removeMethod)
}

// usersPerPage is the size of a page of search results.
const usersPerPage = 50

var userNotices = map[string]string{
	"saved":          "Details saved.",
	"moved":          "User moved. Their new org unit's policy applies from their next sign-in.",
	"disabled":       "User disabled: they were signed out everywhere and apps' tokens for them were revoked.",
	"enabled":        "User enabled: they can sign in again.",
	"role_granted":   "Role granted.",
	"role_removed":   "Role removed.",
	"pass_revoked":   "Temporary access pass revoked.",
	"method_removed": "Method removed.",
}

func (h *Handler) showUsers(rq *request) {
	ctx := rq.ctx()
	if !rq.holds(storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		rq.forbidden("", "", "user.searched")
		return
	}
	t, err := h.svc.loadTree(ctx)
	if err != nil {
		rq.serverError(err)
		return
	}
	in := rq.r.URL.Query()
	q := storage.UserQuery{Text: strings.TrimSpace(in.Get("q")), Cursor: in.Get("cursor"), Limit: usersPerPage}
	if r := []rune(q.Text); len(r) > 200 {
		q.Text = string(r[:200])
	}
	if m := in.Get("mfa"); m == "on" || m == "off" {
		q.MFA = m
	}
	if m := in.Get("method"); slices.ContainsFunc(h.methods, func(c templates.Choice) bool { return c.Value == m }) {
		q.Method = m
	}
	// The units searched: the one chosen and those below it, else every
	// unit the actor looks after. A global admin searching everywhere
	// needs no unit filter.
	roots := t.visibleRoots(rq.actor.User, storage.RoleOrgAdmin, storage.RoleHelpdesk)
	ou := in.Get("ou")
	if ou != "" {
		if _, ok := t.units[ou]; !ok {
			rq.fail(http.StatusBadRequest, "No such org unit", "Choose an org unit from the list.", "bad_org_unit")
			return
		}
		if !rq.allowed(ou, "", "user.searched", storage.RoleOrgAdmin, storage.RoleHelpdesk) {
			return
		}
		roots = []string{ou}
	}
	everywhere := rq.global() && len(roots) == 1 && roots[0] == t.root
	if !everywhere {
		for _, root := range roots {
			t.walk(root, 0, func(u storage.OrgUnit, _ int) bool {
				q.OrgUnitIDs = append(q.OrgUnitIDs, u.ID)
				return true
			})
		}
	}
	p := templates.UsersPage{Page: rq.page("Users", "Users"), Notice: userNotices[in.Get("done")], Text: q.Text,
		AllUnits: "All my units", CanCreate: rq.holds(storage.RoleOrgAdmin)}
	if rq.global() {
		p.AllUnits = "All units"
	}
	for _, root := range t.visibleRoots(rq.actor.User, storage.RoleOrgAdmin, storage.RoleHelpdesk) {
		t.walk(root, 0, func(u storage.OrgUnit, depth int) bool {
			p.Units = append(p.Units, templates.Choice{Value: u.ID, Label: strings.Repeat("— ", depth) + u.Name, Selected: u.ID == ou})
			return true
		})
	}
	p.MFA = []templates.Choice{{Value: "", Label: "On or off"}, {Value: "on", Label: "On"}, {Value: "off", Label: "Off"}}
	for i := range p.MFA {
		p.MFA[i].Selected = p.MFA[i].Value == q.MFA
	}
	p.Methods = []templates.Choice{{Value: "", Label: "Any or none", Selected: q.Method == ""}}
	for _, m := range h.methods {
		p.Methods = append(p.Methods, templates.Choice{Value: m.Value, Label: m.Label, Selected: m.Value == q.Method})
	}
	// A scoped actor whose units are all gone searches nothing, never
	// everything.
	if everywhere || len(q.OrgUnitIDs) > 0 {
		page, err := h.store.SearchUsers(ctx, q)
		if err != nil {
			rq.serverError(err)
			return
		}
		for _, u := range page.Users {
			methods, err := h.store.ListUserMethods(ctx, u.ID)
			if err != nil {
				rq.serverError(err)
				return
			}
			row := templates.UserRow{ID: u.ID, Username: u.Username, Name: u.DisplayName, Email: u.Email,
				OrgUnit: t.units[u.OrgUnitID].Name, MFA: u.MFAEnabled, Disabled: u.Disabled}
			for _, m := range methods {
				if l := h.methodLabel(m.Type); !slices.Contains(row.Methods, l) {
					row.Methods = append(row.Methods, l)
				}
			}
			p.Rows = append(p.Rows, row)
		}
		link := func(cursor string) string {
			v := url.Values{}
			for k, val := range map[string]string{"q": q.Text, "ou": ou, "mfa": q.MFA, "method": q.Method, "cursor": cursor} {
				if val != "" {
					v.Set(k, val)
				}
			}
			return "/admin/users?" + v.Encode()
		}
		if page.Next != "" {
			p.Next = link(page.Next)
		}
		if q.Cursor != "" {
			p.First = link("")
		}
	}
	h.pages.AdminUsers(rq.w, http.StatusOK, p)
}

func (h *Handler) methodLabel(typ string) string {
	for _, m := range h.methods {
		if m.Value == typ {
			return m.Label
		}
	}
	return typ
}

func (h *Handler) newUser(rq *request) {
	h.newUserPage(rq, http.StatusOK, NewUser{}, nil)
}

// newUserPage shows the create form with what was sent and what was
// wrong with it. Helpdesk members are refused: creating takes an org
// admin.
func (h *Handler) newUserPage(rq *request, status int, in NewUser, errs []error) {
	t, err := h.svc.loadTree(rq.ctx())
	if err != nil {
		rq.serverError(err)
		return
	}
	units := h.editableUnits(rq, t, "")
	if len(units) == 0 {
		rq.forbidden("", "", "user.created")
		return
	}
	p := templates.NewUserPage{Page: rq.page("Create a user", "Users"), Errors: formErrors(errs...)}
	p.Fields = []templates.TextField{
		{ID: "username", Label: "Username", Type: "text", Hint: "What they sign in with, with their password. It can't be changed later.", MaxLength: 64, Autocomplete: "off", Field: templates.Field{Value: in.Username}},
		{ID: "display_name", Label: "Name", Type: "text", Hint: "Their full name, as colleagues know it.", MaxLength: 100, Autocomplete: "off", Field: templates.Field{Value: in.DisplayName}},
		{ID: "email", Label: "Email address (optional)", Type: "email", Hint: "They can sign in with it instead of their username.", MaxLength: 254, Autocomplete: "off", Field: templates.Field{Value: in.Email}},
	}
	setFieldErrors(p.Fields, p.Errors)
	for _, u := range units {
		p.Units = append(p.Units, templates.Choice{Value: u.URL, Label: u.Label, Selected: u.URL == in.OrgUnitID})
	}
	for _, e := range p.Errors {
		if e.Field == "org_unit" {
			p.UnitErr = e.Msg
		}
	}
	h.pages.AdminNewUser(rq.w, status, p)
}

// setFieldErrors puts each refused field's message by its field.
func setFieldErrors(fields []templates.TextField, errs []templates.FormError) {
	for _, e := range errs {
		for i := range fields {
			if fields[i].ID == e.Field {
				fields[i].Error = e.Msg
			}
		}
	}
}

// inputErrors lists the refused fields in err: one, or several joined.
func inputErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func isInput(err error) bool {
	var ie *factors.InputError
	return errors.As(err, &ie)
}

func (h *Handler) createUser(rq *request) {
	f := rq.r.PostForm
	in := NewUser{Username: f.Get("username"), DisplayName: f.Get("display_name"), Email: f.Get("email"), OrgUnitID: f.Get("org_unit")}
	u, pw, err := h.svc.CreateUser(rq.ctx(), rq.actor, in)
	switch {
	case isInput(err):
		h.newUserPage(rq, http.StatusUnprocessableEntity, in, inputErrors(err))
		return
	case err != nil:
		rq.serverError(err) // a refusal was audited by the service
		return
	}
	name := displayName(u)
	next := []string{
		"Give " + name + " their username, " + u.Username + ", and this one-time password by a safe route: in person or by phone, not in one email with the username.",
		"At their first sign-in they choose a password of their own, and the one-time password stops working.",
		oneTimeExpirySentence(u.OneTimePasswordExpiresAt),
	}
	if s := h.nextSignInSentence(rq, u.ID, "After that, at sign-in this user will be: "); s != "" {
		next = append(next, s)
	}
	h.pages.AdminNotice(rq.w, http.StatusOK, templates.AdminNoticePage{
		Page: rq.page("User created", "Users"), Heading: name + " was created",
		Message:     "The account " + u.Username + " is ready in the org unit you chose.",
		SecretLabel: "One-time password for " + u.Username, Secret: pw, Next: next,
		Back: templates.NavLink{Label: "Go to " + name + "'s page", URL: "/admin/users/" + u.ID},
	})
}

// nextSignInSentence is prefix followed by what the user will meet at
// their next sign-in and why, or "" if that cannot be worked out (it is
// logged).
func (h *Handler) nextSignInSentence(rq *request, userID, prefix string) string {
	d, err := h.auth.NextSignIn(rq.ctx(), userID)
	if err != nil {
		h.logger.ErrorContext(rq.ctx(), "next sign-in", "user", userID, "err", err)
		return ""
	}
	return prefix + d.Summary() + ", because " + d.Reason + "."
}

// pathUser loads the user named in the path and checks the actor holds
// one of roles over their org unit; a refusal is audited as action.
func (h *Handler) pathUser(rq *request, action string, roles ...string) (storage.User, bool) {
	u, err := h.store.GetUser(rq.ctx(), rq.r.PathValue("id"))
	if err != nil {
		rq.serverError(err)
		return u, false
	}
	return u, rq.allowed(u.OrgUnitID, u.ID, action, roles...)
}

// managedUser loads the user named in the path for a change: the actor
// must manage them (see Service.manages). A refusal is audited as action.
func (h *Handler) managedUser(rq *request, action string) (storage.User, bool) {
	u, err := h.store.GetUser(rq.ctx(), rq.r.PathValue("id"))
	if err == nil {
		err = h.svc.authorizeManage(rq.ctx(), rq.actor, u, action)
	}
	if err != nil {
		rq.serverError(err)
		return u, false
	}
	return u, true
}

func (h *Handler) showUser(rq *request) {
	u, ok := h.pathUser(rq, "user.viewed", storage.RoleOrgAdmin, storage.RoleHelpdesk)
	if !ok {
		return
	}
	h.userPage(rq, http.StatusOK, u, userNotices[rq.r.URL.Query().Get("done")], nil, nil)
}

var exceptionStates = map[string]string{
	storage.ExceptionRequested: "Waiting for approval",
	storage.ExceptionApproved:  "In force",
	storage.ExceptionRejected:  "Rejected",
	storage.ExceptionRevoked:   "Revoked",
	storage.ExceptionExpired:   "Expired",
}

// userPage shows u, with the details form as sent (posted, when it was
// refused) and what was wrong.
func (h *Handler) userPage(rq *request, status int, u storage.User, notice string, errs []error, posted *Profile) {
	ctx := rq.ctx()
	t, err := h.svc.loadTree(ctx)
	if err != nil {
		rq.serverError(err)
		return
	}
	canEdit, err := h.svc.manages(ctx, rq.actor.User, u)
	if err != nil {
		rq.serverError(err)
		return
	}
	canExceptions, err := h.svc.Can(ctx, rq.actor.User, u.OrgUnitID, storage.RoleOrgAdmin, storage.RoleHelpdesk)
	if err != nil {
		rq.serverError(err)
		return
	}
	d, err := h.auth.NextSignIn(ctx, u.ID)
	if err != nil {
		rq.serverError(err)
		return
	}
	name := displayName(u)
	p := templates.UserPage{
		Page: rq.page(name, "Users"), ID: u.ID, Username: u.Username, Name: name,
		Email: u.Email, OrgUnitID: u.OrgUnitID, OrgUnit: t.units[u.OrgUnitID].Name,
		Disabled: u.Disabled, MustChangePassword: u.MustChangePassword, MFAEnabled: u.MFAEnabled,
		Created: u.CreatedAt, PasswordChanged: u.PasswordChangedAt, OneTimePasswordExpires: u.OneTimePasswordExpiry(h.svc.oneTimeLifetime),
		NextSignIn: d.Summary(), NextSignInWhy: d.Reason,
		CanEdit: canEdit, CanResetMFA: canEdit, CanExceptions: canExceptions && u.ID != rq.actor.User.ID, CanRoles: rq.global(),
		Self: u.ID == rq.actor.User.ID, Notice: notice, Errors: formErrors(errs...),
	}
	if p.OrgUnit == "" {
		p.OrgUnit = "a removed unit"
	}
	p.OneTimePasswordExpired = u.OneTimePasswordExpired(h.now(), h.svc.oneTimeLifetime)
	if p.CanExceptions {
		if p.CanHelp, err = h.svc.covers(ctx, rq.actor.User, u); err != nil {
			rq.serverError(err)
			return
		}
		for d := accesspass.MinLifetime; d <= accesspass.MaxLifetime; d += time.Hour {
			label := fmt.Sprintf("%d hours", int(d.Hours()))
			if d == time.Hour {
				label = "1 hour"
			}
			p.PassLifetimes = append(p.PassLifetimes, templates.Choice{Value: d.String(), Label: label, Selected: d == accesspass.DefaultLifetime})
		}
	}

	for _, b := range u.Roles {
		over := "Everywhere"
		if b.Role != storage.RoleGlobalAdmin {
			over = cmp.Or(t.units[b.OrgUnitID].Name, "a removed unit") + " and the units below it"
		}
		p.Roles = append(p.Roles, templates.RoleRow{Label: roleLabel(b.Role), Unit: over, Value: b.Role + "|" + b.OrgUnitID})
	}
	if p.CanRoles {
		p.RoleTypes = roleLabels
		t.walk(t.root, 0, func(ou storage.OrgUnit, depth int) bool {
			p.RoleUnits = append(p.RoleUnits, templates.Choice{Value: ou.ID, Label: strings.Repeat("— ", depth) + ou.Name})
			return true
		})
	}

	methods, err := h.store.ListUserMethods(ctx, u.ID)
	if err != nil {
		rq.serverError(err)
		return
	}
	slices.SortFunc(methods, func(a, b storage.Method) int { return a.CreatedAt.Compare(b.CreatedAt) })
	now := h.now()
	for _, m := range methods {
		if m.Type == storage.MethodPass {
			if m.LiveAt(now) {
				p.Pass = &templates.PassRow{Expires: m.ExpiresAt, Reusable: accesspass.Reusable(m)}
			}
			continue
		}
		label := h.methodLabel(m.Type)
		row := templates.UserMethodRow{ID: m.ID, Label: label, Name: factors.MethodName(m, label), Phone: otp.PhoneLabel(m, methods),
			Added: m.CreatedAt, LastUsed: m.LastUsedAt, Preferred: m.ID == u.PreferredMethod}
		if m.Target != "" {
			row.Target = otp.Mask(m.Target)
		}
		p.Methods = append(p.Methods, row)
	}

	exceptions, err := h.store.ListUserExceptions(ctx, u.ID)
	if err != nil {
		rq.serverError(err)
		return
	}
	slices.SortFunc(exceptions, func(a, b storage.Exception) int { return b.RequestedAt.Compare(a.RequestedAt) })
	who := &people{h: h, rq: rq, users: map[string]*storage.User{}}
	for _, e := range exceptions {
		p.Exceptions = append(p.Exceptions, templates.UserExceptionRow{
			State: exceptionStates[e.StateAt(now)], Kind: kindLabel(e.Kind), Reason: policy.ReasonLabel(e.Reason),
			RequestedBy: who.name(e.RequestedBy), RequestedAt: e.RequestedAt, DecidedBy: who.name(e.DecidedBy), ExpiresAt: e.ExpiresAt,
		})
	}

	if p.SignIns, err = h.recentSignIns(ctx, u.ID); err != nil {
		rq.serverError(err)
		return
	}
	notices, err := h.store.ListUserNotifications(ctx, u.ID, 10)
	if err != nil {
		rq.serverError(err)
		return
	}
	for _, n := range notices {
		p.Notices = append(p.Notices, templates.NoticeRow{At: n.CreatedAt, Subject: n.Subject, To: n.To, Delivery: delivery(n)})
	}

	if canEdit {
		in := Profile{DisplayName: u.DisplayName, Email: u.Email}
		if posted != nil {
			in = *posted
		}
		p.Edit = []templates.TextField{
			{ID: "display_name", Label: "Name", Type: "text", MaxLength: 100, Autocomplete: "off", Field: templates.Field{Value: in.DisplayName}},
			{ID: "email", Label: "Email address (optional)", Type: "email", MaxLength: 254, Autocomplete: "off", Field: templates.Field{Value: in.Email}},
		}
		setFieldErrors(p.Edit, p.Errors)
		if units := h.editableUnits(rq, t, ""); len(units) > 1 {
			for _, ou := range units {
				p.MoveTo = append(p.MoveTo, templates.Choice{Value: ou.URL, Label: ou.Label, Selected: ou.URL == u.OrgUnitID})
			}
		}
	}
	h.pages.AdminUser(rq.w, status, p)
}

// recentSignIns are the user's last ten sign-in steps (password checks,
// decisions, lock-outs: their login.* events), newest first, however long
// ago. The audit log is indexed by user, so this reads only their events.
func (h *Handler) recentSignIns(ctx context.Context, userID string) ([]templates.SignInRow, error) {
	events, err := h.store.ListAudit(ctx, storage.AuditQuery{Subject: userID, ActionPrefix: "login.", Limit: 10})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	apps := map[string]string{}
	var rows []templates.SignInRow
	for _, e := range events {
		row := templates.SignInRow{At: e.Time, Event: e.Action, Outcome: outcomeLabel(e.Outcome), IP: e.IP}
		switch e.Action {
		case "login.password":
			row.Event = "Password"
		case "login.decision":
			row.Event = "Decision: " + cmp.Or(decisionLabels[policy.Outcome(e.Details["outcome"])], strings.ReplaceAll(e.Details["outcome"], "_", " "))
		case "login.locked":
			row.Event = "Locked out"
		}
		if r := e.Details["reason"]; r != "" {
			row.Outcome += " (" + r + ")"
		}
		if id := e.Details["client_id"]; id != "" {
			if _, ok := apps[id]; !ok {
				c, err := h.store.GetClient(ctx, id)
				apps[id] = id
				if err == nil {
					apps[id] = c.Name
				} else if !errors.Is(err, storage.ErrNotFound) {
					return nil, fmt.Errorf("get client: %w", err)
				}
			}
			row.App = apps[id]
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// decisionLabels say what a sign-in decision did, for the sign-ins table.
var decisionLabels = map[policy.Outcome]string{
	policy.Done:             "signed in",
	policy.Challenge:        "second factor asked for",
	policy.StepUp:           "security key asked for",
	policy.OfferEnrolment:   "offered MFA set-up",
	policy.RequireEnrolment: "MFA set-up required",
	policy.Unmet:            "refused",
}

func outcomeLabel(o string) string {
	switch o {
	case storage.OutcomeSuccess:
		return "Succeeded"
	case storage.OutcomeFailure:
		return "Failed"
	case storage.OutcomeDenied:
		return "Refused"
	}
	return o
}

func (h *Handler) saveUser(rq *request) {
	u, ok := h.managedUser(rq, "user.updated")
	if !ok {
		return
	}
	f := rq.r.PostForm
	in := Profile{DisplayName: f.Get("display_name"), Email: f.Get("email")}
	_, err := h.svc.UpdateProfile(rq.ctx(), rq.actor, u.ID, in)
	switch {
	case isInput(err):
		h.userPage(rq, http.StatusUnprocessableEntity, u, "", inputErrors(err), &in)
	case err != nil:
		rq.serverError(err)
	default:
		rq.redirect("/admin/users/" + u.ID + "?done=saved")
	}
}

func (h *Handler) moveUser(rq *request) {
	u, ok := h.managedUser(rq, "user.moved")
	if !ok {
		return
	}
	_, err := h.svc.MoveUser(rq.ctx(), rq.actor, u.ID, rq.r.PostFormValue("org_unit"))
	switch {
	case isInput(err):
		h.userPage(rq, http.StatusUnprocessableEntity, u, "", inputErrors(err), nil)
	case err != nil:
		rq.serverError(err)
	default:
		rq.redirect("/admin/users/" + u.ID + "?done=moved")
	}
}

func (h *Handler) setDisabled(rq *request, disabled bool) {
	action := "user.enabled"
	if disabled {
		action = "user.disabled"
	}
	u, ok := h.managedUser(rq, action)
	if !ok {
		return
	}
	name := displayName(u)
	if disabled && u.ID != rq.actor.User.ID && !rq.confirmed("Disable "+name+"?",
		name+" will be signed out everywhere, the tokens apps hold for them will be revoked, and they won't be able to sign in until an admin enables the account again.",
		"Disable "+name, "/admin/users/"+u.ID) {
		return
	}
	err := h.svc.SetDisabled(rq.ctx(), rq.actor, u.ID, disabled)
	var ie *factors.InputError
	switch {
	case errors.As(err, &ie):
		rq.fail(http.StatusConflict, "That can't be done", ie.Msg+".", "bad_request")
	case err != nil:
		rq.serverError(err)
	case disabled:
		rq.redirect("/admin/users/" + u.ID + "?done=disabled")
	default:
		rq.redirect("/admin/users/" + u.ID + "?done=enabled")
	}
}

func (h *Handler) resetPassword(rq *request) {
	u, ok := h.managedUser(rq, "user.password_reset")
	if !ok {
		return
	}
	name := displayName(u)
	if !rq.confirmed("Reset "+name+"'s password?",
		"Gatehouse makes a one-time password, shown to you once. "+name+"'s current password stops working, they are signed out everywhere, and they choose a new password at their next sign-in.",
		"Reset the password", "/admin/users/"+u.ID) {
		return
	}
	pw, expires, err := h.svc.ResetPassword(rq.ctx(), rq.actor, u.ID)
	if err != nil {
		rq.serverError(err)
		return
	}
	h.pages.AdminNotice(rq.w, http.StatusOK, templates.AdminNoticePage{
		Page: rq.page("Password reset", "Users"), Heading: name + "'s password was reset",
		Message:     name + " was signed out everywhere; their old password no longer works.",
		SecretLabel: "One-time password for " + u.Username, Secret: pw,
		Next: []string{
			"Give " + name + " this one-time password by a safe route, once you are sure it is them asking: in person or by phone.",
			"At their next sign-in they choose a new password of their own, and the one-time password stops working.",
			oneTimeExpirySentence(expires),
		},
		Back: templates.NavLink{Label: "Back to " + name + "'s page", URL: "/admin/users/" + u.ID},
	})
}

// oneTimeExpirySentence tells the admin handing a one-time password over
// how long it lasts.
func oneTimeExpirySentence(expires time.Time) string {
	return "If it is not used by " + expires.UTC().Format("2 Jan 2006 15:04 MST") + ", it expires: reset the password again to give them a new one."
}

func (h *Handler) showUserMFA(rq *request) {
	u, ok := h.managedUser(rq, "mfa.reset")
	if !ok {
		return
	}
	h.userMFAPage(rq, http.StatusOK, u, "")
}

func (h *Handler) userMFAPage(rq *request, status int, u storage.User, problem string) {
	methods, err := h.store.ListUserMethods(rq.ctx(), u.ID)
	if err != nil {
		rq.serverError(err)
		return
	}
	name := displayName(u)
	p := templates.UserMFAPage{Page: rq.page("MFA settings for "+name, "Users"), ID: u.ID, Name: name, MFAEnabled: u.MFAEnabled, Methods: len(methods), Error: problem}
	if problem != "" {
		p.Errors = []templates.FormError{{Field: "turn_off", Msg: problem}}
	}
	h.pages.AdminUserMFA(rq.w, status, p)
}

// resetUserMFA turns a user's MFA off, removing every method: the box
// must be ticked, then the "Are you sure?" step confirmed.
func (h *Handler) resetUserMFA(rq *request) {
	u, ok := h.managedUser(rq, "mfa.reset")
	if !ok {
		return
	}
	name := displayName(u)
	if rq.r.PostFormValue("turn_off") != "on" {
		h.userMFAPage(rq, http.StatusUnprocessableEntity, u, "Tick “Turn off MFA for "+name+"” to remove their methods")
		return
	}
	if !rq.confirmed("Turn off MFA for "+name+"?",
		"All of "+name+"'s methods will be removed, recovery codes included, and they will be signed out everywhere. This cannot be undone: they will have to set MFA up again.",
		"Yes, turn off MFA", "/admin/users/"+u.ID+"/mfa") {
		return
	}
	if err := h.svc.ResetMFA(rq.ctx(), rq.actor, u.ID); err != nil {
		rq.serverError(err)
		return
	}
	next := []string{"Ask " + name + " to set MFA up again: they can add a method on their Security info page."}
	if d, err := h.auth.NextSignIn(rq.ctx(), u.ID); err != nil {
		h.logger.ErrorContext(rq.ctx(), "next sign-in", "user", u.ID, "err", err)
	} else {
		switch d.Outcome {
		case policy.OfferEnrolment:
			next = append(next, "Their org unit prompts for MFA: they will be asked to set it up at their next sign-in, and may say “Not now”.")
		case policy.RequireEnrolment:
			next = append(next, "Their org unit requires MFA: they will have to set it up at their next sign-in before they can go on.")
		default:
			next = append(next, "Until they do, at their next sign-in they will be "+d.Summary()+", because "+d.Reason+".")
		}
	}
	h.pages.AdminNotice(rq.w, http.StatusOK, templates.AdminNoticePage{
		Page: rq.page("MFA turned off", "Users"), Heading: "MFA turned off for " + name,
		Message: "All of " + name + "'s methods were removed and they were signed out everywhere.", Next: next,
		Back: templates.NavLink{Label: "Back to " + name + "'s page", URL: "/admin/users/" + u.ID},
	})
}

func (h *Handler) changeRole(rq *request, grant bool) {
	u, err := h.store.GetUser(rq.ctx(), rq.r.PathValue("id"))
	if err != nil {
		rq.serverError(err)
		return
	}
	b := storage.RoleBinding{Role: rq.r.PostFormValue("role"), OrgUnitID: rq.r.PostFormValue("role_unit")}
	if !grant {
		b.Role, b.OrgUnitID, _ = strings.Cut(rq.r.PostFormValue("binding"), "|")
	}
	if grant {
		err = h.svc.GrantRole(rq.ctx(), rq.actor, u.ID, b)
	} else {
		err = h.svc.RemoveRole(rq.ctx(), rq.actor, u.ID, b)
	}
	switch {
	case isInput(err):
		h.userPage(rq, http.StatusUnprocessableEntity, u, "", inputErrors(err), nil)
	case err != nil:
		rq.serverError(err) // a refusal was audited by the service
	case grant:
		rq.redirect("/admin/users/" + u.ID + "?done=role_granted")
	default:
		rq.redirect("/admin/users/" + u.ID + "?done=role_removed")
	}
}

// delivery says how a notice's sending went, for the user's page. The
// mail server's error is in the log and the notification.failed audit
// event, not on the page.
func delivery(n storage.Notification) string {
	by := ""
	if n.Channel == storage.ChannelSMS {
		by = " by text"
	}
	switch {
	case n.State == storage.NotificationSent && n.SentIn != "":
		return "Sent" + by + " " + n.SentAt.UTC().Format("2 Jan 2006 15:04 MST") + ", with others in one message"
	case n.State == storage.NotificationSent:
		return "Sent" + by + " " + n.SentAt.UTC().Format("2 Jan 2006 15:04 MST")
	case n.State == storage.NotificationFailed:
		return fmt.Sprintf("Not sent: given up after %d attempts", n.Attempts)
	case n.State == storage.NotificationCancelled:
		return "Not sent: " + n.LastError
	case strings.HasPrefix(n.LastError, notify.HeldBack):
		return "Held back, " + strings.TrimPrefix(n.LastError, notify.HeldBack) + ": due " + n.NextAttemptAt.UTC().Format("2 Jan 2006 15:04 MST")
	case !n.DueAt.IsZero() && n.Attempts == 0:
		return "Due " + n.DueAt.UTC().Format("2 Jan 2006 15:04 MST")
	case n.LastError != "":
		return fmt.Sprintf("Waiting: %d attempts so far, the last failed", n.Attempts)
	}
	return "Waiting to be sent"
}
