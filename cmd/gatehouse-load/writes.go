package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// storageCounts are the server's storage counters, read from its metrics
// listener: storage calls that write, commits (batched calls share one),
// and fsyncs.
type storageCounts struct{ writes, commits, fsyncs float64 }

// readStorageCounts scrapes the counters from a Prometheus text exposition
// at metricsURL.
func readStorageCounts(ctx context.Context, client *http.Client, metricsURL string) (storageCounts, error) {
	var c storageCounts
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return c, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return c, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c, fmt.Errorf("read metrics: status %d", resp.StatusCode)
	}
	lines := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	lines.Buffer(make([]byte, 64<<10), 64<<10)
	for lines.Scan() {
		line := lines.Text()
		i := strings.LastIndexByte(line, ' ') // label values may hold spaces
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		name, value := line[:i], line[i+1:]
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, "gatehouse_storage_writes_total{"):
			c.writes += v
		case name == "gatehouse_storage_commits_total":
			c.commits += v
		case name == "gatehouse_storage_fsyncs_total":
			c.fsyncs += v
		}
	}
	return c, lines.Err()
}

// reportWrites prints the storage work per successful operation between
// two readings.
func reportWrites(out io.Writer, before, after storageCounts, ok int) {
	if ok == 0 {
		return
	}
	n := float64(ok)
	fmt.Fprintf(out, "\nstorage per operation  %.1f writes, %.1f commits, %.1f fsyncs (the server's metrics, over %d successes)\n",
		(after.writes-before.writes)/n, (after.commits-before.commits)/n, (after.fsyncs-before.fsyncs)/n, ok)
}
