package bbolt

import (
	"fmt"
	"runtime/debug"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// maxGroup bounds how many writes share one commit, so one transaction
// stays a few milliseconds long however deep the queue.
const maxGroup = 1000

// group is the queue of writes waiting for the writer: a group commit.
// A write that finds no commit under way starts one at once; writes that
// arrive while it waits for the writer or commits go together in the
// next. A lone write pays one commit, with no wait for company, and under
// load the fsyncs are shared. (bolt's Batch, which this replaced, held
// every write for company first: see the README's Performance.)
type group struct {
	mu      sync.Mutex
	queue   []*queued
	leading bool // a goroutine is committing the queue
}

type queued struct {
	fn   func(*bolt.Tx) error
	done chan error
	// solo: the write failed in a group and runs again alone, for an
	// error of its own.
	solo bool
}

// write runs fn in a write transaction shared with whatever other writes
// are queued, and returns fn's error, or the commit's. fn may run more
// than once: when a write in a group fails, the group is rolled back, the
// others run again without it, and then it runs alone.
func (db *DB) write(fn func(*bolt.Tx) error) error {
	q := &queued{fn: fn, done: make(chan error, 1)}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, q)
	if !g.leading {
		g.leading = true
		go db.commitQueue()
	}
	g.mu.Unlock()
	return <-q.done
}

// commitQueue commits the queued writes, group by group, until none is
// left. The group is taken once the writer is held, so every write that
// queued while it was awaited joins.
func (db *DB) commitQueue() {
	g := &db.group
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()

		var calls []*queued
		failed, failure := -1, error(nil)
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			calls = g.take()
			for i, q := range calls {
				if err := call(q.fn, tx); err != nil {
					failed, failure = i, err
					return err
				}
			}
			return nil
		})
		switch {
		case failed < 0:
			for _, q := range calls {
				q.done <- err // nil, or the commit's failure
			}
		case len(calls) == 1:
			calls[0].done <- failure
		default:
			// The rest were rolled back with the failed one: they go
			// first, as a group, and then it, alone, so that its error
			// is its own and not one the others' writes caused.
			q := calls[failed]
			q.solo = true
			requeue := append(calls[:failed:failed], calls[failed+1:]...)
			requeue = append(requeue, q)
			g.mu.Lock()
			g.queue = append(requeue, g.queue...)
			g.mu.Unlock()
		}
	}
}

// take removes the next group from the queue: up to maxGroup writes,
// ending before a solo one, or the solo one alone.
func (g *group) take() []*queued {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for n < len(g.queue) && n < maxGroup {
		if g.queue[n].solo {
			if n == 0 {
				n = 1
			}
			break
		}
		n++
	}
	calls := g.queue[:n:n]
	g.queue = g.queue[n:]
	return calls
}

// call runs fn, turning a panic into an error: fn runs on the committing
// goroutine, not its caller's, where nothing would recover it.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in write: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(tx)
}
