package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/admin"
	"github.com/gatehouse-id/gatehouse/factors"
	"github.com/gatehouse-id/gatehouse/login"
	"github.com/gatehouse-id/gatehouse/login/policy"
	"github.com/gatehouse-id/gatehouse/provider"
	"github.com/gatehouse-id/gatehouse/storage"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// withStore loads the configuration (with extra flags registered by
// define), opens the store and runs fn.
func withStore(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string, name string,
	define func(fs *flag.FlagSet), fn func(cfg Config, store storage.Storage) error) error {
	fs := flagSet(name, stderr)
	define(fs)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return invalidConfig(err)
	}
	store, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(cfg, store)
}

func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New("usage: gatehouse user add|list|set-password [flags]")
	}
	var in admin.NewUser
	var ou, role, passwordFile string
	userFlags := func(fs *flag.FlagSet) {
		fs.StringVar(&in.Username, "username", "", "username (required)")
	}
	addFlags := func(fs *flag.FlagSet) {
		userFlags(fs)
		fs.StringVar(&in.Email, "email", "", "email address")
		fs.StringVar(&in.DisplayName, "name", "", "display name (required)")
		fs.StringVar(&ou, "org-unit", "", "org unit id or name (default: the root)")
		fs.StringVar(&role, "role", "", "global_admin, or org_admin / helpdesk over the user's org unit")
		fs.StringVar(&passwordFile, "password-file", "", "read the first password from this file (- for stdin) instead of generating one; it must still be changed at first sign-in")
	}
	switch args[0] {
	case "add":
		return withStore(ctx, args[1:], stderr, getenv, "user add", addFlags, func(cfg Config, store storage.Storage) error {
			if passwordFile != "" {
				pw, err := readPassword(passwordFile, stdin)
				if err != nil {
					return fmt.Errorf("--password-file: %w", err)
				}
				in.Password = pw
			}
			return addUser(ctx, cfg, store, stdout, stderr, in, ou, role, time.Now)
		})
	case "list":
		return withStore(ctx, args[1:], stderr, getenv, "user list", func(*flag.FlagSet) {}, func(_ Config, store storage.Storage) error {
			return listUsers(ctx, store, stdout)
		})
	case "set-password":
		return withStore(ctx, args[1:], stderr, getenv, "user set-password", userFlags, func(cfg Config, store storage.Storage) error {
			return setPassword(ctx, cfg, store, stdout, stderr, in.Username, time.Now)
		})
	}
	return fmt.Errorf("unknown user command %q (want add, list or set-password)", args[0])
}

// readPassword reads a password from the file at path, or from stdin for
// "-": its first line, without the line ending.
func readPassword(path string, stdin io.Reader) (string, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password in it")
	}
	return pw, nil
}

// cli is the command line's admin Service, acting as admin.System("cli");
// what it logs (an audit event it could not record) goes to stderr.
func cli(cfg Config, store storage.Storage, stderr io.Writer, now func() time.Time) (*admin.Service, admin.Actor) {
	return admin.NewService(store, newHasher(cfg), admin.Config{PhoneRegions: cfg.phoneRegions(), OneTimeLifetime: cfg.Password.OneTimeLifetime,
		ServiceWords: cfg.serviceWords(), Now: now, Logger: slog.New(slog.NewTextHandler(stderr, nil))}), admin.System("cli")
}

// userFieldFlags and appFieldFlags name the flag behind each field the
// admin.Service checks.
var (
	userFieldFlags = map[string]string{"username": "--username", "display_name": "--name", "email": "--email", "org_unit": "--org-unit",
		"password": "--password-file", "role": "--role", "role_unit": "--org-unit"}
	appFieldFlags = map[string]string{"name": "--name", "host": "--host", "path_prefix": "--path-prefix", "min_acr": "--min-acr",
		"org_units": "--org-unit"}
)

// cliError words an admin.Service refusal for the command line: each
// refused field as --flag: message, flags naming each field's flag.
func cliError(err error, flags map[string]string) error {
	var msgs []string
	for _, e := range inputErrors(err) {
		msgs = append(msgs, cmp.Or(flags[e.Field], e.Field)+": "+e.Msg)
	}
	if len(msgs) == 0 {
		return err
	}
	return errors.New(strings.Join(msgs, "; "))
}

// inputErrors are the refused fields in err, which may join several.
func inputErrors(err error) []*factors.InputError {
	var out []*factors.InputError
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			out = append(out, inputErrors(e)...)
		}
		return out
	}
	var ie *factors.InputError
	if errors.As(err, &ie) {
		out = append(out, ie)
	}
	return out
}

func findOrgUnit(ctx context.Context, store storage.OrgUnits, ref string) (storage.OrgUnit, error) {
	ous, err := store.ListOrgUnits(ctx)
	if err != nil {
		return storage.OrgUnit{}, fmt.Errorf("list org units: %w", err)
	}
	for _, o := range ous {
		if (ref == "" && o.ParentID == "") || (ref != "" && (o.ID == ref || strings.EqualFold(o.Name, ref))) {
			return o, nil
		}
	}
	return storage.OrgUnit{}, fmt.Errorf("no org unit %q", ref)
}

// addUser creates a user through the admin Service, as a global admin on
// the admin pages would, and grants role. Before the first start it makes
// the root org unit the user goes in.
func addUser(ctx context.Context, cfg Config, store storage.Storage, stdout, stderr io.Writer, in admin.NewUser, ouRef, role string, now func() time.Time) error {
	switch role {
	case "", storage.RoleGlobalAdmin, storage.RoleOrgAdmin, storage.RoleHelpdesk:
	default:
		return fmt.Errorf("--role: %q is not global_admin, org_admin or helpdesk", role)
	}
	var ou storage.OrgUnit
	var created bool
	var err error
	if ouRef == "" {
		ou, created, err = ensureRoot(ctx, store, now())
	} else {
		ou, err = findOrgUnit(ctx, store, ouRef)
	}
	if err != nil {
		return err
	}
	svc, actor := cli(cfg, store, stderr, now)
	in.OrgUnitID = ou.ID
	u, otp, err := svc.CreateUser(ctx, actor, in)
	if err != nil {
		return cliError(err, userFieldFlags)
	}
	if role != "" {
		if err := svc.GrantRole(ctx, actor, u.ID, storage.RoleBinding{Role: role, OrgUnitID: ou.ID}); err != nil {
			return cliError(fmt.Errorf("user %s created, but the role was not granted: %w", u.Username, err), userFieldFlags)
		}
	}
	fmt.Fprintf(stdout, "created user %s (id %s) in %s\n", u.Username, u.ID, ou.Name)
	if otp != "" {
		fmt.Fprintf(stdout, "one-time password: %s\n(shown once; it must be changed at first sign-in, and works until %s)\n", otp, formatExpiry(u.OneTimePasswordExpiresAt))
	} else {
		fmt.Fprintf(stdout, "the password given works until %s, and must be changed at first sign-in\n", formatExpiry(u.OneTimePasswordExpiresAt))
	}
	if created && role != storage.RoleGlobalAdmin {
		fmt.Fprintf(stderr, "note: there is no global admin yet, and the first start makes one only in an empty database: add one with --role %s\n", storage.RoleGlobalAdmin)
	}
	return nil
}

// setPassword gives a user a new one-time password, through the admin
// Service's reset. It is also how an operator gets back in when the first
// start's one-time password expired unused.
func setPassword(ctx context.Context, cfg Config, store storage.Storage, stdout, stderr io.Writer, username string, now func() time.Time) error {
	norm, err := storage.NormalizeUsername(username)
	if err != nil || username == "" {
		return errors.New("--username is required")
	}
	u, err := store.GetUserByUsername(ctx, norm)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no user %q", norm)
	} else if err != nil {
		return err
	}
	svc, actor := cli(cfg, store, stderr, now)
	otp, expires, err := svc.ResetPassword(ctx, actor, u.ID)
	if err != nil {
		return cliError(err, userFieldFlags)
	}
	fmt.Fprintf(stdout, "one-time password for %s: %s\n(shown once; it must be changed at next sign-in, and works until %s; existing sessions ended)\n",
		norm, otp, formatExpiry(expires))
	return nil
}

// formatExpiry is how the command line and the first start say when a
// one-time password stops working.
func formatExpiry(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 MST") }

func listUsers(ctx context.Context, store storage.Users, stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tNAME\tID\tSTATUS")
	cursor := ""
	for {
		page, err := store.ListUsers(ctx, cursor, 500)
		if err != nil {
			return err
		}
		for _, u := range page.Users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, u.DisplayName, u.ID, status)
		}
		if page.Next == "" {
			return tw.Flush()
		}
		cursor = page.Next
	}
}

func clientCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New("usage: gatehouse client add|list [flags]")
	}
	var id, name, minACR, tokenFormat string
	var public, exceptions bool
	var redirects, logouts, grants, scopes stringList
	var accessTTL, idTTL, refreshTTL time.Duration
	define := func(fs *flag.FlagSet) {
		fs.StringVar(&id, "id", "", "client id (default: generated)")
		fs.StringVar(&name, "name", "", "display name shown on the sign-in page (required)")
		fs.Var(&redirects, "redirect-uri", "exact redirect URI (repeat for several; required)")
		fs.Var(&logouts, "post-logout-uri", "exact post-logout redirect URI (repeatable)")
		fs.Var(&grants, "grant", "authorization_code, refresh_token or client_credentials (repeatable; default: the first two)")
		fs.BoolVar(&public, "public", false, "public client (no secret; PKCE required)")
		fs.StringVar(&minACR, "min-acr", string(policy.ACRPassword), "minimum acr: pwd, mfa or phr")
		fs.BoolVar(&exceptions, "exceptions-allowed", true, "honour helpdesk MFA exceptions")
		fs.Var(&scopes, "scope", "API scope the client may request for itself with client_credentials (repeatable)")
		fs.DurationVar(&accessTTL, "access-token-lifetime", 0, "access token lifetime (default: server setting)")
		fs.DurationVar(&idTTL, "id-token-lifetime", 0, "ID token lifetime (default: server setting)")
		fs.DurationVar(&refreshTTL, "refresh-token-lifetime", 0, "refresh token lifetime (default: server setting)")
		fs.StringVar(&tokenFormat, "access-token-format", storage.AccessTokenOpaque,
			"opaque or jwt: what client_credentials gives (jwt: an RFC 9068 JWT, checked offline, not revocable alone); sign-ins always get opaque tokens")
	}
	switch args[0] {
	case "add":
		return withStore(ctx, args[1:], stderr, getenv, "client add", define, func(cfg Config, store storage.Storage) error {
			if id == "" {
				id = storage.RandomString(12)
			}
			if len(grants) == 0 {
				grants = stringList{provider.GrantAuthorizationCode, provider.GrantRefreshToken}
			}
			c := storage.Client{
				ID: id, Name: name, RedirectURIs: redirects, PostLogoutRedirectURIs: logouts, GrantTypes: grants,
				Scopes: scopes, MinimumACR: minACR, ExceptionsAllowed: exceptions,
				AccessTokenLifetime: accessTTL, IDTokenLifetime: idTTL, RefreshTokenLifetime: refreshTTL,
				AccessTokenFormat: tokenFormat, CreatedAt: time.Now(),
			}
			// The secret comes first: CheckClient tells public from
			// confidential by it.
			var secret string
			if !public {
				secret, c.SecretHash = provider.NewSecret()
			}
			if err := validateClient(c); err != nil {
				return err
			}
			if err := store.CreateClient(ctx, c); errors.Is(err, storage.ErrAlreadyExists) {
				return fmt.Errorf("client %q already exists", c.ID)
			} else if err != nil {
				return err
			}
			audit(ctx, store, stderr, storage.AuditEvent{Time: c.CreatedAt, Actor: "cli", Subject: c.ID, Action: "client.created", Outcome: storage.OutcomeSuccess})
			fmt.Fprintf(stdout, "client_id: %s\n", c.ID)
			if secret != "" {
				fmt.Fprintf(stdout, "client_secret: %s\n(shown once; store it in the relying party's secret store)\n", secret)
			}
			fmt.Fprintf(stdout, "discovery: %s/.well-known/openid-configuration\n", cfg.Issuer)
			return nil
		})
	case "list":
		return withStore(ctx, args[1:], stderr, getenv, "client list", func(*flag.FlagSet) {}, func(_ Config, store storage.Storage) error {
			clients, err := store.ListClients(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT_ID\tNAME\tTYPE\tREDIRECT_URIS")
			for _, c := range clients {
				if c.Forward != nil {
					continue // a protected app: gatehouse app list
				}
				kind := "confidential"
				if c.Public() {
					kind = "public"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, c.Name, kind, strings.Join(c.RedirectURIs, " "))
			}
			return tw.Flush()
		})
	}
	return fmt.Errorf("unknown client command %q (want add or list)", args[0])
}

func appCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return errors.New("usage: gatehouse app add|list [flags]")
	}
	app := storage.Client{Forward: &storage.ForwardAuth{}}
	var units stringList
	define := func(fs *flag.FlagSet) {
		fs.StringVar(&app.Name, "name", "", "the app's name, shown when people sign in to it (required)")
		fs.StringVar(&app.Forward.Host, "host", "", "the host people reach the app at, such as wiki.example.org, with a port only if it needs one (required)")
		fs.StringVar(&app.Forward.PathPrefix, "path-prefix", "", "only paths that start with this, such as /wiki/, are the app (default: the whole host)")
		fs.StringVar(&app.MinimumACR, "min-acr", string(policy.ACRPassword), "minimum acr: pwd, mfa or phr")
		fs.Var(&units, "org-unit", "org unit (id or name) whose people, and those of the units below it, may use the app (repeatable; default: everyone)")
		fs.BoolVar(&app.ExceptionsAllowed, "exceptions", false, "honour helpdesk MFA exceptions")
		fs.BoolVar(&app.Forward.AppPasswords, "app-passwords", false, "accept app passwords from legacy clients, over HTTP Basic")
	}
	switch args[0] {
	case "add":
		return withStore(ctx, args[1:], stderr, getenv, "app add", define, func(cfg Config, store storage.Storage) error {
			for _, ref := range units {
				ou, err := findOrgUnit(ctx, store, ref)
				if err != nil {
					return fmt.Errorf("--org-unit: %w", err)
				}
				app.Forward.OrgUnitIDs = append(app.Forward.OrgUnitIDs, ou.ID)
			}
			svc, actor := cli(cfg, store, stderr, time.Now)
			c, err := svc.CreateApp(ctx, actor, app)
			if err != nil {
				return cliError(err, appFieldFlags)
			}
			fmt.Fprintf(stdout, "app_id: %s\nforward-auth for %s%s: %s%s\n", c.ID, c.Forward.Host, c.Forward.PathPrefix, cfg.Issuer, login.ForwardPath)
			return nil
		})
	case "list":
		return withStore(ctx, args[1:], stderr, getenv, "app list", func(*flag.FlagSet) {}, func(cfg Config, store storage.Storage) error {
			svc, _ := cli(cfg, store, stderr, time.Now)
			apps, err := svc.ListClients(ctx, true)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "APP_ID\tNAME\tHOST\tPATH_PREFIX\tMINIMUM_ACR")
			for _, c := range apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Forward.Host, c.Forward.PathPrefix, c.MinimumACR)
			}
			return tw.Flush()
		})
	}
	return fmt.Errorf("unknown app command %q (want add or list)", args[0])
}

// clientFlags names the flag behind each field provider.CheckClient checks.
var clientFlags = map[string]string{
	"id": "--id", "name": "--name", "redirect_uris": "--redirect-uri", "post_logout_uris": "--post-logout-uri",
	"grants": "--grant", "min_acr": "--min-acr", "access_token_lifetime": "--access-token-lifetime",
	"id_token_lifetime": "--id-token-lifetime", "refresh_token_lifetime": "--refresh-token-lifetime",
	"access_token_format": "--access-token-format",
}

// validateClient reports every problem with a new client at once, each
// naming its flag.
func validateClient(c storage.Client) error {
	var ps provider.ClientProblems
	if err := provider.CheckClient(c); !errors.As(err, &ps) {
		return err
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		if p.Field == "name" && strings.TrimSpace(c.Name) == "" {
			errs[i] = errors.New("--name is required") // a missing flag reads as one
			continue
		}
		errs[i] = fmt.Errorf("%s: %s", clientFlags[p.Field], p.Msg)
	}
	return errors.Join(errs...)
}

func audit(ctx context.Context, store storage.Audit, stderr io.Writer, e storage.AuditEvent) {
	if err := store.AppendAudit(ctx, e); err != nil {
		fmt.Fprintln(stderr, "warning: audit event not recorded:", err)
	}
}

// backupCommand writes a consistent copy of the database to FILE: directly
// when no server is running, else through the running server's control
// socket, so the copy is taken online.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flagSet("backup", stderr)
	cfg, err := loadConfig(fs, args, getenv)
	if err != nil {
		return invalidConfig(err)
	}
	if fs.NArg() != 1 {
		return errors.New("usage: gatehouse backup [flags] FILE")
	}
	dest := fs.Arg(0)
	if cfg.Storage.Driver == driverPostgres {
		return errors.New("backup copies the bbolt file; with storage.driver postgres, back the database up with PostgreSQL's own tools (pg_dump, or base backups with WAL archiving), and keep mfa.key with it")
	}
	// Opening a missing file would create an empty store and back that up.
	if _, err := os.Stat(dbPath(cfg)); err != nil {
		return fmt.Errorf("no database at %s: check --data-dir", dbPath(cfg))
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".gatehouse-backup-*")
	if err != nil {
		return fmt.Errorf("create backup file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	var n int64
	store, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	switch {
	case err == nil:
		n, err = store.Backup(ctx, tmp)
		store.Close()
	case errors.Is(err, storage.ErrLocked):
		n, err = backupOnline(ctx, controlSocket(cfg), tmp)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d bytes to %s\n", n, dest)
	return nil
}

func backupOnline(ctx context.Context, socket string, w io.Writer) (int64, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://gatehouse/backup", nil)
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("the database is locked and the server's control socket %s did not answer: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("server refused the backup: %s", resp.Status)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, err
	}
	// The trailer arrives only after the whole copy was written: without
	// it the copy is truncated.
	if resp.Trailer.Get(backupTrailer) != strconv.FormatInt(n, 10) {
		return n, errors.New("the server's copy was incomplete")
	}
	return n, nil
}

const backupTrailer = "Gatehouse-Backup-Bytes"

// listenControl listens on a unix socket only this user can use. The
// socket's directory (the data directory, documented as 0700) is made
// private first: the socket's own mode is set only after it exists, and a
// connection made in between would be served a backup.
func listenControl(path string) (net.Listener, error) {
	if err := os.Chmod(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path) // a stale socket from a crash; the db lock proves no server owns it
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func controlHandler(store storage.Storage, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Trailer", backupTrailer)
		n, err := store.Backup(r.Context(), w)
		if err != nil {
			logger.ErrorContext(r.Context(), "online backup failed", "err", err)
			return
		}
		w.Header().Set(backupTrailer, strconv.FormatInt(n, 10))
		logger.InfoContext(r.Context(), "online backup", "bytes", n)
	})
	return mux
}
