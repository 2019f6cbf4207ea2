package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestProxy: the proxy sends each request to the next of three backends in
// turn, with the Host the client asked for, and says at the end how many
// each got.
func TestProxy(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string // backend and Host of each request, in order
	)
	var urls []string
	for i := range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, fmt.Sprintf("%d %s %s", i, r.Host, r.URL.Path))
			mu.Unlock()
			fmt.Fprint(w, i)
		}))
		t.Cleanup(srv.Close)
		urls = append(urls, srv.URL)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"proxy", "-listen", addr, "-to", strings.Join(urls, ",")}, &out, nil)
	}()

	var want []string
	for i := range 7 {
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/login/password", nil)
			req.Host = "id.example:8080" // the issuer's host, whatever the proxy's address
			if resp, err = http.DefaultClient.Do(req); err == nil || i > 0 || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprint(i % 3); string(body) != want {
			t.Errorf("request %d: answered by backend %s, want %s", i, body, want)
		}
		want = append(want, fmt.Sprintf("%d id.example:8080 /login/password", i%3))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("proxy: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests the backends saw (-want +got):\n%s", diff)
	}
	for i, n := range []int{3, 2, 2} {
		if s := fmt.Sprintf("%s %d", strings.TrimPrefix(urls[i], "http://"), n); !strings.Contains(out.String(), s) {
			t.Errorf("output does not say %q:\n%s", s, out.String())
		}
	}
}

func TestProxyFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no backends", []string{"-listen", "127.0.0.1:0"}, `-to: "" is not`},
		{"remote backend", []string{"-to", "http://127.0.0.1:8081,http://10.0.0.1:8082"}, `"http://10.0.0.1:8082" is not`},
		{"https backend", []string{"-to", "https://127.0.0.1:8081"}, "is not an http URL"},
		{"no port", []string{"-to", "http://localhost"}, "is not an http URL"},
		{"remote listener", []string{"-listen", "0.0.0.0:8080", "-to", "http://127.0.0.1:8081"}, "-listen"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), append([]string{"proxy"}, tt.args...), io.Discard, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
