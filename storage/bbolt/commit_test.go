package bbolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// holdWriter runs while with bolt's writer held, so that writes queue
// behind it, and releases it after.
func holdWriter(t *testing.T, db *DB, while func()) {
	t.Helper()
	held, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- db.bolt.Update(func(*bolt.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	while()
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitQueued waits until n writes wait in the queue.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		db.group.mu.Lock()
		got := len(db.group.queue)
		db.group.mu.Unlock()
		if got == n {
			return
		}
	}
	t.Fatalf("%d writes never queued", n)
}

// TestGroupFailureIsItsOwn: a write that fails in a group gets its own
// error, computed alone after the others committed; the others commit,
// each once in the end; a panic is an error, not a crash.
func TestGroupFailureIsItsOwn(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	bucket := []byte("meta")
	var wg sync.WaitGroup
	results := make([]error, 6)
	holdWriter(t, db, func() {
		for i := range 6 {
			wg.Go(func() {
				results[i] = db.update(ctx, fmt.Sprint("write ", i), func(tx *bolt.Tx) error {
					b := tx.Bucket(bucket)
					switch i {
					case 2:
						// Fails while write 0 is in its group (it sees
						// "w0"), and still after.
						if b.Get([]byte("w0")) != nil {
							return errors.New("w0 exists")
						}
						return nil
					case 4:
						panic("boom")
					}
					return b.Put(fmt.Appendf(nil, "w%d", i), []byte("x"))
				})
			})
			waitQueued(t, db, i+1) // in order
		}
	})
	wg.Wait()
	for i, err := range results {
		switch i {
		case 2:
			if err == nil || !strings.Contains(err.Error(), "w0 exists") {
				t.Errorf("write 2: %v, want w0 exists", err)
			}
		case 4:
			if err == nil || !strings.Contains(err.Error(), "panic in write: boom") {
				t.Errorf("write 4: %v, want the panic as an error", err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		for _, i := range []int{0, 1, 3, 5} {
			if tx.Bucket(bucket).Get(fmt.Appendf(nil, "w%d", i)) == nil {
				t.Errorf("write %d was not committed", i)
			}
		}
		return nil
	})
	waitQueued(t, db, 0)
}

// TestGroupConcurrent: many writers at once, each write committed once.
func TestGroupConcurrent(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 50 {
				key := fmt.Appendf(nil, "c%d-%d", w, i)
				if err := db.update(ctx, "counter", func(tx *bolt.Tx) error {
					b := tx.Bucket([]byte("meta"))
					if b.Get(key) != nil {
						return errors.New("written twice")
					}
					return b.Put(key, []byte("x"))
				}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).ForEach(func(k, _ []byte) error {
			if k[0] == 'c' {
				n++
			}
			return nil
		})
	})
	if n != 16*50 {
		t.Errorf("%d keys, want %d", n, 16*50)
	}
}
