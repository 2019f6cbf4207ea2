package bbolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// fakeObserver records what a store tells it.
type fakeObserver struct {
	mu     sync.Mutex
	txns   []string // kind op
	fsyncs []int    // one entry a commit
}

func (o *fakeObserver) Transaction(kind, op string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.txns = append(o.txns, kind+" "+op)
}

func (o *fakeObserver) Committed(took time.Duration, fsyncs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fsyncs = append(o.fsyncs, fsyncs)
}

// take returns what was recorded since the last take.
func (o *fakeObserver) take() (txns []string, fsyncs []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	txns, fsyncs = o.txns, o.fsyncs
	o.txns, o.fsyncs = nil, nil
	return txns, fsyncs
}

func put(key string, size int) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put([]byte(key), make([]byte, size)) }
}

// putLarge writes 4 MiB, enough to grow a new file, in a bucket of its
// own: a later write to meta then copies none of it.
func putLarge(tx *bolt.Tx) error {
	b, err := tx.CreateBucketIfNotExists([]byte("test_large"))
	if err != nil {
		return err
	}
	return b.Put([]byte("large"), make([]byte, 4<<20))
}

// TestObserverCountsTransactionsCommitsAndFsyncs: every storage call is a
// transaction of its kind; a commit is counted once however many batched
// writes share it, never for a rollback, with bolt's two flushes (data,
// then meta) and one more when the file grows.
func TestObserverCountsTransactionsCommitsAndFsyncs(t *testing.T) {
	ctx := context.Background()
	obs := &fakeObserver{}
	db, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	obs.take() // whatever Open did

	steps := []struct {
		name       string
		do         func() error
		wantTxns   []string
		wantFsyncs []int
	}{
		{"read", func() error {
			return db.view(ctx, "read meta", func(*bolt.Tx) error { return nil })
		}, []string{"read read meta"}, nil},
		{"small write", func() error {
			return db.update(ctx, "small write", put("small", 10))
		}, []string{"write small write"}, []int{2}},
		{"write that grows the file", func() error {
			return db.update(ctx, "large write", putLarge)
		}, []string{"write large write"}, []int{3}},
		{"write rolled back", func() error {
			err := db.update(ctx, "failed write", func(tx *bolt.Tx) error {
				put("doomed", 10)(tx)
				return errors.New("refused")
			})
			if err == nil {
				return errors.New("the failing write succeeded")
			}
			return nil
		}, []string{"write failed write"}, nil},
		{"8 writes sharing one commit", func() error {
			// The writer is held until all eight are queued: one
			// transaction, one commit.
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			holdWriter(t, db, func() {
				for i := range 8 {
					wg.Go(func() { errs <- db.update(ctx, "grouped write", put(fmt.Sprint("b", i), 10)) })
				}
				waitQueued(t, db, 8)
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					return err
				}
			}
			return nil
		}, slices.Repeat([]string{"write grouped write"}, 8), []int{2}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		txns, fsyncs := obs.take()
		if diff := cmp.Diff(s.wantTxns, txns); diff != "" {
			t.Errorf("%s: transactions (-want +got):\n%s", s.name, diff)
		}
		if diff := cmp.Diff(s.wantFsyncs, fsyncs); diff != "" {
			t.Errorf("%s: commits' fsyncs (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestObserverNoSync: without fsync at commit, only growing the file
// flushes it.
func TestObserverNoSync(t *testing.T) {
	ctx := context.Background()
	obs := &fakeObserver{}
	db, err := Open(filepath.Join(t.TempDir(), "gatehouse.db"), Options{Observer: obs, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	obs.take()
	if err := db.update(ctx, "small write", put("small", 10)); err != nil {
		t.Fatal(err)
	}
	if err := db.update(ctx, "large write", putLarge); err != nil {
		t.Fatal(err)
	}
	if _, fsyncs := obs.take(); !cmp.Equal(fsyncs, []int{0, 1}) {
		t.Errorf("fsyncs of a small and a growing commit = %v, want [0 1]", fsyncs)
	}
}
