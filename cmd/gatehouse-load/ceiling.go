package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/factors/password"
)

// argon2Ceiling measures how many argon2id hashes with params this machine
// makes a second on all its cores, for measure: no sign-in with a password
// can go faster, so it is the yardstick sign-in throughput is read against.
func argon2Ceiling(ctx context.Context, params password.Params, measure time.Duration) float64 {
	cores := runtime.GOMAXPROCS(0)
	h := password.NewHasher(params, cores)
	ctx, cancel := context.WithTimeout(ctx, measure)
	defer cancel()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range cores {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := h.Hash(context.Background(), "a password to measure"); err == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// reportCeiling prints the ceiling and how close the sign-ins came to it.
func reportCeiling(out io.Writer, params password.Params, ceiling float64, signIns int, elapsed time.Duration) {
	fmt.Fprintf(out, "\nargon2id ceiling  %.0f hashes/s (%d KiB, %d passes, %d lanes, on %d cores, measured before the run)\n",
		ceiling, params.MemoryKiB, params.Iterations, params.Parallelism, runtime.GOMAXPROCS(0))
	if ceiling > 0 {
		rate := float64(signIns) / elapsed.Seconds()
		fmt.Fprintf(out, "  sign-ins   %.0f/s, %.0f %% of the ceiling\n", rate, 100*rate/ceiling)
	}
}
