package admin

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The client pages, for global admins only: register a relying party
// (its secret shown once, only a hash kept), edit it, rotate its secret,
// revoke the tokens issued to it, delete it. Settings are checked by
// provider.CheckClient, as the CLI's are. A secret never reaches the
// audit log.

func (h *Handler) clientRoutes(get, post func(string, func(*request))) {
	get("/admin/clients", h.showClients)
	get("/admin/clients/new", h.newClient)
	post("/admin/clients", h.createClient)
	get("/admin/clients/{id}", h.showClient)
	post("/admin/clients/{id}", h.saveClient)
	post("/admin/clients/{id}/rotate-secret", h.rotateClientSecret)
	post("/admin/clients/{id}/revoke-tokens", h.revokeClientTokens)
	post("/admin/clients/{id}/delete", h.deleteClient)
}

// globalAllowed lets global admins through to what only they may see
// (clients, notifications); anyone else is refused and audited, however
// they got here.
func (rq *request) globalAllowed(subject, action string) bool {
	if rq.global() {
		return true
	}
	rq.forbidden(subject, "", action)
	return false
}

var clientNotices = map[string]string{
	"created": "Client registered. A public client has no secret: it proves itself with PKCE.",
	"saved":   "Client saved.",
	"deleted": "Client deleted.",
	"revoked": "Issued tokens revoked: every token issued to this client until now no longer works.",
}

var (
	grantChoices = []templates.Choice{
		{Value: provider.GrantAuthorizationCode, Label: "authorization_code: people sign in through the app"},
		{Value: provider.GrantRefreshToken, Label: "refresh_token: the app keeps people signed in"},
		{Value: provider.GrantClientCredentials, Label: "client_credentials: the app calls APIs as itself (confidential clients only)"},
	}
	tokenFormatChoices = []templates.Choice{
		{Value: storage.AccessTokenOpaque, Label: "Opaque (revocable at once; default)"},
		{Value: storage.AccessTokenJWT, Label: "JWT (RFC 9068; checked offline by APIs, ends only when it expires or with Revoke issued tokens)"},
	}
	acrChoices = []templates.Choice{
		{Value: string(policy.ACRPassword), Label: "pwd: a password is enough (the org unit's MFA policy still applies)"},
		{Value: string(policy.ACRMFA), Label: "mfa: a second factor, unless the app honours MFA exceptions (below)"},
		{Value: string(policy.ACRPhishingResistant), Label: "phr: always a security key or passkey (phishing-resistant); no exception waives it"},
	}
)

func (h *Handler) showClients(rq *request) {
	if !rq.globalAllowed("", "client.listed") {
		return
	}
	list, err := h.svc.ListClients(rq.ctx(), false)
	if err != nil {
		rq.serverError(err)
		return
	}
	p := templates.ClientsPage{Page: rq.page("Clients", "Clients"), Notice: clientNotices[rq.r.URL.Query().Get("done")]}
	for _, c := range list {
		p.Clients = append(p.Clients, templates.ClientRow{ID: c.ID, Name: c.Name, Public: c.Public(), RedirectURIs: c.RedirectURIs,
			MinimumACR: c.MinimumACR, Exceptions: c.ExceptionsAllowed})
	}
	h.pages.AdminClients(rq.w, http.StatusOK, p)
}

func (h *Handler) newClient(rq *request) {
	if !rq.globalAllowed("", "client.created") {
		return
	}
	// The id is drawn here and carried by the form, so a form sent twice
	// (a reload of the page showing the secret) registers one client.
	c := storage.Client{ID: storage.RandomString(12), GrantTypes: []string{provider.GrantAuthorizationCode, provider.GrantRefreshToken}, MinimumACR: string(policy.ACRPassword), ExceptionsAllowed: true}
	h.clientPage(rq, http.StatusOK, c, true, "confidential", nil, "")
}

// clientPage shows the form for c; typ is the type chosen for a new
// client.
func (h *Handler) clientPage(rq *request, status int, c storage.Client, isNew bool, typ string, errs []error, notice string) {
	title := "Register a client"
	if !isNew {
		title = c.Name + ": client settings"
		typ = "confidential"
		if c.Public() {
			typ = "public"
		}
	}
	p := templates.ClientPage{
		Page: rq.page(title, "Clients"), New: isNew, ID: c.ID, CreatedAt: c.CreatedAt, Type: typ,
		Name:           templates.Field{Value: c.Name},
		RedirectURIs:   templates.Field{Value: strings.Join(c.RedirectURIs, "\n")},
		PostLogoutURIs: templates.Field{Value: strings.Join(c.PostLogoutRedirectURIs, "\n")},
		Exceptions:     c.ExceptionsAllowed, Scopes: c.Scopes, Notice: notice, TokensNotBefore: c.TokensNotBefore,
		ACRs: chosen(acrChoices, c.MinimumACR), TokenFormats: chosen(tokenFormatChoices, tokenFormat(c)),
		Lifetimes: []templates.Lifetime{
			{ID: "access_token_lifetime", Label: "Access token", Field: templates.Field{Value: formatLifetime(c.AccessTokenLifetime)}},
			{ID: "id_token_lifetime", Label: "ID token", Field: templates.Field{Value: formatLifetime(c.IDTokenLifetime)}},
			{ID: "refresh_token_lifetime", Label: "Refresh token", Field: templates.Field{Value: formatLifetime(c.RefreshTokenLifetime)}},
		},
	}
	for _, g := range grantChoices {
		p.Grants = append(p.Grants, templates.Choice{Value: g.Value, Label: g.Label, Selected: slices.Contains(c.GrantTypes, g.Value)})
	}
	if !isNew {
		var err error
		if p.ExceptionUsers, err = h.svc.usersWithException(rq.ctx()); err != nil {
			rq.serverError(err)
			return
		}
	}
	p.Errors = formErrors(errs...)
	// A field with several problems shows them all, one after another.
	note := func(s *string, msg string) { *s = strings.TrimSpace(*s + " " + msg) }
	for _, e := range p.Errors {
		switch e.Field {
		case "name":
			note(&p.Name.Error, e.Msg)
		case "type":
			note(&p.TypeError, e.Msg)
		case "redirect_uris":
			note(&p.RedirectURIs.Error, e.Msg)
		case "post_logout_uris":
			note(&p.PostLogoutURIs.Error, e.Msg)
		case "grants":
			note(&p.GrantsError, e.Msg)
		case "access_token_format":
			note(&p.TokenFormatError, e.Msg)
		}
		for i := range p.Lifetimes {
			if p.Lifetimes[i].ID == e.Field {
				note(&p.Lifetimes[i].Error, e.Msg)
			}
		}
	}
	h.pages.AdminClient(rq.w, status, p)
}

// readClient applies the form to c, reporting fields it cannot read;
// provider.CheckClient judges the result.
func readClient(rq *request, c storage.Client) (storage.Client, []error) {
	f := rq.r.PostForm
	var errs []error
	c.Name = strings.TrimSpace(f.Get("name"))
	c.RedirectURIs = lines(f.Get("redirect_uris"))
	c.PostLogoutRedirectURIs = lines(f.Get("post_logout_uris"))
	c.GrantTypes = nil
	for _, g := range f["grants"] {
		if !slices.Contains(c.GrantTypes, g) {
			c.GrantTypes = append(c.GrantTypes, g)
		}
	}
	c.MinimumACR = f.Get("min_acr")
	c.ExceptionsAllowed = f.Get("exceptions") != "no"
	c.AccessTokenFormat = f.Get("access_token_format")
	for _, l := range []struct {
		field string
		d     *time.Duration
	}{
		{"access_token_lifetime", &c.AccessTokenLifetime},
		{"id_token_lifetime", &c.IDTokenLifetime},
		{"refresh_token_lifetime", &c.RefreshTokenLifetime},
	} {
		d, err := parseLifetime(f.Get(l.field))
		if err != nil {
			errs = append(errs, &factors.InputError{Field: l.field, Msg: "Enter a lifetime such as 15m, 1h or 30d, or leave it empty"})
		}
		*l.d = d
	}
	return c, errs
}

// chosen is options with the one whose value is v selected.
func chosen(options []templates.Choice, v string) []templates.Choice {
	out := slices.Clone(options)
	for i := range out {
		out[i].Selected = out[i].Value == v
	}
	return out
}

// checkClient is provider.CheckClient's verdict as refused fields.
func checkClient(c storage.Client) []error {
	var ps provider.ClientProblems
	if !errors.As(provider.CheckClient(c), &ps) {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = &factors.InputError{Field: p.Field, Msg: p.Msg}
	}
	return errs
}

// lines are the non-empty lines of s, trimmed, each once.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// parseLifetime reads a Go duration or a number of days ("30d"); empty is
// zero, the server's setting.
func parseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, errors.New("bad number of days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// formatLifetime writes a lifetime as parseLifetime reads it, briefly:
// 30d, 1h, 15m.
func formatLifetime(d time.Duration) string {
	switch {
	case d == 0:
		return ""
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String() // 1h30m0s, 15m0s, 1h0m0s, 1m30s
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// newClientID is the shape of the id the new-client form carries.
var newClientID = regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`)

func (h *Handler) createClient(rq *request) {
	if !rq.globalAllowed("", "client.created") {
		return
	}
	ctx := rq.ctx()
	id := rq.r.PostFormValue("client_id")
	if !newClientID.MatchString(id) {
		id = storage.RandomString(12)
	}
	c, errs := readClient(rq, storage.Client{ID: id, CreatedAt: h.now()})
	typ := rq.r.PostFormValue("type")
	var secret string
	switch typ {
	case "confidential":
		// The hash goes on first: CheckClient tells the types apart by it.
		secret, c.SecretHash = provider.NewSecret()
	case "public":
	default:
		errs = append(errs, &factors.InputError{Field: "type", Msg: "Choose confidential or public"})
	}
	if errs = append(errs, checkClient(c)...); len(errs) > 0 {
		h.clientPage(rq, http.StatusUnprocessableEntity, c, true, typ, errs, "")
		return
	}
	if err := h.store.CreateClient(ctx, c); errors.Is(err, storage.ErrAlreadyExists) {
		rq.fail(http.StatusConflict, "This client is already registered",
			"The form was sent twice; the client "+c.ID+" was registered the first time and its secret shown then. If it was not kept, rotate it on the client's page.", "already_registered")
		return
	} else if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(ctx, rq.actor, storage.User{ID: c.ID}, "client.created", storage.OutcomeSuccess, clientChanges(storage.Client{}, c))
	if secret == "" {
		rq.redirect("/admin/clients/" + c.ID + "?done=created")
		return
	}
	h.showSecret(rq, c, secret, "Client registered", c.Name+" is registered. Its client ID is "+c.ID+".")
}

// showSecret shows a client's new secret, this once.
func (h *Handler) showSecret(rq *request, c storage.Client, secret, heading, msg string) {
	h.pages.AdminNotice(rq.w, http.StatusOK, templates.AdminNoticePage{
		Page: rq.page(heading, "Clients"), Heading: heading, Message: msg,
		SecretLabel: "Client secret for " + c.ID, Secret: secret,
		Next: []string{
			"Copy the secret into the app's secret store now: Gatehouse keeps only a hash of it and cannot show it again.",
			"The app authenticates at the token endpoint with HTTP Basic (client_secret_basic), using client ID " + c.ID + ".",
		},
		Back: templates.NavLink{Label: "Back to " + c.Name, URL: "/admin/clients/" + c.ID},
	})
}

// client loads the OIDC client named in the path, for a global admin.
func (h *Handler) client(rq *request, action string) (storage.Client, bool) {
	return h.loadClient(rq, action, false)
}

// loadClient loads the client named in the path, for a global admin: an
// OIDC client, or with app a protected app; the other kind is not found.
func (h *Handler) loadClient(rq *request, action string, app bool) (storage.Client, bool) {
	id := rq.r.PathValue("id")
	if !rq.globalAllowed(id, action) {
		return storage.Client{}, false
	}
	c, err := h.store.GetClient(rq.ctx(), id)
	if err == nil && (c.Forward != nil) != app {
		err = storage.ErrNotFound
	}
	if err != nil {
		rq.serverError(err)
		return c, false
	}
	return c, true
}

func (h *Handler) showClient(rq *request) {
	c, ok := h.client(rq, "client.viewed")
	if !ok {
		return
	}
	h.clientPage(rq, http.StatusOK, c, false, "", nil, clientNotices[rq.r.URL.Query().Get("done")])
}

func (h *Handler) saveClient(rq *request) {
	c, ok := h.client(rq, "client.updated")
	if !ok {
		return
	}
	next, errs := readClient(rq, c)
	if errs = append(errs, checkClient(next)...); len(errs) > 0 {
		h.clientPage(rq, http.StatusUnprocessableEntity, next, false, "", errs, "")
		return
	}
	saved, err := h.store.UpdateClient(rq.ctx(), c.ID, func(cur storage.Client) (storage.Client, error) {
		cur.Name, cur.RedirectURIs, cur.PostLogoutRedirectURIs = next.Name, next.RedirectURIs, next.PostLogoutRedirectURIs
		cur.GrantTypes, cur.MinimumACR, cur.ExceptionsAllowed = next.GrantTypes, next.MinimumACR, next.ExceptionsAllowed
		cur.AccessTokenLifetime, cur.IDTokenLifetime, cur.RefreshTokenLifetime = next.AccessTokenLifetime, next.IDTokenLifetime, next.RefreshTokenLifetime
		cur.AccessTokenFormat = next.AccessTokenFormat
		return cur, nil
	})
	if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{ID: c.ID}, "client.updated", storage.OutcomeSuccess, clientChanges(c, saved))
	rq.redirect("/admin/clients/" + c.ID + "?done=saved")
}

// clientChanges lists what changed, before and after, for the audit log;
// from an empty client, the settings it was made with. The secret is
// never among them.
func clientChanges(before, after storage.Client) map[string]string {
	d := changes(before.ID == "",
		change{"name", before.Name, after.Name},
		change{"redirect_uris", strings.Join(before.RedirectURIs, " "), strings.Join(after.RedirectURIs, " ")},
		change{"post_logout_uris", strings.Join(before.PostLogoutRedirectURIs, " "), strings.Join(after.PostLogoutRedirectURIs, " ")},
		change{"grants", strings.Join(before.GrantTypes, ","), strings.Join(after.GrantTypes, ",")},
		change{"min_acr", before.MinimumACR, after.MinimumACR},
		change{"exceptions_allowed", strconv.FormatBool(before.ExceptionsAllowed), strconv.FormatBool(after.ExceptionsAllowed)},
		change{"access_token_lifetime", formatLifetime(before.AccessTokenLifetime), formatLifetime(after.AccessTokenLifetime)},
		change{"id_token_lifetime", formatLifetime(before.IDTokenLifetime), formatLifetime(after.IDTokenLifetime)},
		change{"refresh_token_lifetime", formatLifetime(before.RefreshTokenLifetime), formatLifetime(after.RefreshTokenLifetime)},
		change{"access_token_format", tokenFormat(before), tokenFormat(after)},
	)
	if before.ID == "" {
		d["type"] = "confidential"
		if after.Public() {
			d["type"] = "public"
		}
	}
	return d
}

// change is one setting before and after a change, for the audit log.
type change struct{ key, before, after string }

// changes are the settings that changed: "before -> after", or, for
// something new, the value it was made with.
func changes(isNew bool, cs ...change) map[string]string {
	d := map[string]string{}
	for _, c := range cs {
		switch {
		case c.before == c.after:
		case isNew:
			d[c.key] = c.after
		default:
			d[c.key] = c.before + " -> " + c.after
		}
	}
	return d
}

// tokenFormat names c's access token format, opaque for a client stored
// before there was a choice.
func tokenFormat(c storage.Client) string {
	if c.AccessTokenFormat == "" {
		return storage.AccessTokenOpaque
	}
	return c.AccessTokenFormat
}

// revokeClientTokens ends every token issued to the client until now, by
// its TokensNotBefore: the only way to end its JWT access tokens early.
// Its stored tokens (opaque access tokens, its users' refresh tokens) are
// refused by the same date when next presented, so nothing needs
// deleting: they go when they expire.
func (h *Handler) revokeClientTokens(rq *request) {
	c, ok := h.client(rq, "client.tokens_revoked")
	if !ok {
		return
	}
	if !rq.confirmed("Revoke the tokens issued to "+c.Name+"?",
		"Every token issued to "+c.Name+" until now stops working: its access tokens, JWT or opaque, and the refresh tokens of the people signed in to it, who sign in again. "+
			"An API that checks JWT access tokens offline, without introspection, still takes them until they expire.",
		"Revoke issued tokens", "/admin/clients/"+c.ID) {
		return
	}
	saved, err := h.store.UpdateClient(rq.ctx(), c.ID, func(cur storage.Client) (storage.Client, error) {
		return cur.RevokeTokens(h.now()), nil
	})
	if err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{ID: c.ID}, "client.tokens_revoked", storage.OutcomeSuccess,
		map[string]string{"not_before": saved.TokensNotBefore.UTC().Format(time.RFC3339)})
	rq.redirect("/admin/clients/" + c.ID + "?done=revoked")
}

func (h *Handler) rotateClientSecret(rq *request) {
	c, ok := h.client(rq, "client.secret_rotated")
	if !ok {
		return
	}
	if c.Public() {
		rq.fail(http.StatusBadRequest, "A public client has no secret", "It proves itself with PKCE instead.", "public_client")
		return
	}
	if !rq.confirmed("Rotate the secret of "+c.Name+"?",
		"A new secret is made and shown once. The old one stops working at once: "+c.Name+" cannot get tokens until it has the new one.",
		"Rotate the secret", "/admin/clients/"+c.ID) {
		return
	}
	secret, hash := provider.NewSecret()
	if _, err := h.store.UpdateClient(rq.ctx(), c.ID, func(cur storage.Client) (storage.Client, error) {
		cur.SecretHash = hash
		return cur, nil
	}); err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{ID: c.ID}, "client.secret_rotated", storage.OutcomeSuccess, nil)
	h.showSecret(rq, c, secret, "Secret rotated", "The old secret of "+c.Name+" no longer works.")
}

func (h *Handler) deleteClient(rq *request) {
	c, ok := h.client(rq, "client.deleted")
	if !ok {
		return
	}
	if !rq.confirmed("Delete "+c.Name+"?", "The app can no longer sign anyone in, and tokens already issued to it can no longer be refreshed.",
		"Delete "+c.Name, "/admin/clients/"+c.ID) {
		return
	}
	if err := h.store.DeleteClient(rq.ctx(), c.ID); err != nil {
		rq.serverError(err)
		return
	}
	h.svc.audit(rq.ctx(), rq.actor, storage.User{ID: c.ID}, "client.deleted", storage.OutcomeSuccess, map[string]string{"name": c.Name})
	rq.redirect("/admin/clients?done=deleted")
}
