package bbolt

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit shares write transactions, and so fsyncs, among concurrent
// hot writes without making a lone write wait. A write that finds no group
// commit in flight starts one at once; writes that arrive while it commits
// queue up and go together in the next. So a burst shares fsyncs while a
// lone request costs one commit (about 0.4 ms here), where bolt's Batch held
// every batch open for MaxBatchDelay: a lone token request waited about
// 3 ms for company that never came.
//
// As with bolt's Batch, a function may run more than once: when one fails,
// the transaction rolls back, that function is run alone so its error sees
// only its own writes, and the rest are committed together without it.
type groupCommit struct {
	db *bolt.DB

	mu      sync.Mutex
	queue   []call
	running bool // a drain goroutine is committing the queue
}

type call struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// maxGroup bounds one transaction, as bolt's MaxBatchSize does.
const maxGroup = 1000

// errRunAlone tells a caller that its function failed in a group and must
// run in a transaction of its own.
var errRunAlone = errors.New("run alone")

func (g *groupCommit) run(fn func(*bolt.Tx) error) error {
	c := call{fn: fn, err: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		go g.drain()
	}
	g.mu.Unlock()
	err := <-c.err
	if errors.Is(err, errRunAlone) {
		return g.db.Update(func(tx *bolt.Tx) error { return safely(fn, tx) })
	}
	return err
}

// drain commits the queue, a group at a time, until it is empty.
func (g *groupCommit) drain() {
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		calls := g.queue[:n:n]
		g.queue = g.queue[n:]
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls in one transaction, retrying without any that fails.
func (g *groupCommit) commit(calls []call) {
	for len(calls) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := safely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		switch {
		case failed == 0:
			// The first function saw no other's writes: its error is
			// the one it would have got alone.
			calls[0].err <- err
			calls = calls[1:]
		case failed > 0:
			calls[failed].err <- errRunAlone
			calls = append(calls[:failed:failed], calls[failed+1:]...)
		default:
			for _, c := range calls {
				c.err <- err
			}
			return
		}
	}
}

// safely turns a panic in fn into an error for its caller, rather than
// killing the goroutine that commits for everyone.
func safely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write transaction: %v", p)
		}
	}()
	return fn(tx)
}
