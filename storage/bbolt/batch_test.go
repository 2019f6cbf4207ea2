package bbolt

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommit queues writes behind a commit in flight, so they go in one
// group, and checks that the ones that fail (an error, a panic) get their own
// error and leave no writes behind, while the rest all commit.
func TestGroupCommit(t *testing.T) {
	db := openTemp(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx := t.Context()
	bucket := []byte("group_test")
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bucket)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	put := func(key string, then func() error) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucket).Put([]byte(key), []byte("v")); err != nil {
				return err
			}
			return then()
		}
	}
	ok := func() error { return nil }

	// The first write holds its commit open until the others have queued.
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := make(chan error, 1)
	go func() {
		first <- db.batch(ctx, "first", put("first", func() error {
			once.Do(func() { close(started) })
			<-release
			return nil
		}))
	}()
	<-started

	queued := []struct {
		key  string
		then func() error
	}{
		{"a", ok},
		{"fails", func() error { return errBoom }},
		{"b", ok},
		{"panics", func() error { panic("bug") }},
		{"c", ok},
	}
	results := map[string]chan error{"first": first}
	for i, q := range queued {
		ch := make(chan error, 1)
		results[q.key] = ch
		go func() { ch <- db.batch(ctx, q.key, put(q.key, q.then)) }()
		// Queue them in this order, so the failures are not first in the group.
		for queueLen(db) != i+1 {
			runtime.Gosched()
		}
	}
	close(release)

	for key, ch := range results {
		err := <-ch
		switch key {
		case "fails":
			if !errors.Is(err, errBoom) {
				t.Errorf("%s: got error %v, want %v", key, err, errBoom)
			}
		case "panics":
			if err == nil || !strings.Contains(err.Error(), "panic") {
				t.Errorf("%s: got error %v, want a panic error", key, err)
			}
		default:
			if err != nil {
				t.Errorf("%s: got error %v, want nil", key, err)
			}
		}
	}
	var got []string
	db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, _ []byte) error {
			got = append(got, string(k))
			return nil
		})
	})
	if want := "a b c first"; strings.Join(got, " ") != want {
		t.Errorf("stored keys = %q, want %q", strings.Join(got, " "), want)
	}
}

func queueLen(db *DB) int {
	db.group.mu.Lock()
	defer db.group.mu.Unlock()
	return len(db.group.queue)
}
