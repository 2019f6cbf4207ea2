// Package storage owns Gatehouse's record types, the storage contract every
// backend implements, and the sentinel errors callers compare with errors.Is.
//
// The contract is grouped by entity (Users, Clients, AuthRequests, ...); the
// Storage interface composes them, and consumers declare the narrow interface
// they need. Updates take a function that runs inside one transaction, so a
// read-modify-write never half-applies. Backends live in sub-packages
// (storage/bbolt); storage/storagetest is the conformance suite they pass.
package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/secure/precis"
)

// Sentinel errors. Backends wrap them; callers use errors.Is.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrCodeRedeemed is returned by RedeemAuthCode for a code that was
	// already exchanged; the returned AuthCode names the auth request so the
	// caller can revoke the tokens it produced (RFC 6749 section 4.1.2).
	ErrCodeRedeemed = errors.New("authorization code already redeemed")
	// ErrTokenRotated is returned for a refresh token that was already
	// exchanged for a newer one: a sign of theft (RFC 9700 section 4.14).
	ErrTokenRotated = errors.New("refresh token already rotated")
	// ErrNotEmpty refuses to delete an org unit that still has children or users.
	ErrNotEmpty = errors.New("not empty")
	// ErrConflict refuses a write that would break an invariant the store
	// keeps, whoever else writes at the same moment: a second exception in
	// force, an org unit under a missing unit or one of its own, a second
	// root, a user in a missing unit.
	ErrConflict = errors.New("conflicts with what is stored")
	// ErrLocked means the database file is held by another process,
	// usually a running server.
	ErrLocked = errors.New("database is locked by another process")
	// ErrInvalidUsername refuses a username that PRECIS rejects.
	ErrInvalidUsername = errors.New("invalid username")
	// ErrUnavailable means the store could not be reached (a database
	// server down, restarting or refusing connections): what was asked
	// was not done (or, if the connection broke during its commit, may
	// have been), and the same request may succeed in a moment.
	ErrUnavailable = errors.New("storage unavailable")
)

// Transaction kinds, as an Observer is told them.
const (
	KindRead = "read"
	// KindWrite is a write: with bbolt it may share its commit with
	// others.
	KindWrite = "write"
)

// Observer is told what a store does, for metrics. Its methods are
// called concurrently, on every storage call, so they must be quick.
type Observer interface {
	// Transaction: one storage call ran in a transaction of kind (KindRead
	// or KindWrite), named op in errors ("create access token"), and its
	// caller waited took for it: queueing for the writer or a pooled
	// connection, retries and the commit included.
	Transaction(kind, op string, took time.Duration)
	// Committed: a write transaction was made durable. took runs from its
	// first statement to the end of its commit; fsyncs is how many times
	// the commit flushed a file Gatehouse holds: with bbolt the data pages
	// and the meta page, and once more when the file grew (a group's
	// storage calls share one commit); with PostgreSQL none, the server
	// flushes its own log.
	Committed(took time.Duration, fsyncs int)
}

// Storage is the whole contract a backend implements.
//
// Update functions run inside the backend's transaction and may run more
// than once (a write is retried alone when the group it was committed
// with fails), so they must only compute the new record from the old one.
type Storage interface {
	OrgUnits
	Users
	Methods
	Exceptions
	Challenges
	Clients
	AuthRequests
	Tokens
	Sessions
	RememberedDevices
	SigningKeys
	Secrets
	Throttle
	Audit
	Notifications
	SettingsStore
	AppPasswords
	Copier

	// DeleteExpired removes auth requests, codes, tokens, sessions,
	// remembered devices, challenges, throttle records, temporary
	// methods and notifications whose expiry is not after now. Its
	// cost is proportional to what it deletes, not to what is stored.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	// Backup writes a consistent copy of the whole store to w while the
	// store stays online. A backend whose database has backup tools of its
	// own may lack it (PostgreSQL: pg_dump) and return an error wrapping
	// errors.ErrUnsupported.
	Backup(ctx context.Context, w io.Writer) (int64, error)
	// Health reports whether the store can serve reads.
	Health(ctx context.Context) error
	// Atomically runs fn in one write transaction: the writes fn makes
	// through tx commit together, or, if fn returns an error, none does.
	// fn may run more than once, like an update function, so it must only
	// read and write through tx and keep its results.
	Atomically(ctx context.Context, fn func(tx Tx) error) error
	Close() error
}

// Tx is a write transaction (see Storage.Atomically): the writes a step of
// a sign-in, or a change to an account, makes together, so that it costs
// one commit, and so that a crash leaves neither a change without its
// audit event nor half a step. Each method does what the Storage method of
// the same name does.
type Tx interface {
	CreateUser(u User) error
	UpdateUser(id string, update func(User) (User, error)) (User, error)
	CreateMethod(m Method) error
	DeleteMethod(id string) error
	DeleteUserMethods(userID string) error
	DeleteUserSessions(userID string) error
	RevokeUserTokens(userID string) error
	DeleteRememberedDevice(id string) error
	DeleteUserRememberedDevices(userID string) error
	CreateException(e Exception) error
	UpdateException(id string, update func(Exception) (Exception, error)) (Exception, error)
	UpdateAuthRequest(id string, update func(AuthRequest) (AuthRequest, error)) (AuthRequest, error)
	CreateSession(s Session) error
	DeleteSession(id string) error
	CreateChallenge(c Challenge) error
	UpdateChallenge(id string, update func(Challenge) (Challenge, error)) (Challenge, error)
	DeleteChallenge(id string) error
	UpdateMethod(id string, update func(Method) (Method, error)) (Method, error)
	UpdateAttempts(key string, update func(Attempts) (Attempts, error)) (Attempts, error)
	AppendAudit(e AuditEvent) error
	AddNotification(n Notification) error
	CreateAppPassword(p AppPassword) error
	UpdateAppPassword(id string, update func(AppPassword) (AppPassword, error)) (AppPassword, error)
	DeleteAppPassword(id string) error
	DeleteUserAppPasswords(userID string) error
}

// NewID returns a random, URL-safe identifier with 128 bits of entropy.
func NewID() string { return RandomString(16) }

// RandomString returns n random bytes from crypto/rand, base64url-encoded.
func RandomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand docs, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MFASetting is an org unit's multi-factor policy.
type MFASetting string

const (
	MFAInherit  MFASetting = "inherit"
	MFAOptional MFASetting = "optional"
	MFAPrompted MFASetting = "prompted"
	MFARequired MFASetting = "required"
)

// OrgUnit is a node of the org-unit tree. The root has an empty ParentID.
type OrgUnit struct {
	ID       string
	Name     string
	ParentID string
	MFA      MFASetting
	// Overrides, each inherited from the parent while unset: the method
	// types users may register and use (empty: every configured one), the
	// ISO 3166 regions whose phone numbers are accepted (empty: the
	// server's default), and how long a browser may skip the second factor
	// after one passed (nil: inherit; 0: ask at every sign-in).
	AllowedMethods []string       `json:",omitempty"`
	PhoneRegions   []string       `json:",omitempty"`
	RememberMFA    *time.Duration `json:",omitempty"`
	// AppPasswords lets the unit's users create app passwords, for legacy
	// apps behind forward-auth (nil: inherit; off where no unit sets it).
	AppPasswords *bool `json:",omitempty"`
	CreatedAt    time.Time
}

// OrgUnits stores the org-unit tree. It stays a tree with one root
// whatever writes at once: each check below is made in the write's own
// transaction.
type OrgUnits interface {
	// CreateOrgUnit fails with ErrConflict when the parent is missing, or,
	// for a unit without a parent, when there is a root already.
	CreateOrgUnit(ctx context.Context, ou OrgUnit) error
	GetOrgUnit(ctx context.Context, id string) (OrgUnit, error)
	// UpdateOrgUnit fails with ErrConflict when the update moves the unit
	// under a missing unit, under itself or one of its own descendants, or
	// to or from the top.
	UpdateOrgUnit(ctx context.Context, id string, update func(OrgUnit) (OrgUnit, error)) (OrgUnit, error)
	// DeleteOrgUnit refuses with ErrNotEmpty while the unit has children or users.
	DeleteOrgUnit(ctx context.Context, id string) error
	ListOrgUnits(ctx context.Context) ([]OrgUnit, error)
}

// Role names.
const (
	RoleGlobalAdmin = "global_admin"
	RoleOrgAdmin    = "org_admin"
	RoleHelpdesk    = "helpdesk"
)

// RoleBinding grants a role over an org-unit subtree (ignored for global_admin).
type RoleBinding struct {
	Role      string
	OrgUnitID string
}

// User is a person who signs in. Username and Email are stored normalised
// (see NormalizeUsername); both are unique, Email only when set. A user's
// phones are their text-message and voice call methods (see PhoneRole):
// the Phone and AltPhone an older Gatehouse kept on a user, typed by an
// admin and never verified, are ignored where a stored user still has
// them, and dropped at its next update.
type User struct {
	ID           string
	Username     string
	Email        string
	DisplayName  string
	PasswordHash string `json:",omitempty"` // PHC string, see factors/password
	// MustChangePassword is set for one-time passwords: the journey asks for
	// a new password before the sign-in completes.
	MustChangePassword bool
	OrgUnitID          string
	Roles              []RoleBinding
	Disabled           bool
	MFAEnabled         bool
	PreferredMethod    string
	// MFAResetAt is when an admin last reset the user's MFA: a device
	// remembered before it no longer skips the second factor.
	MFAResetAt        time.Time `json:",omitzero"`
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
	// OneTimePasswordExpiresAt is when a one-time password stops working
	// (see OneTimePasswordExpiry); zero once the user has chosen their own.
	OneTimePasswordExpiresAt time.Time `json:",omitzero"`
}

// OneTimePasswordExpiry is when u's one-time password stops working, zero
// when u has none. One set before one-time passwords had a stored expiry
// lasts lifetime from when it was set, so an old one left unused does not
// work for ever.
func (u User) OneTimePasswordExpiry(lifetime time.Duration) time.Time {
	switch {
	case !u.MustChangePassword:
		return time.Time{}
	case !u.OneTimePasswordExpiresAt.IsZero():
		return u.OneTimePasswordExpiresAt
	}
	return u.PasswordChangedAt.Add(lifetime)
}

// OneTimePasswordExpired reports whether u has a one-time password and it
// has expired at now.
func (u User) OneTimePasswordExpired(now time.Time, lifetime time.Duration) bool {
	return u.MustChangePassword && !now.Before(u.OneTimePasswordExpiry(lifetime))
}

// UserPage is one page of ListUsers.
type UserPage struct {
	Users []User
	// Next is the cursor for the following page, empty on the last one.
	Next string
}

// Users stores user accounts. Lookups by id, username and email are O(log n).
type Users interface {
	// CreateUser fails with ErrAlreadyExists when the id, username or email
	// is taken, and with ErrConflict when the user's org unit (if set) is
	// missing.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	GetUserByEmail(ctx context.Context, email string) (User, error)
	// UpdateUser keeps the username and email indexes in step and fails with
	// ErrAlreadyExists when the new username or email is taken, and with
	// ErrConflict when it moves the user to a missing org unit.
	UpdateUser(ctx context.Context, id string, update func(User) (User, error)) (User, error)
	DeleteUser(ctx context.Context, id string) error
	// ListUsers returns up to limit users in username order, starting after
	// the cursor (a previous page's Next; empty for the first page).
	ListUsers(ctx context.Context, cursor string, limit int) (UserPage, error)
	// CountUsers counts the users in one org unit (not its children).
	CountUsers(ctx context.Context, orgUnitID string) (int, error)
	// SearchUsers returns a page of the users q matches, each user once
	// across the pages: in username order without Text, else in an order
	// the backend chooses that holds from page to page. Candidates come
	// from an index, never a scan of every user, and one call examines a
	// bounded number of them, so a page may hold fewer than Limit users,
	// even none, while Next is set: keep following Next until it is empty.
	SearchUsers(ctx context.Context, q UserQuery) (UserPage, error)
	// ListAdmins returns the users holding the global or org admin role,
	// in username order, found by index: they are few.
	ListAdmins(ctx context.Context) ([]User, error)
}

// UserQuery filters SearchUsers. Zero fields match everything; a user must
// match every field that is set.
type UserQuery struct {
	// Text matches, ignoring case and extra spaces, users whose username,
	// email or display name starts with it, or who have a word of their
	// display name (or a part of a hyphenated word) that does: "ali" finds
	// alice, "smi" and "alice sm" find Alice Smith, "jane" finds Mary-Jane.
	Text string
	// OrgUnitIDs keeps users in any of these units; list a subtree's units
	// to search the subtree.
	OrgUnitIDs []string
	// MFA keeps users whose MFA switch is "on" or "off".
	MFA string
	// Method keeps users with at least one method of this type.
	Method string
	// Cursor is the Next of the page before; empty for the first page.
	Cursor string
	// Limit bounds the page; zero means 50.
	Limit int
}

// Method types: the second factors a user can register, and the
// temporary access pass the helpdesk issues.
const (
	MethodTOTP     = "totp"
	MethodWebAuthn = "webauthn"
	MethodEmail    = "email"
	MethodSMS      = "sms"
	MethodVoice    = "voice"
	MethodRecovery = "recovery"
	MethodPass     = "access_pass"
)

// Method is a user's registered second factor.
type Method struct {
	ID         string
	UserID     string
	Type       string
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time
	// Target is where codes go: an email address or an E.164 number.
	Target string `json:",omitempty"`
	// Secret is sealed key material (see factors.Sealer): a TOTP key.
	Secret []byte `json:",omitempty"`
	// Data is method-specific state: a WebAuthn credential, recovery code
	// hashes.
	Data []byte `json:",omitempty"`
	// LastStep is the last TOTP time step accepted: a code for it, or an
	// earlier one, is never accepted again.
	LastStep int64 `json:",omitempty"`
	// ExpiresAt ends a temporary method (a temporary access pass); zero
	// for every other. A spent one-time pass expires at its use.
	ExpiresAt time.Time `json:",omitzero"`
}

// LiveAt reports whether m can be used at now: a temporary method until it
// expires, any other always.
func (m Method) LiveAt(now time.Time) bool { return m.ExpiresAt.IsZero() || now.Before(m.ExpiresAt) }

// Fallback reports whether m only stands in for the user's own methods
// (recovery codes, a temporary access pass): it proves a sign-in, but
// never counts as a registered method, whether to turn MFA on, for an
// exception, or as the method a unit requires the user to set up.
func (m Method) Fallback() bool { return m.Type == MethodRecovery || m.Type == MethodPass }

// Phone roles, as Microsoft's Security info has them: the user's mobile
// phone takes texts, and calls to the same number; an alternate phone
// takes calls only.
const (
	PhoneMobile    = "mobile"
	PhoneAlternate = "alternate"
)

// PhoneRole is what m's number is to its user, among all their methods:
// the mobile phone if one of their text-message methods uses it, else
// (a voice call method on a number of its own) an alternate phone; ""
// for a method that is not a phone.
func PhoneRole(m Method, methods []Method) string {
	switch {
	case m.Type == MethodSMS:
		return PhoneMobile
	case m.Type != MethodVoice:
		return ""
	case slices.ContainsFunc(methods, func(o Method) bool { return o.Type == MethodSMS && o.Target == m.Target }):
		return PhoneMobile
	}
	return PhoneAlternate
}

// MobilePhone is the number of the user's mobile phone (see PhoneRole):
// that of their first text-message method, or "" if they have none.
func MobilePhone(methods []Method) string {
	var first *Method
	for i, m := range methods {
		if m.Type == MethodSMS && (first == nil || m.CreatedAt.Before(first.CreatedAt)) {
			first = &methods[i]
		}
	}
	if first == nil {
		return ""
	}
	return first.Target
}

// Methods stores second factors. A user's methods are found by index.
type Methods interface {
	// CreateMethod fails with ErrConflict for a temporary method (one with
	// an ExpiresAt) while the user has a live temporary method of its type:
	// one temporary access pass at a time, whoever issues one at once.
	CreateMethod(ctx context.Context, m Method) error
	GetMethod(ctx context.Context, id string) (Method, error)
	ListUserMethods(ctx context.Context, userID string) ([]Method, error)
	UpdateMethod(ctx context.Context, id string, update func(Method) (Method, error)) (Method, error)
	DeleteMethod(ctx context.Context, id string) error
	DeleteUserMethods(ctx context.Context, userID string) error
}

// Exception kinds and states. An exception is never self-service: helpdesk
// or an admin makes it for a user, and while it is approved and unexpired
// the user signs in without a second factor.
const (
	ExceptionShortTerm = "short_term" // 24 hours
	ExceptionLongTerm  = "long_term"  // 180 days, two-person approval

	ExceptionRequested = "requested"
	ExceptionApproved  = "approved"
	ExceptionRejected  = "rejected"
	ExceptionRevoked   = "revoked"
	// ExceptionExpired is never stored: an approved exception past its
	// ExpiresAt is expired (see Exception.StateAt).
	ExceptionExpired = "expired"
)

// Exception lets a user sign in without a second factor for a while.
type Exception struct {
	ID        string
	UserID    string
	OrgUnitID string // the user's unit when it was made, for audit and lists
	Kind      string
	Reason    string
	// Note is the requester's words; Evidence, mandatory for a long-term
	// exception, is what supports it.
	Note        string `json:",omitempty"`
	Evidence    string `json:",omitempty"`
	State       string
	RequestedBy string
	RequestedAt time.Time
	// DecidedBy approved or rejected it; RevokedBy ended it early.
	DecidedBy    string    `json:",omitempty"`
	DecidedAt    time.Time `json:",omitzero"`
	DecisionNote string    `json:",omitempty"`
	RevokedBy    string    `json:",omitempty"`
	RevokedAt    time.Time `json:",omitzero"`
	// ExpiresAt is set on approval.
	ExpiresAt time.Time `json:",omitzero"`
}

// StateAt is the exception's state at now: an approved exception past its
// expiry is expired.
func (e Exception) StateAt(now time.Time) string {
	if e.State == ExceptionApproved && !now.Before(e.ExpiresAt) {
		return ExceptionExpired
	}
	return e.State
}

// InForce reports whether the exception lets its user skip the second
// factor at now: approved, and not yet expired. Every "in force" check
// in Gatehouse is this one.
func (e Exception) InForce(now time.Time) bool { return e.StateAt(now) == ExceptionApproved }

// Replaces reports whether e, once approved, ends other in force rather
// than being refused beside it: a long-term exception replaces the
// short-term one that bridged to it. Nothing else replaces anything.
func (e Exception) Replaces(other Exception) bool {
	return e.Kind == ExceptionLongTerm && other.Kind == ExceptionShortTerm
}

// ExceptionClaim is what a token says of the exception a sign-in used,
// and which exception that was: tokens end with it.
type ExceptionClaim struct {
	ID        string    `json:"id,omitempty"`
	Kind      string    `json:"kind"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Exceptions stores MFA exceptions. A user's, and those in one state, are
// found by index. A user never has two in force at once, whatever writes
// at the same moment: the check is made in the write's own transaction.
type Exceptions interface {
	// CreateException fails with ErrConflict when e is in force at its
	// DecidedAt and another of the user's exceptions is in force then too.
	CreateException(ctx context.Context, e Exception) error
	GetException(ctx context.Context, id string) (Exception, error)
	// UpdateException runs update on the stored exception. An update that
	// approves it (in force at its DecidedAt) while another of the user's
	// is in force then fails with ErrConflict, except that approving a
	// long-term exception replaces short-term ones: they are revoked in the
	// same transaction, at that DecidedAt by its DecidedBy, with a note
	// naming it.
	UpdateException(ctx context.Context, id string, update func(Exception) (Exception, error)) (Exception, error)
	ListUserExceptions(ctx context.Context, userID string) ([]Exception, error)
	// ListExceptions returns the exceptions stored in state (requested,
	// approved, ...).
	ListExceptions(ctx context.Context, state string) ([]Exception, error)
}

// Challenge is an outstanding second-factor check or enrolment: a code
// sent, a WebAuthn ceremony begun, a call placed. It is bound to one sign-in
// attempt (AuthRequestID) or one browser session (SessionID), and dies with
// its expiry.
type Challenge struct {
	ID            string
	UserID        string
	AuthRequestID string `json:",omitempty"`
	SessionID     string `json:",omitempty"`
	// MethodID is the method being checked; empty while enrolling one.
	MethodID string `json:",omitempty"`
	Type     string
	// CodeHash is an HMAC of the code sent, never the code.
	CodeHash []byte `json:",omitempty"`
	// Data is method-specific: WebAuthn session data, a pending enrolment.
	Data []byte `json:",omitempty"`
	// Guesses counts wrong answers to this challenge.
	Guesses int
	// Approved is set when a voice call was answered with #.
	Approved bool
	// Prompt is what the challenge page shows, kept so a reload shows it
	// again without sending another code.
	Prompt    []byte `json:",omitempty"`
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Challenges stores outstanding challenges.
type Challenges interface {
	CreateChallenge(ctx context.Context, c Challenge) error
	GetChallenge(ctx context.Context, id string) (Challenge, error)
	UpdateChallenge(ctx context.Context, id string, update func(Challenge) (Challenge, error)) (Challenge, error)
	DeleteChallenge(ctx context.Context, id string) error
}

// Client is a relying party.
type Client struct {
	ID   string
	Name string
	// SecretHash is SHA-256 of the client secret; empty for a public client,
	// which must use PKCE. Secrets are random and high-entropy, so a fast
	// hash is enough and keeps the token endpoint fast.
	SecretHash             []byte `json:",omitempty"`
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// GrantTypes are OAuth grant type names: authorization_code,
	// refresh_token, client_credentials.
	GrantTypes []string
	// Scopes are the API scopes the client may request for itself with
	// client_credentials.
	Scopes               []string `json:",omitempty"`
	MinimumACR           string
	ExceptionsAllowed    bool
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration
	// AccessTokenFormat is what the client's client_credentials grant
	// gives: AccessTokenOpaque (or empty, as every client stored before
	// there was a choice) for a stored token checked by introspection, or
	// AccessTokenJWT for an RFC 9068 JWT, never stored, that an API checks
	// offline against the JWKS. Tokens from a user's sign-in
	// (authorization_code, refresh_token) are opaque whatever it says:
	// they must end with the session, the refresh-token family, an MFA
	// reset or an exception, which a JWT cannot.
	AccessTokenFormat string `json:",omitempty"`
	// TokensNotBefore refuses every token of the client issued before it
	// (see TokenRevoked): the one way to end JWT access tokens before
	// they expire. Zero refuses none.
	TokensNotBefore time.Time `json:",omitzero"`
	// Forward makes the client a protected app: a web app behind a
	// reverse proxy that asks Gatehouse, by forward-auth, whether to let
	// each request through, instead of speaking OIDC. Its MinimumACR and
	// ExceptionsAllowed apply as an OIDC client's do.
	Forward   *ForwardAuth `json:",omitempty"`
	CreatedAt time.Time
}

// ForwardAuth is what a protected app is.
type ForwardAuth struct {
	// Host is the app's host as browsers reach it (with the port where it
	// is not the scheme's), and PathPrefix, if set, the part of it that
	// is the app.
	Host       string
	PathPrefix string `json:",omitempty"`
	// OrgUnitIDs are the units (with their subunits) whose users may use
	// the app; empty: everyone's.
	OrgUnitIDs []string `json:",omitempty"`
	// AppPasswords lets legacy clients of the app sign in over Basic
	// authentication with an app password.
	AppPasswords bool `json:",omitempty"`
}

// Access token formats (Client.AccessTokenFormat).
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// Public reports whether the client has no secret.
func (c Client) Public() bool { return len(c.SecretHash) == 0 }

// JWTAccessTokens reports whether the client's client_credentials grant
// gives RFC 9068 JWTs rather than opaque tokens.
func (c Client) JWTAccessTokens() bool { return c.AccessTokenFormat == AccessTokenJWT }

// RevokeTokens returns c refusing every token issued up to now: its
// TokensNotBefore is the next whole second after now, since a JWT's iat
// counts whole seconds and one issued earlier in the same second must
// end too. A token issued in the rest of that second ends with them.
func (c Client) RevokeTokens(now time.Time) Client {
	c.TokensNotBefore = now.Truncate(time.Second).Add(time.Second)
	return c
}

// TokenRevoked reports whether a token of c issued at issuedAt is
// refused: issued before its TokensNotBefore, or before it was registered
// (to a deleted client whose id was registered again). The registration
// is taken to the whole second, as a JWT's iat is.
func (c Client) TokenRevoked(issuedAt time.Time) bool {
	return issuedAt.Before(c.TokensNotBefore) || issuedAt.Before(c.CreatedAt.Truncate(time.Second))
}

// Clients stores relying parties.
type Clients interface {
	// CreateClient and UpdateClient fail with ErrAlreadyExists when the id
	// is taken or, for a protected app, another has its host (in any case)
	// and path prefix.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	UpdateClient(ctx context.Context, id string, update func(Client) (Client, error)) (Client, error)
	DeleteClient(ctx context.Context, id string) error
	ListClients(ctx context.Context) ([]Client, error)
	// FindProtectedApp returns the protected app at host (in any case)
	// whose path prefix is the longest that path starts with, found by
	// index, or ErrNotFound.
	FindProtectedApp(ctx context.Context, host, path string) (Client, error)
}

// Requirement is what one sign-in must prove. It is built once, when its
// auth request is created (from the client and the request, or from what
// one of Gatehouse's own pages needs), and kept with it; login/policy owns
// the rules that build and read it.
type Requirement struct {
	// ACR is the weakest acr the sign-in may end with ("" or pwd: a
	// password); ACRBy says who asks for it, for reasons: "client" (its
	// minimum) or "request" (acr_values, an essential acr, or a page).
	ACR   string `json:",omitempty"`
	ACRBy string `json:",omitempty"`
	// MFAWithin asks for a second factor no older than this, whatever the
	// session proved before; zero: any.
	MFAWithin time.Duration `json:",omitempty"`
	// PasswordWithin asks for the password no older than this (max_age;
	// zero: entered now); nil: any age.
	PasswordWithin *time.Duration `json:",omitempty"`
	// Prompt holds the request's prompt values (login, none).
	Prompt []string `json:",omitempty"`
	// ExceptionsAnswer: an MFA exception in force may stand in for a
	// second factor the client or the user's policy asks for.
	ExceptionsAnswer bool `json:",omitempty"`
	// RememberedAnswers: a device that passed a second factor within its
	// unit's remember window may stand in for one the user's policy asks.
	RememberedAnswers bool `json:",omitempty"`
}

// AuthRequest is an authorization request and the state of the login
// journey answering it.
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	State               string
	Nonce               string
	Scopes              []string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	LoginHint           string
	// HintUserID is the subject of a verified id_token_hint.
	HintUserID string
	UILocales  []string
	// Requirement is what the sign-in must prove: the request's acr_values,
	// max_age and prompt are in it.
	Requirement Requirement
	// BrowserHash is SHA-256 of the browser-binding cookie of the browser
	// that started the request; every step checks it.
	BrowserHash []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time

	// The journey: Step is where it stands, the login package's to name
	// (opaque here).
	Step      string
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string
	ACR       string
	// CodeIssued is set, once, when the finished request is answered with a
	// code, so reloading the callback cannot mint a second one.
	CodeIssued bool
	// MethodID is the second factor the user chose ("use another method");
	// ChallengeID the challenge outstanding for it.
	MethodID    string `json:",omitempty"`
	ChallengeID string `json:",omitempty"`
	// EnrolmentDeclined is set when the user chose "Not now" to setting
	// up MFA in this sign-in.
	EnrolmentDeclined bool `json:",omitempty"`
	// ReturnTo is set for Gatehouse's own pages (the Security info page):
	// a local path to go back to instead of answering a client.
	ReturnTo string `json:",omitempty"`
	// Waiver is what let the sign-in skip the second factor, if anything;
	// the ID token names an exception.
	Waiver
}

// Waiver is what stood in for a sign-in's second factor, if anything: an
// MFA exception, or a browser remembered since a second factor passed in
// it at RememberedAt. Tokens carry it, so they end with it.
type Waiver struct {
	Exception    *ExceptionClaim `json:",omitempty"`
	RememberedAt time.Time       `json:",omitzero"`
	// DeviceID is the remembered device: tokens end when the user
	// forgets it. Empty for a sign-in before devices were stored.
	DeviceID string `json:",omitempty"`
}

// AuthCode is an issued authorization code, kept after redemption until
// ExpiresAt so that a replay can be detected.
type AuthCode struct {
	Hash          string // SHA-256 of the code, base64url
	AuthRequestID string
	ExpiresAt     time.Time
	RedeemedAt    time.Time
}

// AuthRequests stores auth requests and their codes.
type AuthRequests interface {
	CreateAuthRequest(ctx context.Context, a AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	UpdateAuthRequest(ctx context.Context, id string, update func(AuthRequest) (AuthRequest, error)) (AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error
	// SaveAuthCode stores c and, in the same transaction, marks its auth
	// request CodeIssued, so a request is answered with one code: a request
	// that is gone is ErrNotFound, one answered already ErrConflict.
	SaveAuthCode(ctx context.Context, c AuthCode) error
	// GetAuthCode returns a code, redeemed or not, until it is deleted as
	// expired.
	GetAuthCode(ctx context.Context, hash string) (AuthCode, error)
	// RedeemAuthCode, in one transaction, marks the code redeemed at now and
	// stores the tokens it is exchanged for: at, and rt unless nil. Tokens
	// from a code belong to the family named by its AuthRequestID. A code
	// redeemed before gets ErrCodeRedeemed (with the code) and that family
	// is revoked in the same transaction; an unknown or expired code gets
	// ErrNotFound. A redeemed code's auth request is spent, and deleted
	// with the redemption.
	RedeemAuthCode(ctx context.Context, hash string, now time.Time, at AccessToken, rt *RefreshToken) (AuthCode, error)
}

// AccessToken is an issued access token. Its ID is what an opaque token
// encrypts or a JWT carries as jti.
type AccessToken struct {
	ID       string
	ClientID string
	Subject  string // user id, or client id for client_credentials
	Audience []string
	Scopes   []string
	AuthTime time.Time
	AMR      []string
	ACR      string
	FamilyID string // the refresh-token family, empty without one
	// Exception is the MFA exception the sign-in (or the refresh it came
	// from) used, if any: the token ends with it.
	Exception *ExceptionClaim `json:",omitempty"`
	ExpiresAt time.Time
	CreatedAt time.Time
}

// RefreshToken is an issued refresh token, stored under the SHA-256 of its
// value. Every exchange rotates it; all tokens descending from one sign-in
// share a FamilyID, so presenting a rotated token revokes the family.
type RefreshToken struct {
	Hash     string // SHA-256 of the token value, base64url
	FamilyID string
	ClientID string
	UserID   string
	Audience []string
	Scopes   []string
	AuthTime time.Time
	AMR      []string
	ACR      string
	// Waiver is what stood in for the second factor at the sign-in, or at
	// the last refresh (see provider.Journey).
	Waiver
	ExpiresAt time.Time
	CreatedAt time.Time
	// RotatedAt is set once the token has been exchanged.
	RotatedAt time.Time
}

// Tokens stores access and refresh tokens.
type Tokens interface {
	CreateAccessToken(ctx context.Context, t AccessToken) error
	GetAccessToken(ctx context.Context, id string) (AccessToken, error)
	DeleteAccessToken(ctx context.Context, id string) error
	// CreateRefreshToken stores a new family head together with its access token.
	CreateRefreshToken(ctx context.Context, rt RefreshToken, at AccessToken) error
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// RotateRefreshToken, in one transaction, marks the token under oldHash
	// rotated at now and stores next and at. If it was rotated already, the
	// whole family is revoked and ErrTokenRotated returned.
	RotateRefreshToken(ctx context.Context, oldHash string, now time.Time, next RefreshToken, at AccessToken) error
	// RevokeFamily deletes every refresh and access token of a family.
	RevokeFamily(ctx context.Context, familyID string) error
	// RevokeUserTokens deletes every refresh and access token of a user.
	RevokeUserTokens(ctx context.Context, userID string) error
}

// Session is a browser session: who signed in, when, and with what.
type Session struct {
	ID       string
	UserID   string
	AuthTime time.Time
	AMR      []string
	ACR      string
	// MFAAt is when a second factor last passed in this session.
	MFAAt      time.Time `json:",omitzero"`
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string
}

// Sessions stores browser sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	UpdateSession(ctx context.Context, id string, update func(Session) (Session, error)) (Session, error)
	DeleteSession(ctx context.Context, id string) error
	ListUserSessions(ctx context.Context, userID string) ([]Session, error)
	DeleteUserSessions(ctx context.Context, userID string) error
}

// RememberedDevice is a browser in which a user's second factor passed and
// they asked not to be asked for one again there ("Don't ask again on this
// device"). Kept server-side so the user can see where they are
// remembered and forget a device: deleting the record ends it at once.
type RememberedDevice struct {
	ID     string
	UserID string
	// BrowserHash is SHA-256 of the browser-binding cookie of the browser
	// remembered.
	BrowserHash []byte
	// UserAgent is the browser's User-Agent when it was remembered, to
	// name the device by.
	UserAgent string `json:",omitempty"`
	// CreatedAt is when the second factor passed there.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RememberedDevices stores remembered devices. A user has at most one per
// browser; finding it is one index look-up, whatever is stored.
type RememberedDevices interface {
	// RememberDevice stores d. If d's browser is remembered for d's user
	// already, that record keeps its ID and takes d's other fields. It
	// returns the record as stored.
	RememberDevice(ctx context.Context, d RememberedDevice) (RememberedDevice, error)
	GetRememberedDevice(ctx context.Context, id string) (RememberedDevice, error)
	// FindRememberedDevice returns userID's device for the browser whose
	// cookie hashes to browserHash.
	FindRememberedDevice(ctx context.Context, userID string, browserHash []byte) (RememberedDevice, error)
	ListUserRememberedDevices(ctx context.Context, userID string) ([]RememberedDevice, error)
	DeleteRememberedDevice(ctx context.Context, id string) error
	DeleteUserRememberedDevices(ctx context.Context, userID string) error
}

// SigningKey is a token-signing key. The newest unretired key signs; older
// keys stay published until tokens signed with them have expired.
type SigningKey struct {
	ID         string
	Algorithm  string // JOSE name, e.g. RS256
	PrivateDER []byte // PKCS #8
	CreatedAt  time.Time
	// ActivatesAt, when set, is when the key starts signing: until then
	// it is only published, so that every replica and relying party
	// holds it before a token it signed reaches them.
	ActivatesAt time.Time `json:",omitzero"`
	// RetiredAt is when the key stopped signing; zero while it signs, or
	// waits to.
	RetiredAt time.Time
	// DeleteAfter is when the key may leave the JWKS.
	DeleteAfter time.Time
}

// SigningKeys stores the signing key set, replaced as a whole so rotation is atomic.
type SigningKeys interface {
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	UpdateSigningKeys(ctx context.Context, update func([]SigningKey) ([]SigningKey, error)) ([]SigningKey, error)
}

// Secret is generated key material for one purpose (cookie keys, token
// encryption), newest first.
type Secret struct {
	Value     []byte
	CreatedAt time.Time
}

// Secrets stores generated key material by purpose.
type Secrets interface {
	UpdateSecrets(ctx context.Context, purpose string, update func([]Secret) ([]Secret, error)) ([]Secret, error)
}

// EnsureSecret returns the newest secret for purpose, generating size
// random bytes the first time.
func EnsureSecret(ctx context.Context, s Secrets, purpose string, size int, now time.Time) ([]byte, error) {
	secrets, err := s.UpdateSecrets(ctx, purpose, func(old []Secret) ([]Secret, error) {
		if len(old) > 0 {
			return old, nil
		}
		v := make([]byte, size)
		rand.Read(v)
		return []Secret{{Value: v, CreatedAt: now}}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("load %s key: %w", purpose, err)
	}
	return secrets[0].Value, nil
}

// Attempts counts consecutive failures for one throttle key (an account,
// an IP address, a user and method), and holds the leases of the attempts
// at it being checked now.
type Attempts struct {
	Key         string
	Failures    int
	LastFailure time.Time
	LockedUntil time.Time
	// InFlight are the leases of attempts admitted and not yet settled,
	// each the time until which it counts: a server that stops mid-check
	// leaves a lease that ends by itself.
	InFlight []time.Time `json:",omitempty"`
	// ExpiresAt is when the record may be forgotten; not before its
	// leases end.
	ExpiresAt time.Time
}

// Empty reports whether a holds nothing worth storing.
func (a Attempts) Empty() bool { return a.Failures == 0 && len(a.InFlight) == 0 }

// Throttle stores failure counters.
type Throttle interface {
	GetAttempts(ctx context.Context, key string) (Attempts, error)
	// UpdateAttempts runs update on the record for key (a zero record with
	// Key set when there is none). Returning an Empty record deletes it.
	UpdateAttempts(ctx context.Context, key string, update func(Attempts) (Attempts, error)) (Attempts, error)
}

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// AuditEvent is one append-only audit record.
type AuditEvent struct {
	ID        string // assigned by AppendAudit; orders events by time
	Time      time.Time
	Actor     string
	Subject   string
	OrgUnitID string
	Action    string
	Outcome   string
	IP        string
	UserAgent string
	Details   map[string]string `json:",omitempty"`
}

// AuditQuery filters ListAudit. Zero fields match everything; an event
// must match every field that is set.
type AuditQuery struct {
	// Subject matches the event's Subject exactly.
	Subject string
	// User matches events the user did or that were done to them: the
	// event's Actor or Subject is User.
	User string
	// OrgUnitIDs matches events in any of these units. An event without an
	// org unit matches only when OrgUnitIDs is empty.
	OrgUnitIDs []string
	// Action matches exactly; ActionPrefix matches actions that start with
	// it, such as "exception." for every exception event.
	Action       string
	ActionPrefix string
	Outcome      string
	// Since is inclusive and Until exclusive.
	Since time.Time
	Until time.Time
	// Before pages back through the log: only events whose ID sorts before
	// it (IDs order events by time), such as the last ID of the page before.
	Before string
	// Limit caps the number of events returned; zero means no cap.
	Limit int
}

// Audit stores the audit log.
type Audit interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns matching events, newest first. Its cost follows
	// the events it walks past, not the size of the log: callers page with
	// Limit and Before rather than load everything. With User or Subject
	// set it walks only that user's events, so a user's last few events
	// are cheap however long ago they were.
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
}

// NormalizeUsername returns the stored form of a username: PRECIS
// UsernameCaseMapped (RFC 8265), so "Alice" and "alice" are one account and
// look-alike width variants cannot be registered twice.
func NormalizeUsername(s string) (string, error) {
	n, err := precis.UsernameCaseMapped.String(strings.TrimSpace(s))
	if err == nil && n == "" {
		err = errors.New("empty")
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidUsername, err)
	}
	return n, nil
}

// NormalizeEmail returns the stored form of an email address: trimmed and
// lower-cased. Empty stays empty.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// Records that hold secrets (a password hash, key material, a client's
// secret hash) log as who and what they are, never whole: a record passed
// to a logger by mistake leaks nothing.

func (u User) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", u.ID), slog.String("username", u.Username), slog.String("org_unit", u.OrgUnitID))
}

func (m Method) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", m.ID), slog.String("user", m.UserID), slog.String("type", m.Type))
}

func (k SigningKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", k.ID), slog.String("alg", k.Algorithm), slog.Time("created", k.CreatedAt))
}

func (s Secret) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("created", s.CreatedAt))
}

func (c Challenge) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("user", c.UserID), slog.String("type", c.Type))
}

func (c Client) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("name", c.Name), slog.Bool("public", c.Public()))
}

// How a notification reaches its recipient: by email, or by text message
// to a user with no email address.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// Notification states.
const (
	// NotificationPending waits to be sent, or to be tried again.
	NotificationPending = "pending"
	NotificationSent    = "sent"
	// NotificationFailed was given up on.
	NotificationFailed = "failed"
	// NotificationCancelled was no longer true when it came due: a
	// notice that an exception ends, for one revoked before then.
	NotificationCancelled = "cancelled"
)

// Notification is a message telling someone what happened to an account.
// It is recorded in the transaction of the change it tells of
// (Tx.AddNotification), so a crash can neither lose it nor leave one
// for a change that did not happen, and is sent later by whoever claims
// it (ClaimNotifications).
type Notification struct {
	// ID is also the sent message's id, so that a retry after a crash is
	// recognisable as the same message.
	ID string
	// UserID is the account it is about; To is the address or number it
	// goes to, on Channel.
	UserID  string
	Channel string
	To      string
	// Event is what happened: the audit action of the change.
	Event   string
	Subject string
	Text    string
	HTML    string
	State   string
	// Attempts counts the claims made to send it.
	Attempts int
	// NextAttemptAt is when a pending notification is due: at first its
	// CreatedAt, or its DueAt; a claim moves it on by the claim's lease,
	// and a failure to when it is tried again.
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	SentAt        time.Time
	// SentIn is the digest a notification was sent in, when its user had
	// been sent their budget of messages (see notify.Budget).
	SentIn string `json:",omitempty"`
	// DueAt is when a notice scheduled ahead (that an exception ends) is
	// for, and About the exception: it is sent only if the exception still
	// ends then. Both are zero for a notice sent at once.
	DueAt time.Time `json:",omitzero"`
	About string    `json:",omitempty"`
	// ExpiresAt is when the record is deleted, sent or not.
	ExpiresAt time.Time
}

// Notifications stores the outbox.
type Notifications interface {
	// ClaimNotifications returns up to limit pending notifications due at
	// now, the longest due first, and in the same transaction counts an
	// attempt at each and moves its NextAttemptAt to now+lease: of
	// several senders, each notification goes to one, and to another only
	// once the lease has run out without an outcome recorded. Its cost
	// follows what it claims, not what is stored.
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	GetNotification(ctx context.Context, id string) (Notification, error)
	// UpdateNotification records the outcome of a send.
	UpdateNotification(ctx context.Context, id string, update func(Notification) (Notification, error)) (Notification, error)
	// ListUserNotifications returns the notifications about a user,
	// newest first, up to limit (zero: all).
	ListUserNotifications(ctx context.Context, userID string, limit int) ([]Notification, error)
}

// Settings are the organisation's settings that global admins change on
// the admin pages.
type Settings struct {
	// Notices turns the events users are told of on or off, by event; an
	// event not listed keeps its default (see notify.Events).
	Notices map[string]bool `json:",omitempty"`
}

// SettingsStore stores the one Settings record.
type SettingsStore interface {
	// GetSettings returns the zero Settings until some are stored.
	GetSettings(ctx context.Context) (Settings, error)
	UpdateSettings(ctx context.Context, update func(Settings) (Settings, error)) (Settings, error)
}

// AppPassword is a password a user creates for one legacy app that cannot
// do MFA: it works only where a protected app accepts app passwords, never
// at the sign-in pages. It is random, with 128 bits or more of entropy,
// so Hash is its SHA-256, as a client secret's is.
type AppPassword struct {
	ID     string
	UserID string
	Name   string
	Hash   []byte
	// LastUsedAt and LastUsedIP say when and from where it last worked,
	// written at most every few minutes.
	LastUsedAt time.Time `json:",omitzero"`
	LastUsedIP string    `json:",omitempty"`
	CreatedAt  time.Time
}

// MaxAppPasswords is how many app passwords a user may hold.
const MaxAppPasswords = 20

// AppPasswords stores app passwords. A user's are found by index.
type AppPasswords interface {
	// CreateAppPassword fails with ErrConflict when the user holds
	// MaxAppPasswords already.
	CreateAppPassword(ctx context.Context, p AppPassword) error
	ListUserAppPasswords(ctx context.Context, userID string) ([]AppPassword, error)
	UpdateAppPassword(ctx context.Context, id string, update func(AppPassword) (AppPassword, error)) (AppPassword, error)
	DeleteAppPassword(ctx context.Context, id string) error
	DeleteUserAppPasswords(ctx context.Context, userID string) error
}
