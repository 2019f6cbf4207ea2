// Package provider adapts zitadel/oidc's op package to Gatehouse's storage:
// op.Storage, op.AuthRequest and op.Client implementations, signing keys and
// rotation, and the claims that go into tokens (acr, amr, auth_time). It
// renders no HTML: the login journey lives in package login.
package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Lifetimes are the default token lifetimes; a client may override the
// access, ID and refresh token ones.
type Lifetimes struct {
	AccessToken  time.Duration
	IDToken      time.Duration
	RefreshToken time.Duration
	// RefreshMax is how long after the user authenticated a sign-in's
	// refresh tokens keep working, however often they are renewed; zero
	// sets no limit.
	RefreshMax  time.Duration
	Code        time.Duration
	AuthRequest time.Duration
}

// Config configures a Provider.
type Config struct {
	Issuer    string
	Lifetimes Lifetimes
	// SigningKeyRotation is how long one key signs before the next takes
	// over; the retired key stays in the JWKS for SigningKeyRetention, which
	// must outlast every token it signed.
	SigningKeyRotation  time.Duration
	SigningKeyRetention time.Duration
	SigningKeyBits      int
	// SigningAlgorithm signs ID tokens: one of SigningAlgorithms, RS256 if
	// empty.
	SigningAlgorithm jose.SignatureAlgorithm
	// LoginURL returns the login page for an auth request.
	LoginURL func(authRequestID string) string
	// Observer is told of every token request, for metrics; nil tells no
	// one.
	Observer Observer
	Now      func() time.Time
	Logger   *slog.Logger
}

// Observer is told what the token endpoint answers.
type Observer interface {
	// TokenRequest: a client asked for a grant, one of
	// GrantAuthorizationCode, GrantRefreshToken and GrantClientCredentials
	// or else "other" (what a client sends is no label), and was given
	// tokens or not.
	TokenRequest(grantType string, granted bool)
}

type noObserver struct{}

func (noObserver) TokenRequest(string, bool) {}

// Journey is what the provider asks of the sign-in journey, which package
// login implements.
type Journey interface {
	// AdmitAuthRequest is asked, with the /authorize request's context,
	// before a validated auth request is stored. It returns the binding to
	// the browser that started it, or an *oidc.Error that goes to the
	// client's redirect URI instead (a budget per client address).
	AdmitAuthRequest(ctx context.Context, clientID string) (browserHash []byte, err error)
	// Reevaluate is continuous evaluation: it is asked at every refresh of
	// u's token rt for client c, and says why the family may not go on
	// (the user's policy or the client now needs more than its sign-in
	// proved), or else what now stands in for its second factor (an MFA
	// exception, a remembered device), for the new tokens to carry.
	Reevaluate(ctx context.Context, u storage.User, rt storage.RefreshToken, c storage.Client) (w storage.Waiver, refused string, err error)
}

// Store is the part of storage.Storage the provider reads and writes.
type Store interface {
	storage.AuthRequests
	storage.Tokens
	storage.SigningKeys
	storage.Secrets
	GetClient(ctx context.Context, id string) (storage.Client, error)
	ListClients(ctx context.Context) ([]storage.Client, error)
	GetUser(ctx context.Context, id string) (storage.User, error)
	ListUserMethods(ctx context.Context, userID string) ([]storage.Method, error)
	ListUserExceptions(ctx context.Context, userID string) ([]storage.Exception, error)
	DeleteUserSessions(ctx context.Context, userID string) error
	AppendAudit(ctx context.Context, e storage.AuditEvent) error
	Health(ctx context.Context) error
}

// Provider is the OpenID provider.
type Provider struct {
	op    *op.Provider
	store *opStorage
	keys  *keyring
	mux   *http.ServeMux // Handler's routes
}

// SetJourney connects the sign-in journey, which is built after the
// provider (it answers auth requests through it). Call it before serving:
// until then no sign-in can start and no refresh is granted.
func (p *Provider) SetJourney(j Journey) { p.store.journey = j }

// New builds the provider, creating the first signing key and the token
// encryption key if the store has none.
func New(ctx context.Context, cfg Config, store Store) (*Provider, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.SigningKeyBits == 0 {
		cfg.SigningKeyBits = 2048
	}
	if cfg.SigningAlgorithm == "" {
		cfg.SigningAlgorithm = SigningAlgorithms[0]
	}
	if !slices.Contains(SigningAlgorithms, cfg.SigningAlgorithm) {
		return nil, fmt.Errorf("signing algorithm %q: want one of %v", cfg.SigningAlgorithm, SigningAlgorithms)
	}
	kr := &keyring{
		store:  store,
		rotate: cfg.SigningKeyRotation,
		retain: cfg.SigningKeyRetention,
		lead:   KeyLead,
		alg:    cfg.SigningAlgorithm,
		bits:   cfg.SigningKeyBits,
		logger: cfg.Logger,
	}
	if err := kr.Rotate(ctx, cfg.Now()); err != nil {
		return nil, err
	}
	// op seals opaque access tokens with this AES-256 key.
	key, err := storage.EnsureSecret(ctx, store, "token-encryption", 32, cfg.Now())
	if err != nil {
		return nil, err
	}
	var cryptoKey [32]byte
	copy(cryptoKey[:], key)
	s := &opStorage{store: store, cfg: cfg, keys: kr}
	// AES-256-GCM alone: op's default also tries its unauthenticated
	// AES-CFB decrypter, which "opens" a few percent of random strings (a
	// refresh token among them) as an access token id, so revocation,
	// userinfo and introspection would look up garbage instead of the token.
	// Gatehouse never wrote CFB tokens.
	opts := []op.Option{op.WithLogger(cfg.Logger), op.WithCrypto(op.NewAES256GCMCrypto(cryptoKey, "")),
		// op's CORS lets every origin read every endpoint with credentials;
		// Handler allows cross-origin reads where browsers need them.
		op.WithCORSOptions(nil)}
	issuer, err := url.Parse(cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("parse issuer: %w", err)
	}
	if issuer.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	o, err := op.NewProvider(&op.Config{
		DefaultLogoutRedirectURI: cfg.Issuer + "/logged-out",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedClaims:          supportedClaims,
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopePhone, oidc.ScopeOfflineAccess},
	}, s, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("create OpenID provider: %w", err)
	}
	p := &Provider{op: o, store: s, keys: kr}
	p.mux = p.routes()
	return p, nil
}

var supportedClaims = []string{
	"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "acr", "amr", "at_hash", "c_hash", "azp",
	"name", "preferred_username", "email", "email_verified", "phone_number", "phone_number_verified",
	ExceptionClaim,
}

// acrValuesSupported are the authentication context classes Gatehouse
// issues, weakest first, as discovery and the claims parameter name them.
func acrValuesSupported() []string {
	var out []string
	for _, a := range policy.ACRs() {
		out = append(out, string(a))
	}
	return out
}

// Handler serves the OAuth and OIDC endpoints (discovery, JWKS, authorize,
// token, userinfo, introspection, revocation, end_session).
func (p *Provider) Handler() http.Handler { return p.mux }

// Route is the pattern of Handler's route that serves r ("/oauth/token"),
// or "/" for the requests op routes itself: a label for r's metrics that,
// unlike its path, no client can make up.
func (p *Provider) Route(r *http.Request) string {
	_, pattern := p.mux.Handler(r)
	return pattern
}

func (p *Provider) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/", p.op)
	// Not offered: the device flow has no storage behind it.
	mux.HandleFunc("/device_authorization", http.NotFound)
	// The endpoints a relying party's own pages call (a single-page app
	// signing in) answer cross-origin requests; see crossOrigin.
	// Introspection is for servers, and the rest are pages the browser
	// visits.
	crossOrigin := p.crossOrigin()
	mux.Handle("/.well-known/openid-configuration", crossOrigin(getOnly(http.HandlerFunc(p.discovery))))
	mux.Handle(p.op.KeysEndpoint().Relative(), crossOrigin(p.op))
	// Gates in front of op, for requests op would answer with Go error
	// text, a 500 or the wrong error code.
	mux.HandleFunc(p.op.AuthorizationEndpoint().Relative(), p.authorize)
	mux.Handle(p.op.TokenEndpoint().Relative(), crossOrigin(noStore(postOnly(http.HandlerFunc(p.token)))))
	mux.Handle(p.op.IntrospectionEndpoint().Relative(), noStore(postOnly(http.HandlerFunc(p.introspect))))
	mux.Handle(p.op.RevocationEndpoint().Relative(), crossOrigin(noStore(postOnly(p.op))))
	mux.Handle(p.op.UserinfoEndpoint().Relative(), crossOrigin(noStore(http.HandlerFunc(p.userinfo))))
	return mux
}

// crossOrigin lets a page read the answer of a cross-origin request only
// when it comes from the origin of a redirect URI registered for some
// client, and never with credentials: these endpoints take tokens and
// secrets, never cookies. Preflights are answered here.
func (p *Provider) crossOrigin() func(http.Handler) http.Handler {
	return cors.New(cors.Options{
		AllowOriginVaryRequestFunc: p.registeredOrigin,
		AllowedMethods:             []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:             []string{"Authorization", "Content-Type", "Accept"},
		ExposedHeaders:             []string{"WWW-Authenticate"},
	}).Handler
}

// registeredOrigin reports whether origin is the origin of a redirect URI
// registered for some client. It reads the clients afresh for each
// cross-origin request: a preflight carries neither client_id nor token,
// and discovery and the JWKS have no client at all, so there is no one
// client to look up, while clients are few. A cache would have to be
// cleared on every client change, by every replica, which share nothing
// but the database.
func (p *Provider) registeredOrigin(r *http.Request, origin string) (bool, []string) {
	if origin == "" {
		return false, nil
	}
	clients, err := p.store.store.ListClients(r.Context())
	if err != nil {
		p.store.cfg.Logger.WarnContext(r.Context(), "list clients for CORS", "err", err)
		return false, nil
	}
	for _, c := range clients {
		for _, u := range c.RedirectURIs {
			if originOf(u) == origin {
				return true, nil
			}
		}
	}
	return false, nil
}

// originOf is the origin of an http or https URL as a browser writes it in
// an Origin header (RFC 6454): scheme://host[:port] in lower case, without
// the scheme's default port; "" for any other URL, such as a native app's
// custom scheme.
func originOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return ""
	}
	defaultPort := map[string]string{"https": ":443", "http": ":80"}[u.Scheme]
	if defaultPort == "" {
		return ""
	}
	return u.Scheme + "://" + strings.TrimSuffix(strings.ToLower(u.Host), defaultPort)
}

// noStore keeps every answer of an endpoint that hands out or reads tokens,
// errors included, out of caches: RFC 6749 section 5.1 requires it of the
// token endpoint, and the others answer with a token's claims. Pragma is
// for HTTP/1.0 caches. Set before next runs, so whatever next writes
// carries it.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// getOnly refuses every method but GET and HEAD (OPTIONS passes, for CORS
// preflight): discovery is a document to read.
func getOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Use GET.", http.StatusMethodNotAllowed)
		}
	})
}

// postOnly refuses every method but POST, as RFC 6749 section 3.2, RFC
// 7662 and RFC 7009 require: op would take the parameters, secrets and
// tokens included, from the query of a GET. A CORS preflight is answered
// before it gets here (see crossOrigin).
func postOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			op.WriteError(w, r, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("Use POST."), http.StatusMethodNotAllowed), nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorize refuses a query op cannot parse, which op would answer with
// the parser's error text, and a response type Gatehouse does not offer,
// which op would call unauthorized_client where RFC 6749 section 4.1.2.1
// says unsupported_response_type. That error goes to the client only at a
// redirect URI registered for it; anything else is op's to refuse.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	req, err := op.ParseAuthorizeRequest(r, p.op.Decoder())
	if err != nil {
		http.Error(w, "The authorization request is malformed.", http.StatusBadRequest)
		return
	}
	if req.ResponseType != "" && req.ResponseType != oidc.ResponseTypeCode &&
		p.failAtRedirect(w, r, req, &oidc.Error{ErrorType: "unsupported_response_type", Description: "Only response_type=code is supported."}) {
		return
	}
	acrs, e := essentialACR(r.Form.Get("claims"))
	if e != nil && p.failAtRedirect(w, r, req, e) {
		return
	}
	if len(acrs) > 0 {
		r = r.WithContext(context.WithValue(r.Context(), essentialACRKey{}, acrs))
	}
	p.op.ServeHTTP(w, r)
}

// failAtRedirect sends e to the client when the request's redirect URI is
// registered for it, and reports whether it did; otherwise op refuses the
// request with its own page.
func (p *Provider) failAtRedirect(w http.ResponseWriter, r *http.Request, req *oidc.AuthRequest, e *oidc.Error) bool {
	c, err := p.store.getClient(r.Context(), req.ClientID)
	if err != nil || op.ValidateAuthReqRedirectURI(c, req.RedirectURI, req.ResponseType) != nil {
		return false
	}
	op.AuthRequestError(w, r, req, e, p.op)
	return true
}

type essentialACRKey struct{}

// essentialACR reads the acr an RP requires with the claims parameter
// (OIDC Core 5.5.1.1), which op ignores: {"id_token":{"acr":{"essential":
// true,"values":["phr"]}}}. Only values Gatehouse issues count; an essential
// acr it cannot issue at all is unmet_authentication_requirements. Member
// names match exactly, as JSON spells them: encoding/json's struct fields
// would also take "Essential" or "VALUES", and a later one would override,
// and so weaken, what the RP asked for (found by FuzzRequirement).
func essentialACR(raw string) ([]string, *oidc.Error) {
	if raw == "" {
		return nil, nil
	}
	claims, err := members([]byte(raw))
	var idToken, acr map[string]json.RawMessage
	if err == nil {
		idToken, err = members(claims["id_token"])
	}
	if err == nil {
		acr, err = members(idToken["acr"])
	}
	var essential bool
	var values []string
	var value string
	for _, m := range []struct {
		name string
		v    any
	}{{"essential", &essential}, {"values", &values}, {"value", &value}} {
		if raw, ok := acr[m.name]; ok && err == nil {
			err = json.Unmarshal(raw, m.v)
		}
	}
	if err != nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("The claims parameter is not valid JSON.")
	}
	if !essential {
		return nil, nil
	}
	var known []string
	for _, v := range append(values, value) {
		if policy.ACR(v).Rank() >= 0 {
			known = append(known, v)
		}
	}
	if len(known) == 0 {
		return nil, &oidc.Error{ErrorType: "unmet_authentication_requirements", Description: "None of the essential acr values can be issued."}
	}
	return known, nil
}

// members is a JSON object's members by their exact names; absent (or
// null), none.
func members(raw json.RawMessage) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if len(raw) == 0 {
		return m, nil
	}
	return m, json.Unmarshal(raw, &m)
}

// token refuses the JWT bearer grant and private_key_jwt client
// authentication, which Gatehouse does not offer: op would try them and
// answer a malformed assertion with a 500. client_credentials is
// Gatehouse's, for the clients that take JWT access tokens; the other
// grants are op's. Every answer is observed.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	grant := r.FormValue("grant_type")
	sw := &StatusWriter{ResponseWriter: w}
	defer func() { p.store.cfg.Observer.TokenRequest(grantLabel(grant), sw.status == http.StatusOK) }()
	w = sw
	switch {
	case grant == string(oidc.GrantTypeBearer):
		op.RequestError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("The JWT bearer grant is not supported."), nil)
	case r.FormValue("client_assertion") != "" || r.FormValue("client_assertion_type") != "":
		op.RequestError(w, r, oidc.ErrInvalidClient().WithDescription("Client assertions are not supported."), nil)
	case grant == GrantClientCredentials:
		p.clientCredentials(w, r)
	default:
		p.op.ServeHTTP(w, r)
	}
}

// grantLabel is the grant type for metrics: one Gatehouse grants, else
// "other".
func grantLabel(grantType string) string {
	switch grantType {
	case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		return grantType
	}
	return "other"
}

// StatusWriter remembers the status of an answer, for logs and metrics;
// none written is 200.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

func (s *StatusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *StatusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Status is the status written so far; 0 for none yet.
func (s *StatusWriter) Status() int { return s.status }

// introspect answers a client that fails to authenticate as RFC 7662
// section 2.3 says, with RFC 6749's JSON invalid_client; op would send its
// error's Go text as plain text. op reads client credentials for
// introspection only from the Basic header, so a client that sends them in
// the form (client_secret_post, openid-client's default, as the token
// endpoint accepts) has them moved there first; op checks them as ever.
// A JWT access token is Gatehouse's to answer (see introspectJWT); op
// answers for opaque ones.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("The request body is malformed."), nil)
		return
	}
	if _, _, basic := r.BasicAuth(); !basic && r.PostForm.Has("client_secret") {
		r.SetBasicAuth(url.QueryEscape(r.PostForm.Get("client_id")), url.QueryEscape(r.PostForm.Get("client_secret")))
	}
	clientID, authenticated, err := op.ClientIDFromRequest(r, p.op)
	token := r.Form.Get("token") // where op reads it from
	var e *oidc.Error
	switch {
	case err == nil && authenticated && isJWTAccessToken(token):
		httphelper.MarshalJSON(w, p.introspectJWT(r.Context(), token, clientID))
	case err == nil && authenticated:
		p.op.ServeHTTP(w, r)
	case errors.As(err, &e) && (e.ErrorType == oidc.InvalidRequest || e.ErrorType == oidc.ServerError):
		op.RequestError(w, r, e, nil)
	default:
		op.RequestError(w, r, errInvalidClient(), nil)
	}
}

// userinfo takes the access token only where RFC 6750 allows it: the
// Authorization header (section 2.1) or the form body of a POST (2.2). op
// also takes it from the query, which section 2.3 says not to do (URLs end
// up in logs and browser history), and from the body of any method. A
// token in the query or in the body of a GET, or sent two ways at once, is
// invalid_request, which section 3.1 answers with 400 and the error in
// WWW-Authenticate.
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		op.WriteError(w, r, op.NewStatusError(oidc.ErrInvalidRequest().WithDescription("Use GET or POST."), http.StatusMethodNotAllowed), nil)
		return
	}
	switch {
	case r.URL.Query().Has("access_token"):
		bearerInvalidRequest(w, r, "The access token must not be sent in the URL.")
	case r.Method == http.MethodGet && r.ContentLength != 0:
		bearerInvalidRequest(w, r, "A request with a body must use POST.")
	case r.Method == http.MethodPost && r.Header.Get("Authorization") != "" && (r.ParseForm() != nil || r.PostForm.Has("access_token")):
		bearerInvalidRequest(w, r, "Send the access token in the Authorization header or the body, not both.")
	default:
		// op answers a missing or bad token 401 with no challenge; RFC 6750
		// section 3 asks for one: bare when no token came, invalid_token
		// when one did.
		challenge := "Bearer"
		if r.Header.Get("Authorization") != "" || r.Method == http.MethodPost && r.PostFormValue("access_token") != "" {
			challenge = `Bearer error="invalid_token", error_description="The access token is invalid or has expired."`
		}
		p.op.ServeHTTP(bearerChallenge{w, challenge}, r)
	}
}

// bearerChallenge sends its challenge in WWW-Authenticate with a 401.
type bearerChallenge struct {
	http.ResponseWriter
	challenge string
}

func (c bearerChallenge) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", c.challenge)
	}
	c.ResponseWriter.WriteHeader(code)
}

// bearerInvalidRequest answers invalid_request as RFC 6750 section 3
// words it, in WWW-Authenticate, and as RFC 6749 section 5.2 does, in the
// body. description must not contain a double quote.
func bearerInvalidRequest(w http.ResponseWriter, r *http.Request, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer error="invalid_request", error_description="`+description+`"`)
	op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("%s", description), nil)
}

// discovery serves op's document, trimmed to what Gatehouse really supports
// and with the acr values it issues.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	cfg := op.CreateDiscoveryConfig(op.ContextWithIssuer(r.Context(), p.op.IssuerFromRequest(r)), p.op, p.store)
	cfg.DeviceAuthorizationEndpoint = ""
	cfg.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	cfg.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
	cfg.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	cfg.ClaimsParameterSupported = true // for an essential acr; other claims follow the scopes
	cfg.ResponseModesSupported = []string{"query", "form_post"}
	// See introspect: the secret is taken from the form too.
	cfg.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	// op lists RS256 for client assertions at introspection and revocation
	// whatever its configuration; they are refused there as everywhere.
	cfg.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	cfg.RevocationEndpointAuthSigningAlgValuesSupported = nil
	doc := struct {
		*oidc.DiscoveryConfiguration
		ACRValuesSupported []string `json:"acr_values_supported"`
	}{cfg, acrValuesSupported()}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.NewEncoder(w).Encode(doc)
}

// OP returns the underlying op provider, for op helpers that need an
// Authorizer (op.AuthResponse, op.AuthRequestError, op.ValidateEndSessionRequest).
func (p *Provider) OP() *op.Provider { return p.op }

// KeyLead is how long a new signing key is published before it signs;
// replicas RefreshKeys well within it (every minute), and relying parties
// that cache the JWKS for less than it see the key before any token it
// signed.
const KeyLead = 10 * time.Minute

// RotateKeys rotates the signing keys if the active one is due.
func (p *Provider) RotateKeys(ctx context.Context) error {
	return p.keys.Rotate(ctx, p.store.cfg.Now())
}

// RefreshKeys reads the signing keys again: another replica may have
// rotated them, and a successor's time to sign may have come.
func (p *Provider) RefreshKeys(ctx context.Context) error {
	return p.keys.Refresh(ctx, p.store.cfg.Now())
}

// Finish answers a finished auth request: it redirects (or form-posts) the
// code to the client. The caller has checked the journey is done; a
// request answered already (by another tab, just now) gets access_denied.
func (p *Provider) Finish(w http.ResponseWriter, r *http.Request, a storage.AuthRequest) {
	op.AuthResponse(&authRequest{AuthRequest: a, finished: true}, p.op, w, r)
}

// Fail answers an auth request with an OAuth error at its redirect URI.
func (p *Provider) Fail(w http.ResponseWriter, r *http.Request, a storage.AuthRequest, err *oidc.Error) {
	op.AuthRequestError(w, r, &authRequest{AuthRequest: a}, err, p.op)
}

// Client returns a client as op sees it, for logout validation.
func (p *Provider) Client(ctx context.Context, id string) (op.Client, error) {
	return p.store.GetClientByClientID(ctx, id)
}

// errInvalidClient is an unknown client or a wrong secret, alike. An
// *oidc.Error, so op answers invalid_client and not a server_error carrying
// the text; a new one each time, since its With methods mutate it.
func errInvalidClient() error {
	return oidc.ErrInvalidClient().WithDescription("Unknown client or wrong credentials.")
}
