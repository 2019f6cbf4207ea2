package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestImportRules holds the layers to the design's direction: the policy
// does no I/O and knows only the domain types, admin and login never reach
// past the storage contract to bbolt, the provider renders no HTML, and
// factors never import the journey; and only cmd knows Prometheus.
func TestImportRules(t *testing.T) {
	const mod = "github.com/gatehouse-id/gatehouse/"
	for _, rule := range []struct {
		dir       string
		forbidden []string // import paths, or prefixes ending in /
		only      []string // when set, the only module packages allowed
	}{
		{dir: "login/policy", forbidden: []string{"net", "net/http", "os", "io", "database/sql"}, only: []string{mod + "storage"}},
		{dir: "admin", forbidden: []string{mod + "storage/bbolt"}},
		{dir: "login", forbidden: []string{mod + "storage/bbolt"}},
		{dir: "provider", forbidden: []string{"html/template", mod + "templates", mod + "login", mod + "admin", mod + "storage/bbolt"}},
		{dir: "factors/", forbidden: []string{mod + "login/", mod + "login", mod + "admin", mod + "provider"}},
		// Metrics are cmd's: the other packages declare an observer and
		// never touch a registry, least of all the global one.
		{dir: "storage/", forbidden: []string{"github.com/prometheus/"}},
		{dir: "login/", forbidden: []string{"github.com/prometheus/"}},
		{dir: "factors/", forbidden: []string{"github.com/prometheus/"}},
		{dir: "admin", forbidden: []string{"github.com/prometheus/"}},
		{dir: "provider", forbidden: []string{"github.com/prometheus/"}},
	} {
		dirs := []string{filepath.Join("../..", rule.dir)}
		if strings.HasSuffix(rule.dir, "/") {
			dirs = nil
			filepath.WalkDir(filepath.Join("../..", rule.dir), func(path string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() {
					dirs = append(dirs, path)
				}
				return err
			})
		}
		for _, dir := range dirs {
			files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") {
					continue
				}
				parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
				if err != nil {
					t.Fatal(err)
				}
				for _, imp := range parsed.Imports {
					path, _ := strconv.Unquote(imp.Path.Value)
					for _, bad := range rule.forbidden {
						if path == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(path, bad) {
							t.Errorf("%s imports %s", f, path)
						}
					}
					if rule.only != nil && strings.HasPrefix(path, mod) && !slices.Contains(rule.only, path) {
						t.Errorf("%s imports %s: only %v may be", f, path, rule.only)
					}
				}
			}
		}
	}
}
