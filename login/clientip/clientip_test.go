package clientip

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "fd00::/8", "192.0.2.9"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proxies Proxies
		remote  string
		xff     []string // one header line each
		header  http.Header
		want    string
	}{
		// No proxy trusted: the header is never read.
		{name: "no proxies, no header", remote: "203.0.113.7:5000", want: "203.0.113.7"},
		{name: "no proxies, spoofed header", remote: "203.0.113.7:5000", xff: []string{"198.51.100.1"}, want: "203.0.113.7"},

		// An untrusted peer's header is ignored, whatever it claims.
		{name: "untrusted peer, spoofed header", proxies: proxies, remote: "203.0.113.7:5000", xff: []string{"198.51.100.1"}, want: "203.0.113.7"},
		{name: "untrusted peer claims a trusted chain", proxies: proxies, remote: "203.0.113.7:5000", xff: []string{"198.51.100.1, 10.0.0.2"}, want: "203.0.113.7"},
		{name: "untrusted IPv6 peer", proxies: proxies, remote: "[2001:db8::7]:5000", xff: []string{"198.51.100.1"}, want: "2001:db8::7"},

		// A trusted proxy: the rightmost address it did not write itself.
		{name: "trusted proxy, no header", proxies: proxies, remote: "10.0.0.1:5000", want: "10.0.0.1"},
		{name: "trusted proxy, one client", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "trusted single address", proxies: proxies, remote: "192.0.2.9:5000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "spoofed entries left of the client", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"6.6.6.6, 1.1.1.1, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "client spoofs a trusted address", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"10.9.9.9, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "chain of proxies", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"6.6.6.6, 203.0.113.7, 10.0.0.3, 10.0.0.2"}, want: "203.0.113.7"},
		{name: "chain across header lines", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"6.6.6.6, 203.0.113.7", "10.0.0.3", "10.0.0.2"}, want: "203.0.113.7"},
		{name: "every entry trusted", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.1"},
		{name: "empty list elements", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{" , 203.0.113.7 ,, ", ""}, want: "203.0.113.7"},
		{name: "empty header", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{""}, want: "10.0.0.1"},

		// Malformed entries are never the answer, and end the walk.
		{name: "malformed rightmost", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.7, garbage"}, want: "10.0.0.1"},
		{name: "unknown from a proxy", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.7, unknown, 10.0.0.2"}, want: "10.0.0.1"},
		{name: "malformed left of the client", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"<script>, 203.0.113.7"}, want: "203.0.113.7"},
		{name: "address with a bad port", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.7:http"}, want: "10.0.0.1"},
		{name: "CIDR is no address", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.0/24"}, want: "10.0.0.1"},

		// Ports, as some proxies write them.
		{name: "IPv4 with port", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.7:4711"}, want: "203.0.113.7"},
		{name: "IPv6", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{name: "IPv6 with port", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"[2001:db8::7]:4711"}, want: "2001:db8::7"},
		{name: "IPv6 bracketed", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"[2001:db8::7]"}, want: "2001:db8::7"},
		{name: "IPv6 zone dropped", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"fe80::7%eth0"}, want: "fe80::7"},
		{name: "IPv6 proxy", proxies: proxies, remote: "[fd00::1]:5000", xff: []string{"2001:db8::7, fd00::2"}, want: "2001:db8::7"},

		// IPv4-mapped addresses are their IPv4 selves, peer and entries alike.
		{name: "mapped peer is trusted", proxies: proxies, remote: "[::ffff:10.0.0.1]:5000", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
		{name: "mapped client", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"::ffff:203.0.113.7"}, want: "203.0.113.7"},
		{name: "mapped trusted entry", proxies: proxies, remote: "10.0.0.1:5000", xff: []string{"203.0.113.7, ::ffff:10.0.0.2"}, want: "203.0.113.7"},
		{name: "mapped untrusted peer", proxies: proxies, remote: "[::ffff:203.0.113.7]:5000", xff: []string{"198.51.100.1"}, want: "203.0.113.7"},

		// Only X-Forwarded-For is read: a proxy that sets it passes other
		// headers through as the client sent them.
		{name: "Forwarded is not read", proxies: proxies, remote: "10.0.0.1:5000",
			header: http.Header{"Forwarded": {"for=198.51.100.1"}, "X-Real-Ip": {"198.51.100.1"}}, want: "10.0.0.1"},

		// A connection address that is no address is reported as given.
		{name: "unparseable peer", proxies: proxies, remote: "@", xff: []string{"203.0.113.7"}, want: "@"},
		{name: "peer without port", proxies: proxies, remote: "10.0.0.1", xff: []string{"203.0.113.7"}, want: "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for k, v := range tt.header {
				r.Header[k] = v
			}
			for _, line := range tt.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			if got := tt.proxies.ClientIP(r); got != tt.want {
				t.Errorf("ClientIP(remote %s, X-Forwarded-For %q) = %q, want %q", tt.remote, tt.xff, got, tt.want)
			}
		})
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		in, want string
		err      string
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 10.0.0.0/8 ", want: "10.0.0.0/8"},
		{in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{in: "192.0.2.9", want: "192.0.2.9/32"},
		{in: "2001:db8::1", want: "2001:db8::1/128"},
		{in: "fd00::/8", want: "fd00::/8"},
		{in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{in: "::ffff:192.0.2.9", want: "192.0.2.9/32"},
		{in: "0.0.0.0/0", err: "trusts every address"},
		{in: "::/0", err: "trusts every address"},
		{in: "::ffff:0.0.0.0/96", err: "trusts every address"},
		{in: "10.0.0.0/33", err: "is not a CIDR range"},
		{in: "proxy.internal", err: "is not a CIDR range"},
		{in: "fe80::1%eth0", err: "is not a CIDR range"},
		{in: "", err: "is not a CIDR range"},
	}
	for _, tt := range tests {
		got, err := ParsePrefix(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParsePrefix(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got.String() != tt.want):
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}
