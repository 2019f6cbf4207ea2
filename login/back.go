package login

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The way back to the app a user came to Security info from. An app links
// to /security?client_id=ID (and return_to, a page of its own, if it
// likes); a sign-in's enrolment step names its app too. Security info then
// shows "Back to <app>". The link goes only to the origin of one of that
// client's registered redirect URIs, checked again at every view, so no
// one can make Gatehouse show a link anywhere else: a return_to on another
// origin is ignored. The choice lasts the browser session in a cookie, so
// it survives Security info's detours (proving it's you, adding a method).

const backCookie = "back"

// backTo is the link back to client c's app: returnTo when it is on the
// origin of one of c's redirect URIs, else the origin of the first of them
// on the web; ok is false when c has none.
func backTo(c storage.Client, returnTo string) (link string, ok bool) {
	var origins []string
	for _, uri := range c.RedirectURIs {
		if o, ok := webOrigin(uri); ok {
			origins = append(origins, o)
		}
	}
	if len(origins) == 0 {
		return "", false
	}
	if o, ok := webOrigin(returnTo); ok {
		for _, allowed := range origins {
			if o == allowed {
				u, _ := url.Parse(returnTo)
				return u.String(), true
			}
		}
	}
	return origins[0] + "/", true
}

// webOrigin is the origin of an absolute http or https URL without user
// information, such as "https://app.example.org".
func webOrigin(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	return u.Scheme + "://" + strings.ToLower(u.Host), true
}

// rememberBack keeps the app to go back to for the browser session.
func (h *Handler) rememberBack(w http.ResponseWriter, clientID, returnTo string) {
	v := url.Values{"client_id": {clientID}}
	if returnTo != "" {
		v.Set("return_to", returnTo)
	}
	http.SetCookie(w, h.cookie(backCookie, v.Encode(), 0))
}

// backLink is the link back to the app for Security info: the one the
// request names (which is then kept for the browser session), or the one
// kept; nil when there is none, or the app is no longer registered.
func (h *Handler) backLink(w http.ResponseWriter, r *http.Request) (*templates.BackLink, error) {
	v := r.URL.Query()
	if v.Get("client_id") != "" {
		h.rememberBack(w, v.Get("client_id"), v.Get("return_to"))
	} else if c, err := r.Cookie(h.cookieName(backCookie)); err == nil {
		v, _ = url.ParseQuery(c.Value)
	}
	if v.Get("client_id") == "" {
		return nil, nil
	}
	c, err := h.store.GetClient(r.Context(), v.Get("client_id"))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get client: %w", err)
	}
	link, ok := backTo(c, v.Get("return_to"))
	if !ok {
		return nil, nil
	}
	return &templates.BackLink{Name: c.Name, URL: link}, nil
}

// rememberSignInBack keeps the app of the sign-in at back (an enrolment's
// return path) as the one to go back to.
func (h *Handler) rememberSignInBack(ctx context.Context, w http.ResponseWriter, back string) error {
	a, err := h.store.GetAuthRequest(ctx, strings.TrimPrefix(back, "/login?id="))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get auth request: %w", err)
	}
	// The redirect URI op checked is the client's, but it is where codes
	// go: the link goes to its origin.
	if o, ok := webOrigin(a.RedirectURI); ok && a.ClientID != "" {
		h.rememberBack(w, a.ClientID, o+"/")
	}
	return nil
}
