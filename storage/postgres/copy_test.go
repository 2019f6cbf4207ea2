package postgres

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/bbolt"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestCopyBetweenBackends runs the copy conformance test from a bbolt
// file into PostgreSQL and back, as gatehouse migrate copies: what one
// backend exports, the other restores, record for record, found by every
// look-up.
func TestCopyBetweenBackends(t *testing.T) {
	newBolt := func(t *testing.T) storage.Storage {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bbolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	newPostgres := func(t *testing.T) storage.Storage { return open(t, pgtest.NewDatabase(t)) }
	t.Run("BboltToPostgres", func(t *testing.T) { storagetest.RunCopyTests(t, newBolt, newPostgres) })
	t.Run("PostgresToBbolt", func(t *testing.T) { storagetest.RunCopyTests(t, newPostgres, newBolt) })
}
