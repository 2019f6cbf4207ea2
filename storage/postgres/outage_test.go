package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/postgres/pgtest"
)

// observer records what a store tells it.
type observer struct {
	mu      sync.Mutex
	txns    []string // kind op
	commits int
}

func (o *observer) Transaction(kind, op string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.txns = append(o.txns, kind+" "+op)
}

func (o *observer) Committed(took time.Duration, fsyncs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commits++
}

// TestObserver: every storage call is told as a transaction of its kind,
// and every write that committed as a commit.
func TestObserver(t *testing.T) {
	obs := &observer{}
	db, err := Open(t.Context(), pgtest.NewDatabase(t), Options{Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	obs.txns, obs.commits = nil, 0 // forget what Open did
	c := storage.Client{ID: "app", Name: "App", CreatedAt: time.Now()}
	if err := db.CreateClient(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateClient(t.Context(), c); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := db.GetClient(t.Context(), "app"); err != nil {
		t.Fatal(err)
	}
	want := []string{"write create client", "write create client", "read get client"}
	if !slices.Equal(obs.txns, want) || obs.commits != 1 {
		t.Errorf("observed %q and %d commits, want %q and 1 (a refused write commits nothing)", obs.txns, obs.commits, want)
	}
}

// TestDatabaseLost: while the server is down every call fails at once
// with ErrUnavailable, reads and writes alike, and Health says so; when it
// is back the same pool works again, with nothing half-written.
func TestDatabaseLost(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	db := open(t, cluster.DSN)
	ctx := t.Context()
	if err := db.CreateClient(ctx, storage.Client{ID: "before", Name: "Before", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	cluster.Stop()
	if err := db.Health(ctx); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("health with the database down: %v, want ErrUnavailable", err)
	}
	if _, err := db.GetClient(ctx, "before"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("read with the database down: %v, want ErrUnavailable", err)
	}
	start := time.Now()
	if err := db.CreateClient(ctx, storage.Client{ID: "during", Name: "During", CreatedAt: time.Now()}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("write with the database down: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a write with the database down took %v to fail", took)
	}

	cluster.Start(t)
	if err := db.Health(ctx); err != nil {
		t.Fatalf("health after the database returned: %v", err)
	}
	if err := db.CreateClient(ctx, storage.Client{ID: "after", Name: "After", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("write after the database returned: %v", err)
	}
	clients, err := db.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range clients {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"after", "before"}) {
		t.Errorf("clients after the outage: %q, want after and before", ids)
	}
}

// TestDatabaseStalls: a database that stops answering, rather than
// refusing (a host dropping packets, a failover under way), holds a call
// no longer than its context allows, and a new connection no longer than
// the default connect timeout; both fail with ErrUnavailable, and the
// store works again when the database answers.
func TestDatabaseStalls(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	link := pgtest.NewLink(t, cluster)
	dsn := link.DSN
	db := open(t, dsn)
	ctx := t.Context()
	if err := db.CreateClient(ctx, storage.Client{ID: "before", Name: "Before", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	link.Stall(true)
	call, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start := time.Now()
	if _, err := db.GetClient(call, "before"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("read from a stalled database: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a read with a one-second deadline took %v", took)
	}
	start = time.Now()
	opening, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := Open(opening, dsn, Options{}); err == nil || !errors.Is(err, storage.ErrUnavailable) && !strings.Contains(err.Error(), "timeout") {
		t.Errorf("opening a stalled database: %v, want a timeout", err)
	}
	if took := time.Since(start); took > defaultConnectTimeout+3*time.Second {
		t.Errorf("opening a stalled database took %v, want about %v", took, defaultConnectTimeout)
	}

	link.Stall(false)
	if _, err := db.GetClient(ctx, "before"); err != nil {
		t.Errorf("read after the database answers again: %v", err)
	}
}
