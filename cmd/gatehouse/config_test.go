package main

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flagSet("test", io.Discard)
	return loadConfig(fs, args, func(k string) string { return env[k] })
}

func TestDefaultConfigIsValid(t *testing.T) {
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatalf("the embedded default is invalid: %v", err)
	}
	if c.Issuer != "http://localhost:8080" || c.DataDir != "./gatehouse-data" || c.listenAddr() != "localhost:8080" {
		t.Errorf("issuer, data_dir, listen = %q, %q, %q", c.Issuer, c.DataDir, c.listenAddr())
	}
	if c.Password.MemoryKiB != 19456 || c.Password.Iterations != 2 || c.Password.Parallelism != 1 {
		t.Errorf("argon2id defaults = %+v, want OWASP m=19456 t=2 p=1", c.Password)
	}
	if c.Password.OneTimeLifetime != 7*24*time.Hour {
		t.Errorf("password.one_time_lifetime = %s, want 7 days", c.Password.OneTimeLifetime)
	}
}

// TestConfigPrecedence: flags > environment > YAML file > defaults.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gatehouse.yaml")
	os.WriteFile(file, []byte(`
issuer: https://id.example.org
data_dir: /from/yaml
log:
  level: debug
tokens:
  access_token_lifetime: 5m
  id_token_lifetime: 6m
`), 0o600)
	secret := filepath.Join(dir, "level")
	os.WriteFile(secret, []byte("error\n"), 0o600)
	c, err := load(t,
		[]string{"--config", file, "--data-dir", "/from/flag", "--tokens.id-token-lifetime", "7m"},
		map[string]string{
			"GATEHOUSE_DATA_DIR":                     "/from/env",
			"GATEHOUSE_TOKENS_ACCESS_TOKEN_LIFETIME": "8m",
			"GATEHOUSE_LOG_LEVEL_FILE":               secret,
		})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"issuer (yaml)", c.Issuer, "https://id.example.org"},
		{"data_dir (flag over env over yaml)", c.DataDir, "/from/flag"},
		{"access_token_lifetime (env over yaml)", c.Tokens.AccessTokenLifetime.String(), "8m0s"},
		{"id_token_lifetime (flag over yaml)", c.Tokens.IDTokenLifetime.String(), "7m0s"},
		{"log.level (_FILE)", c.Log.Level, "error"},
		{"listen (derived from an https issuer)", c.listenAddr(), ":443"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.name, ch.got, ch.want)
		}
	}
}

// TestConfigReportsEveryProblem: an invalid configuration is refused with
// every problem listed, each naming its setting.
func TestConfigReportsEveryProblem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("issuer: http://id.example.org\nlog:\n  level: loud\n"), 0o600)
	_, err := load(t, []string{"--config", file, "--password.memory-kib", "1024", "--tokens.code-lifetime", "1h", "--password.one-time-lifetime", "0s", "--keys.signing-algorithm", "HS256"},
		map[string]string{"GATEHOUSE_SESSION_LIFETIME": "-1s", "GATEHOUSE_DEMO_LISTEN": "nonsense", "GATEHOUSE_METRICS_LISTEN": "9464"})
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{
		"issuer: must use https unless the host is localhost",
		"log.level: \"loud\"",
		"password.memory_kib: must be at least 8192",
		"tokens.code_lifetime: must be at most 10m",
		"session.lifetime: must be positive",
		"password.one_time_lifetime: must be positive",
		"demo.listen: \"nonsense\" is not host:port",
		"metrics.listen: \"9464\" is not host:port",
		"keys.signing_algorithm: \"HS256\" is not one of [RS256 ES256 EdDSA]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestConfigRejectsUnknownYAMLKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "typo.yaml")
	os.WriteFile(file, []byte("isuer: https://id.example.org\n"), 0o600)
	if _, err := load(t, []string{"--config", file}, nil); err == nil || !strings.Contains(err.Error(), "isuer") {
		t.Errorf("typo in YAML: err = %v, want it named", err)
	}
}

// TestConfigYAMLStructure: settings come from the first document
// only, so a second one is refused rather than ignored; a trailing "---"
// is harmless. A key with no name is refused too: yaml.v3 would skip it.
func TestConfigYAMLStructure(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		yaml string
		ok   bool
	}{
		{"issuer: https://id.example.org\n---\nisuer: https://other.example\n", false},
		{"issuer: https://id.example.org\n---\n---\nlog:\n  level: debug\n", false},
		{"issuer: https://id.example.org\n---\n", true},
		{"---\nissuer: https://id.example.org\n...\n", true},
		{"?\n", false},
		{"issuer: https://id.example.org\n: https://other.example\n", false},
		{"log:\n  ? \n  : debug\n", false},
	} {
		file := filepath.Join(dir, "gatehouse.yaml")
		os.WriteFile(file, []byte(tc.yaml), 0o600)
		_, err := load(t, []string{"--config", file}, nil)
		if got := err == nil; got != tc.ok {
			t.Errorf("%q: err = %v, want ok %v", tc.yaml, err, tc.ok)
		}
	}
}

func TestConfigBadValues(t *testing.T) {
	_, err := load(t, []string{"--session.lifetime", "soon", "--password.parallelism", "300"}, map[string]string{"GATEHOUSE_DEMO_ENABLED": "maybe"})
	for _, want := range []string{`--session.lifetime: "soon" is not a duration`, `--password.parallelism: "300" is not a whole number in range`, `GATEHOUSE_DEMO_ENABLED: "maybe" is not true or false`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	if _, err := load(t, []string{"--keys.signing-key-retention", "30m"}, nil); err == nil || !strings.Contains(err.Error(), "shorter than the longest token lifetime") {
		t.Errorf("retention shorter than token lifetime: err = %v", err)
	}
}

// TestREADMEListsEverySetting keeps the configuration reference true.
func TestREADMEListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	for _, s := range settings(&c) {
		row := "| `" + s.yamlPath + "` | `" + s.envName() + "` | `--" + s.flagName() + "` |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row for %s:\n%s", s.yamlPath, row)
		}
	}
}

// TestConfigTrustedProxies: the list is a YAML sequence or a comma-separated
// string (as the environment and flags give it), and every entry is
// checked, each bad one named.
func TestConfigTrustedProxies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(body), 0o600)
		return path
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want list
	}{
		{name: "default: none"},
		{name: "YAML sequence", args: []string{"--config", write("seq.yaml", "trusted_proxies:\n  - 10.0.0.0/8\n  - fd00::/8\n")}, want: list{"10.0.0.0/8", "fd00::/8"}},
		{name: "YAML string", args: []string{"--config", write("str.yaml", "trusted_proxies: 10.0.0.0/8, 192.0.2.9\n")}, want: list{"10.0.0.0/8", "192.0.2.9"}},
		{name: "environment over YAML", args: []string{"--config", write("env.yaml", "trusted_proxies: [10.0.0.0/8]\n")},
			env: map[string]string{"GATEHOUSE_TRUSTED_PROXIES": " 172.16.0.0/12 ,, 192.0.2.9 "}, want: list{"172.16.0.0/12", "192.0.2.9"}},
		{name: "flag over environment", args: []string{"--trusted-proxies", "127.0.0.1"},
			env: map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/8"}, want: list{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.TrustedProxies); diff != "" {
				t.Errorf("trusted_proxies (-want +got):\n%s", diff)
			}
		})
	}

	_, err := load(t, []string{"--trusted-proxies", "10.0.0.0/8,proxy.internal,0.0.0.0/0", "--limits.auth-requests-per-minute", "0"}, nil)
	for _, want := range []string{
		`trusted_proxies: "proxy.internal" is not a CIDR range`,
		`trusted_proxies: "0.0.0.0/0" trusts every address`,
		"limits.auth_requests_per_minute: must be at least 1",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
	if _, err := load(t, []string{"--config", write("map.yaml", "trusted_proxies: {a: b}\n")}, nil); err == nil || !strings.Contains(err.Error(), "config file") {
		t.Errorf("a map for trusted_proxies: err = %v, want the config file refused", err)
	}
}

// TestConfigHSTS: Strict-Transport-Security is on for a year by default
// when Gatehouse serves TLS itself for an https issuer, off otherwise;
// behind a TLS proxy it is opt-in; and it can never be set for an http
// issuer, whose answers all go over plain http.
func TestConfigHSTS(t *testing.T) {
	const year = 365 * 24 * time.Hour
	tlsFiles := []string{"--tls.cert-file", "cert.pem", "--tls.key-file", "key.pem"}
	https := []string{"--issuer", "https://id.example.org"}
	for _, tc := range []struct {
		name       string
		args       []string
		wantMaxAge time.Duration
		wantOn     bool
	}{
		{"default: http issuer", nil, 0, false},
		{"default: https issuer behind a proxy", https, 0, false},
		{"default: https issuer served with TLS", append(https, tlsFiles...), year, true},
		{"off, served with TLS", append(append(https, tlsFiles...), "--hsts", "off"), 0, false},
		{"on behind a proxy", append(https, "--hsts", "on"), year, true},
		{"a max-age behind a proxy", append(https, "--hsts", "720h"), 30 * 24 * time.Hour, true},
		{"max-age 0, to make browsers forget", append(append(https, tlsFiles...), "--hsts", "0s"), 0, true},
		{"http issuer served with TLS", tlsFiles, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := load(t, tc.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			if maxAge, on := c.hsts(); maxAge != tc.wantMaxAge || on != tc.wantOn {
				t.Errorf("hsts() = %s, %v; want %s, %v", maxAge, on, tc.wantMaxAge, tc.wantOn)
			}
		})
	}

	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"not a duration", append(https, "--hsts", "always"), nil, `hsts: "always" is not on, off or a max-age such as 8760h`},
		{"negative", nil, map[string]string{"GATEHOUSE_ISSUER": "https://id.example.org", "GATEHOUSE_HSTS": "-1h"}, `hsts: "-1h" is not on, off or a max-age such as 8760h`},
		{"on for an http issuer", []string{"--hsts", "on"}, nil, "hsts: the issuer is http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(t, tc.args, tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestHashSlotsFitTheMemoryLimit: with GOMEMLIMIT set, no more password
// hashes run at once than fit in half of it; at least one always does.
func TestHashSlotsFitTheMemoryLimit(t *testing.T) {
	cfg := defaultConfig()
	cfg.Password.MemoryKiB, cfg.Password.MaxConcurrent = 19456, 8
	const mib = 1 << 20
	for _, tt := range []struct {
		limit int64
		want  int
	}{
		{math.MaxInt64, 8}, // no limit
		{1024 * mib, 8},    // 512 MiB holds 26
		{128 * mib, 3},     // 64 MiB holds 3 of 19 MiB
		{20 * mib, 1},      // not even one: one all the same
	} {
		if got := hashSlots(cfg, tt.limit); got != tt.want {
			t.Errorf("limit %d MiB: %d hashes at once, want %d", tt.limit/mib, got, tt.want)
		}
	}
}
