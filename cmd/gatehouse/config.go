package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/factors/password"
	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/login/clientip"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Config is every setting. Each leaf has one YAML key; the same setting is
// GATEHOUSE_<PATH> in the environment (GATEHOUSE_<PATH>_FILE reads the
// value from a file, for secrets) and --<path> on the command line, with
// dots between sections and dashes for underscores. Precedence: flags >
// environment > YAML file > defaults.
type Config struct {
	Issuer  string `yaml:"issuer" help:"public URL of this provider; https unless the host is loopback"`
	Listen  string `yaml:"listen" help:"address to listen on (host:port)"`
	DataDir string `yaml:"data_dir" help:"directory for the database file (and mfa.key, the control socket)"`
	Storage struct {
		Driver   string `yaml:"driver" help:"bbolt (one file in data_dir, nothing to run) or postgres (for several replicas on one database)"`
		DSN      string `yaml:"dsn" help:"PostgreSQL connection string, such as postgres://gatehouse@db/gatehouse (use GATEHOUSE_STORAGE_DSN_FILE when it holds a password)"`
		MaxConns int    `yaml:"max_conns" help:"PostgreSQL connection pool size (0: the larger of 4 and the number of CPUs)"`
	} `yaml:"storage"`
	TLS struct {
		CertFile string `yaml:"cert_file" help:"PEM certificate to serve https directly (else run behind a TLS proxy)"`
		KeyFile  string `yaml:"key_file" help:"PEM private key for cert_file"`
	} `yaml:"tls"`
	HSTS           string `yaml:"hsts" help:"Strict-Transport-Security: on (max-age one year), off, or a max-age such as 720h (default: on with tls.cert_file and an https issuer, else off; behind a TLS proxy, set it to have Gatehouse send it)"`
	TrustedProxies list   `yaml:"trusted_proxies" help:"reverse proxies (CIDR ranges or addresses, comma-separated) whose X-Forwarded-For gives the client's address: the rightmost address in it that is not one of them"`
	Organisation   struct {
		Name     string `yaml:"name" help:"the organisation's name, as users know it: in code messages (\"Your <name> code is ...\") and on the sign-in pages"`
		Helpdesk string `yaml:"helpdesk" help:"how users reach their helpdesk (a phone number, an address), shown where a user cannot go on alone, such as when none of their methods can be used"`
	} `yaml:"organisation"`
	Methods struct {
		Order list `yaml:"order" help:"method types (totp, webauthn, sms, voice, email; comma-separated) in the order they are offered to add, the first a user's org unit allows marked Recommended; types left out follow in the default order (default: totp, webauthn, sms, voice, email)"`
	} `yaml:"methods"`
	Log struct {
		Level  string `yaml:"level" help:"debug, info, warn or error"`
		Format string `yaml:"format" help:"json, text, or auto (json unless stderr is a terminal)"`
	} `yaml:"log"`
	Password struct {
		MemoryKiB     uint32 `yaml:"memory_kib" help:"argon2id memory in KiB"`
		Iterations    uint32 `yaml:"iterations" help:"argon2id passes"`
		Parallelism   uint8  `yaml:"parallelism" help:"argon2id lanes"`
		MaxConcurrent int    `yaml:"max_concurrent" help:"password hashes computed at once"`
		// OneTimeLifetime bounds how long a one-time password, handed over
		// on paper or by phone, can wait unused for whoever finds it.
		OneTimeLifetime time.Duration `yaml:"one_time_lifetime" help:"how long a one-time password (from an admin, the CLI or the first start) works before its user needs a new one"`
	} `yaml:"password"`
	Tokens struct {
		AccessTokenLifetime  time.Duration `yaml:"access_token_lifetime" help:"default access token lifetime"`
		IDTokenLifetime      time.Duration `yaml:"id_token_lifetime" help:"default ID token lifetime"`
		RefreshTokenLifetime time.Duration `yaml:"refresh_token_lifetime" help:"default refresh token lifetime (renewed on each use)"`
		RefreshTokenMaxAge   time.Duration `yaml:"refresh_token_max_age" help:"how long after the user signed in refresh tokens stop, however often renewed"`
		CodeLifetime         time.Duration `yaml:"code_lifetime" help:"authorization code lifetime"`
		AuthRequestLifetime  time.Duration `yaml:"auth_request_lifetime" help:"time allowed to finish signing in"`
	} `yaml:"tokens"`
	Keys struct {
		SigningKeyRotation  time.Duration `yaml:"signing_key_rotation" help:"how long one signing key signs"`
		SigningKeyRetention time.Duration `yaml:"signing_key_retention" help:"how long a retired key stays in the JWKS; at least the longest token lifetime"`
		SigningAlgorithm    string        `yaml:"signing_algorithm" help:"RS256, ES256 or EdDSA: what ID tokens are signed with; a change takes effect at the next start, the old key still published (choose ES256 or EdDSA only when every app verifies it)"`
		CookieKeyRotation   time.Duration `yaml:"cookie_key_rotation" help:"how long one cookie key seals new cookies"`
	} `yaml:"keys"`
	Session struct {
		Lifetime time.Duration `yaml:"lifetime" help:"how long a browser session lasts"`
	} `yaml:"session"`
	Limits struct {
		AuthRequestsPerMinute int `yaml:"auth_requests_per_minute" help:"sign-ins one client address (an IPv6 /64) may start, and not finish, in a minute; more are refused until the minute is out"`
	} `yaml:"limits"`
	MFA struct {
		KeyFile string `yaml:"key_file" help:"AES-256 key sealing second-factor secrets, created on first start (default <data_dir>/mfa.key)"`
	} `yaml:"mfa"`
	WebAuthn struct {
		RPID    string `yaml:"rp_id" help:"domain security keys and passkeys are bound to: the issuer's host or a parent domain of it (default: the issuer's host)"`
		Origins string `yaml:"origins" help:"comma-separated origins (scheme://host[:port]) security keys and passkeys may be used from (default: the issuer's origin)"`
	} `yaml:"webauthn"`
	Demo struct {
		Enabled bool   `yaml:"enabled" help:"serve the demo relying party alongside the provider"`
		Listen  string `yaml:"listen" help:"address the demo relying party listens on"`
		URL     string `yaml:"url" help:"public URL of the demo relying party (its redirect URI is this + /callback)"`
	} `yaml:"demo"`
	Bootstrap struct {
		AdminUsername string `yaml:"admin_username" help:"username of the global admin created on first start"`
	} `yaml:"bootstrap"`
	SMTP struct {
		Host     string `yaml:"host" help:"SMTP server for email codes (empty: the dev outbox for a loopback issuer, else no email codes)"`
		Port     int    `yaml:"port" help:"SMTP server port"`
		TLS      string `yaml:"tls" help:"starttls, tls (implicit TLS, usually port 465) or none"`
		Username string `yaml:"username" help:"SMTP user for PLAIN auth (empty: no auth)"`
		Password string `yaml:"password" help:"SMTP password (use GATEHOUSE_SMTP_PASSWORD_FILE)"`
		From     string `yaml:"from" help:"From address of code emails; required with smtp.host"`
	} `yaml:"smtp"`
	SMS struct {
		Gateway       string `yaml:"gateway" help:"how texts and voice calls go out: webhook, outbox (loopback issuer only), or none (default: outbox for a loopback issuer, else none)"`
		WebhookURL    string `yaml:"webhook_url" help:"URL the webhook gateway POSTs signed JSON to"`
		WebhookSecret string `yaml:"webhook_secret" help:"HMAC-SHA256 key signing webhook requests (use GATEHOUSE_SMS_WEBHOOK_SECRET_FILE)"`
	} `yaml:"sms"`
	Phone struct {
		AllowedRegions string `yaml:"allowed_regions" help:"comma-separated ISO 3166 regions whose phone numbers are accepted"`
	} `yaml:"phone"`
	Metrics struct {
		Listen string `yaml:"listen" help:"address (host:port) serving Prometheus metrics at /metrics, apart from the public listener; unauthenticated, so keep it on loopback (127.0.0.1:9464) or a private network (default: off)"`
	} `yaml:"metrics"`
}

// defaultConfig is the embedded default: a provider on localhost:8080 with
// the demo relying party on localhost:9090.
func defaultConfig() Config {
	var c Config
	c.Issuer = "http://localhost:8080"
	c.DataDir = "./gatehouse-data"
	c.Storage.Driver = driverBbolt
	c.Organisation.Name = "Gatehouse"
	c.Log.Level = "info"
	c.Log.Format = "auto"
	p := password.OWASP()
	c.Password.MemoryKiB, c.Password.Iterations, c.Password.Parallelism = p.MemoryKiB, p.Iterations, p.Parallelism
	c.Password.MaxConcurrent = runtime.GOMAXPROCS(0)
	c.Password.OneTimeLifetime = 7 * 24 * time.Hour
	c.Tokens.AccessTokenLifetime = time.Hour
	c.Tokens.IDTokenLifetime = time.Hour
	c.Tokens.RefreshTokenLifetime = 30 * 24 * time.Hour
	c.Tokens.RefreshTokenMaxAge = 90 * 24 * time.Hour
	c.Tokens.CodeLifetime = time.Minute
	c.Tokens.AuthRequestLifetime = 30 * time.Minute
	c.Keys.SigningKeyRotation = 30 * 24 * time.Hour
	c.Keys.SigningKeyRetention = 48 * time.Hour
	c.Keys.SigningAlgorithm = string(provider.SigningAlgorithms[0])
	c.Keys.CookieKeyRotation = 30 * 24 * time.Hour
	c.Session.Lifetime = 12 * time.Hour
	c.Limits.AuthRequestsPerMinute = login.DefaultStartRule.Limit
	c.Demo.Enabled = true
	c.Demo.Listen = "localhost:9090"
	c.Demo.URL = "http://localhost:9090"
	c.Bootstrap.AdminUsername = "admin"
	c.SMTP.Port = 587
	c.SMTP.TLS = "starttls"
	c.Phone.AllowedRegions = "GB"
	return c
}

// webAuthnRPID is the WebAuthn relying party ID: the setting, else the
// issuer's host. A credential is bound to it for good, so changing it
// later strands every registered security key and passkey.
func (c Config) webAuthnRPID() string {
	if c.WebAuthn.RPID != "" {
		return c.WebAuthn.RPID
	}
	u, err := url.Parse(c.Issuer)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// webAuthnOrigins are the origins WebAuthn ceremonies may come from: the
// setting, else the issuer's origin.
func (c Config) webAuthnOrigins() []string {
	if c.WebAuthn.Origins == "" {
		u, err := url.Parse(c.Issuer)
		if err != nil {
			return nil
		}
		return []string{u.Scheme + "://" + u.Host}
	}
	return splitList(c.WebAuthn.Origins)
}

// serviceWords are this service's own words, which a new password must
// not be built on: its name and the issuer's host (the organisation's
// domain, usually).
func (c Config) serviceWords() []string {
	words := []string{"Gatehouse"}
	if u, err := url.Parse(c.Issuer); err == nil {
		words = append(words, u.Hostname())
	}
	return words
}

// mfaKeyFile is the sealing key's path: kept beside the database, not in it.
func (c Config) mfaKeyFile() string {
	if c.MFA.KeyFile != "" {
		return c.MFA.KeyFile
	}
	return filepath.Join(c.DataDir, "mfa.key")
}

// hsts is the max-age of the Strict-Transport-Security header (RFC 6797),
// and whether to send it at all: the setting, else a year when Gatehouse
// serves TLS itself for an https issuer. Behind a TLS proxy Gatehouse
// cannot see that the browser's connection is https, so it sends the
// header only when told to (or the proxy sends it).
func (c Config) hsts() (maxAge time.Duration, on bool) {
	switch c.HSTS {
	case "":
		if c.TLS.CertFile != "" && c.httpsIssuer() {
			return hstsYear, true
		}
		return 0, false
	case "off":
		return 0, false
	case "on":
		return hstsYear, true
	}
	d, err := time.ParseDuration(c.HSTS)
	return d, err == nil && d >= 0
}

// hstsYear is the default max-age: long enough that browsers remember it
// between visits.
const hstsYear = 365 * 24 * time.Hour

func (c Config) httpsIssuer() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && u.Scheme == "https"
}

// listenAddr is the listen address. By default it is the issuer's port, on
// loopback only when the issuer is a loopback URL (a developer's machine),
// else on all interfaces.
func (c Config) listenAddr() string {
	if c.Listen != "" {
		return c.Listen
	}
	u, err := url.Parse(c.Issuer)
	if err != nil {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	if isLoopback(u.Hostname()) {
		return net.JoinHostPort(u.Hostname(), port)
	}
	return ":" + port
}

// Validate reports every problem at once, each naming its setting.
func (c Config) Validate() error {
	var errs []error
	bad := func(setting, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", setting, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.Issuer); err != nil || !u.IsAbs() || u.Host == "" {
		bad("issuer", "%q is not an absolute URL", c.Issuer)
	} else {
		switch {
		case u.Scheme != "https" && u.Scheme != "http":
			bad("issuer", "scheme must be https")
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			bad("issuer", "must use https unless the host is localhost or a loopback address")
		case u.RawQuery != "" || u.Fragment != "":
			bad("issuer", "must not have a query or fragment")
		case strings.HasSuffix(u.Path, "/"):
			bad("issuer", "must not end with /")
		case u.Path != "":
			bad("issuer", "must not have a path: Gatehouse serves at the root of its host")
		}
	}
	if _, _, err := net.SplitHostPort(c.listenAddr()); err != nil {
		bad("listen", "%q is not host:port", c.Listen)
	}
	if c.DataDir == "" {
		bad("data_dir", "must be set")
	}
	switch c.Storage.Driver {
	case driverBbolt:
	case driverPostgres:
		if c.Storage.DSN == "" {
			bad("storage.dsn", "must be set when storage.driver is postgres")
		}
	default:
		bad("storage.driver", "%q is not bbolt or postgres", c.Storage.Driver)
	}
	if c.Storage.MaxConns < 0 || c.Storage.MaxConns > 1000 {
		bad("storage.max_conns", "%d is not from 0 to 1000", c.Storage.MaxConns)
	}
	for _, p := range c.TrustedProxies {
		if _, err := clientip.ParsePrefix(p); err != nil {
			bad("trusted_proxies", "%v", err)
		}
	}
	if _, err := login.OfferOrder(c.Methods.Order); err != nil {
		bad("methods.order", "%v", err)
	}
	if !slices.Contains(provider.SigningAlgorithms, jose.SignatureAlgorithm(c.Keys.SigningAlgorithm)) {
		bad("keys.signing_algorithm", "%q is not one of %v", c.Keys.SigningAlgorithm, provider.SigningAlgorithms)
	}
	if c.Limits.AuthRequestsPerMinute < 1 {
		bad("limits.auth_requests_per_minute", "must be at least 1")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file must be set together")
	}
	switch d, err := time.ParseDuration(c.HSTS); {
	case c.HSTS == "" || c.HSTS == "on" || c.HSTS == "off":
	case err != nil || d < 0:
		bad("hsts", "%q is not on, off or a max-age such as 8760h", c.HSTS)
	}
	if _, on := c.hsts(); on && !c.httpsIssuer() {
		bad("hsts", "the issuer is http: Strict-Transport-Security is for https only, and is never sent over http")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		bad("log.format", "%q is not auto, json or text", c.Log.Format)
	}
	if c.Password.MemoryKiB < 8*1024 {
		bad("password.memory_kib", "must be at least 8192 (OWASP asks for 19456)")
	}
	if c.Password.Iterations < 1 {
		bad("password.iterations", "must be at least 1")
	}
	if c.Password.Parallelism < 1 {
		bad("password.parallelism", "must be at least 1")
	}
	if c.Password.MaxConcurrent < 1 {
		bad("password.max_concurrent", "must be at least 1")
	}
	for name, d := range map[string]time.Duration{
		"tokens.access_token_lifetime":  c.Tokens.AccessTokenLifetime,
		"tokens.id_token_lifetime":      c.Tokens.IDTokenLifetime,
		"tokens.refresh_token_lifetime": c.Tokens.RefreshTokenLifetime,
		"tokens.refresh_token_max_age":  c.Tokens.RefreshTokenMaxAge,
		"tokens.code_lifetime":          c.Tokens.CodeLifetime,
		"tokens.auth_request_lifetime":  c.Tokens.AuthRequestLifetime,
		"keys.signing_key_rotation":     c.Keys.SigningKeyRotation,
		"keys.signing_key_retention":    c.Keys.SigningKeyRetention,
		"keys.cookie_key_rotation":      c.Keys.CookieKeyRotation,
		"session.lifetime":              c.Session.Lifetime,
		"password.one_time_lifetime":    c.Password.OneTimeLifetime,
	} {
		if d <= 0 {
			bad(name, "must be positive")
		}
	}
	if c.Tokens.CodeLifetime > 10*time.Minute {
		bad("tokens.code_lifetime", "must be at most 10m (RFC 6749 section 4.1.2)")
	}
	if longest := max(c.Tokens.AccessTokenLifetime, c.Tokens.IDTokenLifetime); c.Keys.SigningKeyRetention < longest {
		bad("keys.signing_key_retention", "%s is shorter than the longest token lifetime (%s): tokens would outlive their key", c.Keys.SigningKeyRetention, longest)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%q is not host:port", c.Metrics.Listen)
		}
	}
	if c.Demo.Enabled {
		if _, _, err := net.SplitHostPort(c.Demo.Listen); err != nil {
			bad("demo.listen", "%q is not host:port", c.Demo.Listen)
		}
		if u, err := url.Parse(c.Demo.URL); err != nil || !u.IsAbs() || u.Host == "" || u.Path != "" {
			bad("demo.url", "%q is not an absolute URL without a path", c.Demo.URL)
		}
	}
	if _, err := storage.NormalizeUsername(c.Bootstrap.AdminUsername); err != nil {
		bad("bootstrap.admin_username", "%q is not a valid username", c.Bootstrap.AdminUsername)
	}
	c.validateDelivery(bad)
	c.validateWebAuthn(bad)
	return errors.Join(errs...)
}

// validateWebAuthn checks the WebAuthn relying party as browsers will: the
// RP ID is a domain, and every origin is that domain or below it. An RP ID
// derived from an issuer whose host is an IP address is no error: security
// keys and passkeys are then off, and start-up says so.
func (c Config) validateWebAuthn(bad func(setting, format string, args ...any)) {
	rpID := c.webAuthnRPID()
	switch {
	case c.WebAuthn.RPID == "":
	case net.ParseIP(rpID) != nil:
		bad("webauthn.rp_id", "%q is an IP address: WebAuthn needs a domain name", rpID)
		return
	case strings.ContainsAny(rpID, ":/ ") || rpID != strings.ToLower(rpID) || strings.Trim(rpID, ".") != rpID:
		bad("webauthn.rp_id", "%q is not a lower-case domain name without scheme or port, such as example.org", rpID)
		return
	}
	origins := c.webAuthnOrigins()
	if c.WebAuthn.Origins != "" && len(origins) == 0 {
		bad("webauthn.origins", "lists no origin")
	}
	for _, o := range origins {
		u, err := url.Parse(o)
		switch {
		case err != nil || !u.IsAbs() || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			bad("webauthn.origins", "%q is not an origin such as https://login.example.org", o)
		case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
			bad("webauthn.origins", "%q must use https unless the host is localhost or a loopback address", o)
		case net.ParseIP(rpID) == nil && u.Hostname() != rpID && !strings.HasSuffix(u.Hostname(), "."+rpID):
			bad("webauthn.origins", "%q is not %s or a subdomain of it (webauthn.rp_id): browsers would refuse it", o, rpID)
		}
	}
}

func isLoopback(host string) bool {
	// localhost and every name under it are loopback (RFC 6761), as
	// browsers treat them.
	if host = strings.ToLower(strings.TrimSuffix(host, ".")); host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// setting is one leaf of Config.
type setting struct {
	yamlPath string // tokens.code_lifetime
	help     string
	value    reflect.Value
}

func (s setting) envName() string {
	return "GATEHOUSE_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(s.yamlPath))
}

func (s setting) flagName() string { return strings.ReplaceAll(s.yamlPath, "_", "-") }

func settings(c *Config) []setting {
	var out []setting
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name := prefix + strings.Split(f.Tag.Get("yaml"), ",")[0]
			if f.Type.Kind() == reflect.Struct {
				walk(v.Field(i), name+".")
				continue
			}
			out = append(out, setting{yamlPath: name, help: f.Tag.Get("help"), value: v.Field(i)})
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// list is a setting of several values: a YAML sequence, or one string of
// comma-separated values, as the environment and flags give it.
type list []string

func (l *list) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = splitList(n.Value)
		return nil
	}
	var values []string
	if err := n.Decode(&values); err != nil {
		return err
	}
	*l = values
	return nil
}

func splitList(raw string) list {
	var out list
	for v := range strings.SplitSeq(raw, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	listType     = reflect.TypeFor[list]()
)

func (s setting) set(raw string) error {
	v := s.value
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 90s, 15m or 12h", raw)
		}
		v.SetInt(int64(d))
	case v.Type() == listType:
		v.Set(reflect.ValueOf(splitList(raw)))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("%q is not true or false", raw)
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number", raw)
		}
		v.SetInt(n)
	case v.CanUint():
		n, err := strconv.ParseUint(raw, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%q is not a whole number in range", raw)
		}
		v.SetUint(n)
	default:
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

// loadConfig builds the configuration from defaults, the YAML file (from
// --config or GATEHOUSE_CONFIG), the environment and the flags in fs, which
// it registers and parses from args. It reports every problem at once.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, error) {
	c := defaultConfig()
	all := settings(&c)
	flagVals := map[string]string{}
	for _, s := range all {
		name := s.flagName()
		record := func(v string) error {
			flagVals[name] = v
			return nil
		}
		if s.value.Kind() == reflect.Bool {
			fs.BoolFunc(name, s.help, record) // --demo.enabled alone means true
		} else {
			fs.Func(name, s.help, record)
		}
	}
	configPath := fs.String("config", getenv("GATEHOUSE_CONFIG"), "YAML configuration file (also GATEHOUSE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}

	var errs []error
	if *configPath != "" {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		if line := nullKeyLine(data); line > 0 {
			errs = append(errs, fmt.Errorf("config file %s: line %d: a key is missing its name", *configPath, line))
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// An empty file is io.EOF to yaml.v3: nothing to set.
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			errs = append(errs, fmt.Errorf("config file %s: %w", *configPath, err))
		}
		// Settings are read from the first document only, so a later one
		// (after "---") would be ignored unchecked, typos and all (found
		// by FuzzLoadConfig). An empty one, such as a trailing "---", is
		// harmless.
		for {
			var more yaml.Node
			err := dec.Decode(&more)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil || len(more.Content) > 0 && more.Content[0].Tag != "!!null" {
				errs = append(errs, fmt.Errorf("config file %s: holds more than one YAML document: put every setting in one", *configPath))
				break
			}
		}
	}
	for _, s := range all {
		raw, ok := lookupEnv(getenv, s.envName())
		if file := getenv(s.envName() + "_FILE"); file != "" {
			data, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", s.envName(), err))
				continue
			}
			raw, ok = strings.TrimRight(string(data), "\r\n"), true
		}
		if ok {
			if err := s.set(raw); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.envName(), err))
			}
		}
	}
	for _, s := range all {
		if raw, ok := flagVals[s.flagName()]; ok {
			if err := s.set(raw); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %w", s.flagName(), err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// nullKeyLine is the line of the first empty (null) mapping key in a YAML
// file's first document, or 0. yaml.v3 skips such a key and its value even
// with KnownFields, so "?" or ": value" would otherwise pass unnoticed
// (found by FuzzLoadConfig). A file it cannot parse is the decoder's to
// report.
func nullKeyLine(data []byte) int {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return 0
	}
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		for i, c := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 && c.Kind == yaml.ScalarNode && c.Tag == "!!null" {
				return c.Line
			}
			if line := walk(c); line > 0 {
				return line
			}
		}
		return 0
	}
	return walk(&doc)
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}
