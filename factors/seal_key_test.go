package factors

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestLoadOrCreateKeyTogether: replicas sharing a key directory, started
// together, all end up with one whole key and leave no temporary files.
func TestLoadOrCreateKeyTogether(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		path := filepath.Join(dir, "keys", "mfa.key")
		keys := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				key, err := LoadOrCreateKey(path)
				if err != nil {
					t.Error(err)
				}
				keys[i] = key
			})
		}
		wg.Wait()
		for _, k := range keys[1:] {
			if !bytes.Equal(k, keys[0]) || len(k) != KeySize {
				t.Fatalf("processes hold different keys: %x and %x", k, keys[0])
			}
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Fatalf("key directory holds %d files, want only mfa.key", len(entries))
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
}
