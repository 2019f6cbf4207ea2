package templates

import (
	"net/http"
	"time"
)

// ClientsPage lists the registered relying parties.
type ClientsPage struct {
	Page
	Notice  string
	Clients []ClientRow
}

// ClientRow is one client in the list.
type ClientRow struct {
	ID, Name     string
	Public       bool
	RedirectURIs []string
	MinimumACR   string
	Exceptions   bool
}

// ClientPage registers a client (New) or edits one.
type ClientPage struct {
	Page
	New       bool
	ID        string
	CreatedAt time.Time
	Name      Field
	// RedirectURIs and PostLogoutURIs are one URI a line.
	RedirectURIs, PostLogoutURIs Field
	// Type is public or confidential; on an existing client it is shown,
	// not changed.
	Type, TypeError string
	Grants          []Choice
	GrantsError     string
	ACRs            []Choice
	Exceptions      bool
	// TokenFormats are the access token formats of client_credentials
	// tokens, opaque or JWT.
	TokenFormats     []Choice
	TokenFormatError string
	// TokensNotBefore is when the client last revoked its tokens; zero if
	// it never did.
	TokensNotBefore time.Time
	// ExceptionUsers counts the users with an MFA exception in force
	// (shown for a registered client).
	ExceptionUsers int
	// Lifetimes are the access, ID and refresh token lifetimes.
	Lifetimes []Lifetime
	Scopes    []string
	Notice    string
	Errors    []FormError
}

// Lifetime is a token lifetime field, such as 15m, 1h or 30d; empty uses
// the server's setting.
type Lifetime struct {
	ID, Label string
	Field
}

func (t *Templates) AdminClients(w http.ResponseWriter, status int, p ClientsPage) {
	t.render(w, status, "admin_clients", p)
}

func (t *Templates) AdminClient(w http.ResponseWriter, status int, p ClientPage) {
	t.render(w, status, "admin_client", p)
}
