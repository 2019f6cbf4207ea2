package login

import (
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// endSessionEndpoint is OIDC RP-Initiated Logout 1.0. op validates the
// id_token_hint and that post_logout_redirect_uri is registered, exactly, for
// the client. Gatehouse signs the browser out at once when the hint names
// the signed-in user; otherwise it asks first, so a link on another site
// cannot sign people out.
func (h *Handler) endSessionEndpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		h.errorPage(w, r, http.StatusMethodNotAllowed, "Sign-out failed", "Use GET or POST.", "invalid_request")
		return
	}
	if !h.parseForm(w, r) {
		return
	}
	r = h.ensureBrowser(w, r)
	ctx := op.ContextWithIssuer(r.Context(), h.cfg.Issuer)
	o := h.provider.OP()
	req, err := op.ParseEndSessionRequest(r, o.Decoder())
	if err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "Sign-out failed", "The sign-out request was malformed.", "invalid_request")
		return
	}
	if req.ClientID != "" {
		if _, err := h.provider.Client(ctx, req.ClientID); err != nil {
			h.errorPage(w, r, http.StatusBadRequest, "Sign-out failed", "The app that sent you here is not registered.", "invalid_client")
			return
		}
	}
	end, err := op.ValidateEndSessionRequest(ctx, req, o)
	if err != nil {
		e := oidc.DefaultToServerError(err, "")
		if e.ErrorType == oidc.ServerError {
			h.serverError(w, r, err)
			return
		}
		// op's description may quote what the request carried: the log
		// has it, the page says what to do.
		h.cfg.Logger.InfoContext(ctx, "invalid sign-out request", "error", e.ErrorType, "description", e.Description)
		h.errorPage(w, r, http.StatusBadRequest, "Sign-out failed",
			"The app that sent you here made an invalid sign-out request. Close this page and sign out from the app again, or contact its support.", string(e.ErrorType))
		return
	}
	sess, u, err := h.currentSession(r)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	confirmed := r.Method == http.MethodPost && r.PostFormValue("confirm") == "yes" && h.validCSRF(r)
	if sess != nil && !confirmed && (end.UserID == "" || end.UserID != sess.UserID) {
		h.confirmLogout(w, r, u, req)
		return
	}
	if sess != nil && (confirmed || end.UserID == sess.UserID) {
		if err := h.endSession(w, r, sess); err != nil {
			h.serverError(w, r, err)
			return
		}
		h.audit(r, storage.AuditEvent{Actor: sess.UserID, Subject: sess.UserID, Action: "logout", Outcome: storage.OutcomeSuccess,
			Details: map[string]string{"client_id": end.ClientID, "session": sess.ID}})
	}
	http.Redirect(w, r, end.RedirectURI, http.StatusFound)
}

func (h *Handler) confirmLogout(w http.ResponseWriter, r *http.Request, u storage.User, req *oidc.EndSessionRequest) {
	params := map[string]string{}
	for k, v := range map[string]string{
		"id_token_hint":            req.IdTokenHint,
		"client_id":                req.ClientID,
		"post_logout_redirect_uri": req.PostLogoutRedirectURI,
		"state":                    req.State,
	} {
		if v != "" {
			params[k] = v
		}
	}
	h.pages.Logout(w, http.StatusOK, templates.LogoutPage{
		Page:     templates.Page{Title: "Sign out", CSRF: h.csrfToken(r)},
		Username: u.Username,
		Params:   params,
	})
}

func (h *Handler) loggedOut(w http.ResponseWriter, r *http.Request) {
	h.pages.LoggedOut(w, http.StatusOK, templates.LoggedOutPage{Page: templates.Page{Title: "Signed out"}})
}
