package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// proxy runs the load balancer replicas.sh puts in front of Gatehouse
// replicas on one database: each request goes to the next replica in
// turn, so the steps of one sign-in land on different replicas. It listens
// on, and forwards to, loopback addresses only, like the rest of the tool.
func proxy(ctx context.Context, args []string, out io.Writer) error {
	var listen, to string
	fs := flag.NewFlagSet("gatehouse-load proxy", flag.ContinueOnError)
	fs.StringVar(&listen, "listen", "127.0.0.1:8080", "loopback address to listen on: the replicas' issuer is http://<this address>")
	fs.StringVar(&to, "to", "", "the replicas' URLs, comma-separated, such as http://127.0.0.1:8081,http://127.0.0.1:8082 (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if host, _, err := net.SplitHostPort(listen); err != nil || !loopbackHost(host) {
		problems = append(problems, fmt.Sprintf("-listen %q is not a loopback host:port", listen))
	}
	var backends []*url.URL
	for _, raw := range strings.Split(to, ",") {
		u, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || u.Scheme != "http" || !loopbackHost(u.Hostname()) || u.Port() == "" {
			problems = append(problems, fmt.Sprintf("-to: %q is not an http URL with a loopback host and a port", raw))
			continue
		}
		backends = append(backends, u)
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}

	rr := newRoundRobin(backends)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: rr, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	fmt.Fprintf(out, "proxy: http://%s to %d replicas in turn\n", ln.Addr(), len(backends))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	fmt.Fprintf(out, "proxy: requests sent to each replica: %s\n", rr.counts())
	return err
}

// roundRobin forwards each request to the next backend in turn. It passes
// the Host header on as the client sent it, as a load balancer does: the
// replicas are all configured with the proxy's address as their issuer,
// and browsers' cookies and origin checks are for that host.
// X-Forwarded-For is not added: the replicas see the proxy's loopback
// address as the client, as the load tool's own address would be.
type roundRobin struct {
	backends []*url.URL
	sent     []atomic.Int64
	next     atomic.Uint64
	proxy    *httputil.ReverseProxy
}

func newRoundRobin(backends []*url.URL) *roundRobin {
	rr := &roundRobin{backends: backends, sent: make([]atomic.Int64, len(backends))}
	rr.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := (rr.next.Add(1) - 1) % uint64(len(rr.backends))
			rr.sent[i].Add(1)
			pr.SetURL(rr.backends[i])
			pr.Out.Host = pr.In.Host
		},
		// The default keeps two idle connections a backend: under load
		// most requests would open a new one.
		Transport: &http.Transport{
			DialContext:         loopbackDialer(false).DialContext,
			MaxIdleConnsPerHost: maxConcurrency,
			IdleConnTimeout:     30 * time.Second,
		},
	}
	return rr
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.proxy.ServeHTTP(w, r)
}

// counts is how many requests went to each backend, in order.
func (rr *roundRobin) counts() string {
	var s []string
	for i := range rr.sent {
		s = append(s, fmt.Sprintf("%s %d", rr.backends[i].Host, rr.sent[i].Load()))
	}
	return strings.Join(s, ", ")
}
