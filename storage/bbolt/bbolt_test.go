package bbolt

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestStorage(t *testing.T) {
	storagetest.RunTests(t, func(t *testing.T) storage.Storage { return openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db")) })
}

func openTemp(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
