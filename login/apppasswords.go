package login

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/factors/apppassword"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// App passwords are for legacy apps behind forward-auth that cannot do
// MFA. A user makes one on Security info where their org unit allows it
// and they hold no role; making one needs a recent second factor and a
// method of their own, so a session an exception let in (a password
// alone) cannot. The password is shown once.

const appPasswordsPath = securityPath + "/app-passwords"

// mayHaveAppPasswords says whether acct's user may make app passwords:
// their unit allows them and they hold no role, whose holders must use
// their second factor everywhere.
func mayHaveAppPasswords(acct account) bool {
	return acct.policy.org.AppPasswords && len(acct.user.Roles) == 0
}

// appPasswordRows are the user's app passwords for Security info, oldest
// first, or nil where they may have none.
func (h *Handler) appPasswordRows(r *http.Request, acct account) (*templates.AppPasswordsSection, error) {
	list, err := h.store.ListUserAppPasswords(r.Context(), acct.user.ID)
	if err != nil {
		return nil, err
	}
	if !mayHaveAppPasswords(acct) && len(list) == 0 {
		return nil, nil
	}
	slices.SortFunc(list, func(a, b storage.AppPassword) int { return a.CreatedAt.Compare(b.CreatedAt) })
	s := &templates.AppPasswordsSection{CanCreate: mayHaveAppPasswords(acct) && len(list) < storage.MaxAppPasswords, Max: storage.MaxAppPasswords}
	for _, p := range list {
		s.Rows = append(s.Rows, templates.AppPasswordRow{ID: p.ID, Name: p.Name, Created: p.CreatedAt, LastUsed: p.LastUsedAt, LastUsedIP: p.LastUsedIP})
	}
	return s, nil
}

// showNewAppPassword is the form naming a new app password.
func (h *Handler) showNewAppPassword(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.signedIn(w, r)
	if !ok || !h.appPasswordsAllowed(w, r, acct) || !h.fresh(w, r, acct, proofToChange) {
		return
	}
	r = h.ensureBrowser(w, r)
	h.newAppPasswordPage(w, r, http.StatusOK, "", "")
}

func (h *Handler) newAppPasswordPage(w http.ResponseWriter, r *http.Request, status int, name, msg string) {
	p := templates.NewAppPasswordPage{Page: h.signedInPage(r, "Create an app password"), Name: templates.Field{Value: name}}
	if msg != "" {
		p.Errors = []templates.FormError{{Field: "name", Msg: msg}}
	}
	h.pages.NewAppPassword(w, status, p)
}

// appPasswordsAllowed refuses, with a page saying why, a user who may not
// make app passwords, or who has no method of their own.
func (h *Handler) appPasswordsAllowed(w http.ResponseWriter, r *http.Request, acct account) bool {
	switch {
	case !mayHaveAppPasswords(acct):
		h.errorPage(w, r, http.StatusForbidden, "You can't create app passwords",
			"Your organisation doesn't allow app passwords for your account. Go back to Security info.", "app_passwords_not_allowed")
		return false
	case !slices.ContainsFunc(acct.methods, func(m storage.Method) bool { return !m.Fallback() }):
		h.errorPage(w, r, http.StatusForbidden, "Add a sign-in method first",
			"An app password is for an app that cannot ask for your second factor: set one up first, on Security info.", "no_method")
		return false
	}
	return true
}

// postAppPassword makes an app password and shows it, once.
func (h *Handler) postAppPassword(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, proofToChange)
	if !ok || !h.appPasswordsAllowed(w, r, acct) {
		return
	}
	name := r.PostFormValue("name")
	pw, p, err := apppassword.New(acct.user.ID, name, h.cfg.Now())
	var input *factors.InputError
	if errors.As(err, &input) {
		h.newAppPasswordPage(w, r, http.StatusUnprocessableEntity, name, input.Msg)
		return
	}
	err = h.store.Atomically(r.Context(), h.accountChange(r, acct, "app_password.created", map[string]string{"app_password": p.ID, "name": p.Name},
		func(tx storage.Tx) error { return tx.CreateAppPassword(p) }))
	if errors.Is(err, storage.ErrConflict) {
		h.newAppPasswordPage(w, r, http.StatusUnprocessableEntity, name, fmt.Sprintf("You have %d app passwords, the most you can have: revoke one you no longer use first", storage.MaxAppPasswords))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.pages.AppPasswordCreated(w, http.StatusOK, templates.AppPasswordCreatedPage{Page: h.signedInPage(r, "Your app password"), Name: p.Name, Password: pw})
}

// postRevokeAppPassword revokes one of the user's app passwords: taking
// access away needs no fresh proof.
func (h *Handler) postRevokeAppPassword(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, noProof)
	if !ok {
		return
	}
	list, err := h.store.ListUserAppPasswords(r.Context(), acct.user.ID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(list, func(p storage.AppPassword) bool { return p.ID == r.PostFormValue("app_password") })
	if i < 0 {
		h.errorPage(w, r, http.StatusNotFound, "App password not found", "It may have been revoked already. Go back to Security info.", "not_found")
		return
	}
	p := list[i]
	h.changeSelf(w, r, acct, func(tx storage.Tx) error {
		if err := tx.DeleteAppPassword(p.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	}, "app_password.revoked", map[string]string{"app_password": p.ID, "name": p.Name}, "app-password-revoked")
}

// postRevokeAppPasswords revokes every app password the user has.
func (h *Handler) postRevokeAppPasswords(w http.ResponseWriter, r *http.Request) {
	acct, ok := h.securityForm(w, r, noProof)
	if !ok {
		return
	}
	h.changeSelf(w, r, acct, func(tx storage.Tx) error { return tx.DeleteUserAppPasswords(acct.user.ID) },
		"app_password.revoked", map[string]string{"app_password": "all"}, "app-passwords-revoked")
}
