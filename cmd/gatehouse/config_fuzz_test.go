package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzLoadConfig loads a fuzzed YAML file with one fuzzed environment
// variable and one fuzzed flag, each a real setting's (an empty value
// sets neither). Properties:
// loading never panics; it either returns an error or a configuration
// that passes Validate; and a YAML key that names no setting, in any
// document of the file, is always an error. (Unknown GATEHOUSE_*
// variables are not errors by design: only the settings' own names are
// read from an environment that holds other programs' variables too.)
func FuzzLoadConfig(f *testing.F) {
	for _, s := range []struct {
		yaml      string
		env       uint8
		envValue  string
		flag      uint8
		flagValue string
	}{
		{"", 0, "", 0, ""},
		{"issuer: https://id.example.org\ndata_dir: /var/lib/gatehouse\n", 1, "", 2, ""},
		{"issuer: http://id.example.org\nlog:\n  level: loud\n", 3, "-1s", 4, "soon"},
		{"isuer: https://id.example.org\n", 0, "", 0, ""},
		{"log:\n  lvl: debug\n", 0, "", 0, ""},
		{"trusted_proxies: [10.0.0.0/8, fd00::/8]\n", 5, "0.0.0.0/0", 6, "300"},
		{"trusted_proxies: 10.0.0.0/8, 192.0.2.9\n", 0, "", 0, ""},
		{"tokens:\n  access_token_lifetime: 5m\n  id_token_lifetime: 10000h\n", 7, "8m", 8, "7m"},
		{"issuer: https://id.example.org\n---\nisuer: https://other.example\n", 0, "", 0, ""},
		{"issuer: https://id.example.org\n---\n---\nisuer: https://other.example\n", 0, "", 0, ""},
		{"issuer: https://id.example.org\n---\n", 0, "", 0, ""},
		{"issuer: https://id.example.org\n---\n[\n", 0, "", 0, ""},
		{"base: &b\n  level: debug\nlog: *b\n", 0, "", 0, ""},
		{"log: &b\n  level: debug\nsession:\n  <<: *b\n", 0, "", 0, ""},
		{"issuer: a\nissuer: b\n", 0, "", 0, ""},
		{"? [a, b]\n: c\n", 0, "", 0, ""},
		{"1: 2\n", 0, "", 0, ""},
		{"- issuer\n", 0, "", 0, ""},
		{"issuer: !!binary aGk=\n", 0, "", 0, ""},
		{"password:\n  memory_kib: 99999999999999999999\n", 9, "1e3", 10, "-"},
		{"\t", 11, "\x00", 12, "--"},
		{"hsts: 1y\nlisten: :0\n", 13, "on", 14, "off"},
	} {
		f.Add(s.yaml, s.env, s.envValue, s.flag, s.flagValue)
	}
	f.Fuzz(func(t *testing.T, file string, env uint8, envValue string, flagIdx uint8, flagValue string) {
		all := settings(new(Config))
		envSetting, flagSetting := all[int(env)%len(all)], all[int(flagIdx)%len(all)]
		path := filepath.Join(t.TempDir(), "gatehouse.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"--config", path}
		if flagValue != "" { // as the environment treats an empty value
			args = append(args, "--"+flagSetting.flagName()+"="+flagValue)
		}
		getenv := func(k string) string {
			if k == envSetting.envName() {
				return envValue
			}
			return ""
		}
		c, err := loadConfig(flagSet("fuzz", io.Discard), args, getenv)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded a configuration that Validate refuses: %v", err)
		}
		var paths []string
		for _, s := range all {
			paths = append(paths, s.yamlPath)
		}
		if key, ok := unknownKey([]byte(file), paths); ok {
			t.Fatalf("YAML key %q names no setting, yet the file was accepted:\n%s", key, file)
		}
	})
}

// unknownKey finds a key, in any document of a YAML file, that is neither
// a setting nor a section holding settings. Merge keys are yaml.v3's to
// check. A file yaml.v3 cannot read has nothing to report: the loader
// refuses it.
func unknownKey(data []byte, paths []string) (string, bool) {
	known := func(p string) bool {
		return slices.Contains(paths, p) || slices.ContainsFunc(paths, func(s string) bool { return strings.HasPrefix(s, p+".") })
	}
	var walk func(n *yaml.Node, prefix string) (string, bool)
	walk = func(n *yaml.Node, prefix string) (string, bool) {
		for n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		if n.Kind != yaml.MappingNode {
			return "", false
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
				continue
			}
			p := prefix + k.Value
			if k.Kind != yaml.ScalarNode || !known(p) {
				return p, true
			}
			if slices.Contains(paths, p) {
				continue // a setting's value, perhaps a sequence: not keys
			}
			if key, ok := walk(n.Content[i+1], p+"."); ok {
				return key, true
			}
		}
		return "", false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if !errors.Is(err, io.EOF) {
				return "", false
			}
			return "", false
		}
		for _, n := range doc.Content {
			if key, ok := walk(n, ""); ok {
				return key, true
			}
		}
	}
}
