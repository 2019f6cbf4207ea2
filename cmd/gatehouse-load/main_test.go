package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	creds := []string{"-client-id", "load", "-client-secret", "s"}
	tests := []struct {
		name string
		args []string
		want string // a substring of the error; "" for none
	}{
		{"defaults", nil, ""},
		{"127.0.0.1", []string{"-issuer", "http://127.0.0.1:8080"}, ""},
		{"::1", []string{"-issuer", "http://[::1]:8080"}, ""},
		{"remote name", []string{"-issuer", "https://id.example.org"}, "not loopback"},
		{"remote address", []string{"-issuer", "http://10.0.0.1:8080"}, "not loopback"},
		{"remote allowed", []string{"-issuer", "https://id.example.org", "-allow-remote"}, ""},
		{"not a URL", []string{"-issuer", "localhost:8080"}, "-issuer must be"},
		{"too long", []string{"-duration", "2h"}, "-duration"},
		{"too many clients", []string{"-concurrency", "5000"}, "-concurrency"},
		{"no requests", []string{"-requests", "0"}, "-requests"},
		{"unknown scenario", []string{"-scenario", "password"}, "-scenario"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(append(append([]string{}, creds...), tt.args...), func(string) string { return "" })
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	t.Run("secret from the environment", func(t *testing.T) {
		c, err := parseFlags([]string{"-client-id", "load"}, func(k string) string {
			if k == "GATEHOUSE_LOAD_CLIENT_SECRET" {
				return "from-env"
			}
			return ""
		})
		if err != nil || c.clientSecret != "from-env" {
			t.Errorf("got secret %q, error %v; want from-env, none", c.clientSecret, err)
		}
	})
}

// fakeIssuer answers discovery, token and introspection requests the way
// Gatehouse does, and counts the requests it serves.
func fakeIssuer(t *testing.T, discovery func(base string) map[string]string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(discovery(srv.URL))
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		if id, secret, _ := r.BasicAuth(); id != "load" || secret != "s" || r.PostFormValue("grant_type") != "client_credentials" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"access_token":"tok","token_type":"Bearer"}`))
	})
	mux.HandleFunc("POST /oauth/introspect", func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Write([]byte(`{"active":` + map[bool]string{true: "true", false: "false"}[r.PostFormValue("token") == "tok"] + `}`))
	})
	return srv, &served
}

func gatehouseDiscovery(base string) map[string]string {
	return map[string]string{"authorization_endpoint": base + "/authorize", "token_endpoint": base + "/oauth/token", "introspection_endpoint": base + "/oauth/introspect"}
}

// TestRunStopsAtRequestBudget: the run ends by itself when the request
// budget is spent, well before its time is up, and reports every request.
func TestRunStopsAtRequestBudget(t *testing.T) {
	for _, scenario := range []string{"client_credentials", "introspect", "mixed"} {
		t.Run(scenario, func(t *testing.T) {
			srv, served := fakeIssuer(t, gatehouseDiscovery)
			var out bytes.Buffer
			start := time.Now()
			err := run(t.Context(), []string{"-issuer", srv.URL, "-client-id", "load", "-client-secret", "s",
				"-scenario", scenario, "-concurrency", "4", "-requests", "50", "-duration", "1m"}, &out, func(string) string { return "" })
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if time.Since(start) > 30*time.Second {
				t.Errorf("run took %s: it did not stop at the request budget", time.Since(start))
			}
			want := int64(50)
			if scenario == "introspect" {
				want++ // the token it introspects
			}
			if got := served.Load(); got != want {
				t.Errorf("server saw %d requests, want %d", got, want)
			}
			if !strings.Contains(out.String(), "requests   50,") || !strings.Contains(out.String(), "errors     none") {
				t.Errorf("report does not show 50 requests without errors:\n%s", out.String())
			}
		})
	}
}

func TestRunReportsErrors(t *testing.T) {
	srv, _ := fakeIssuer(t, gatehouseDiscovery)
	var out bytes.Buffer
	err := run(t.Context(), []string{"-issuer", srv.URL, "-client-id", "load", "-client-secret", "wrong", "-requests", "10"},
		&out, func(string) string { return "" })
	if err == nil || !strings.Contains(out.String(), "401: 10") {
		t.Errorf("got error %v and report:\n%s\nwant an error and 401: 10", err, out.String())
	}
}

// TestDiscoveryElsewhere: a discovery document naming another host cannot
// aim the load there.
func TestDiscoveryElsewhere(t *testing.T) {
	srv, served := fakeIssuer(t, func(string) map[string]string {
		return gatehouseDiscovery("http://victim.example")
	})
	err := run(t.Context(), []string{"-issuer", srv.URL, "-client-id", "load", "-client-secret", "s", "-requests", "10"},
		&bytes.Buffer{}, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "not on the issuer's host") {
		t.Errorf("got error %v, want the endpoint refused", err)
	}
	if served.Load() != 0 {
		t.Errorf("%d requests sent", served.Load())
	}
}

func TestQuantile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := quantile(lat, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %s, want %s", tt.q, got, tt.want)
		}
	}
	if got := quantile(lat[:1], 0.5); got != time.Millisecond {
		t.Errorf("quantile of one = %s, want 1ms", got)
	}
}
