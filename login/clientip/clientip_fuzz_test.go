package clientip

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP checks ClientIP against its documented rule on any
// connection address, X-Forwarded-For lines and trusted proxy list.
// Properties: with no trusted proxies, or from an untrusted peer, the
// answer is the connection's address whatever the header says. From a
// trusted peer the answer is either an address from the header that is
// not a trusted proxy, with every entry right of it a well-formed trusted
// address, or the peer itself, and then no well-formed untrusted entry
// lies right of the first malformed one. So the answer is a trusted proxy
// only when every hop it could have named was trusted.
func FuzzClientIP(f *testing.F) {
	for _, s := range []struct{ proxies, remote, xff1, xff2 string }{
		{"", "203.0.113.7:5000", "198.51.100.1", ""},
		{"10.0.0.0/8,fd00::/8,192.0.2.9", "203.0.113.7:5000", "198.51.100.1, 10.0.0.2", ""},
		{"10.0.0.0/8,fd00::/8,192.0.2.9", "10.0.0.1:5000", "6.6.6.6, 203.0.113.7, 10.0.0.3", "10.0.0.2"},
		{"10.0.0.0/8", "10.0.0.1:5000", "10.0.0.3, 10.0.0.2", ""},
		{"10.0.0.0/8", "10.0.0.1:5000", "203.0.113.7, unknown, 10.0.0.2", ""},
		{"10.0.0.0/8", "10.0.0.1:5000", " , 203.0.113.7 ,, ", ""},
		{"10.0.0.0/8", "[::ffff:10.0.0.1]:5000", "::ffff:203.0.113.7", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.1:5000", "[2001:db8::7]:4711", "fe80::7%eth0"},
		{"fd00::/8", "[fd00::1%lo]:5000", "[2001:db8::7]", ""},
		{"10.0.0.0/8", "@", "1.2.3.4", ""},
		{"10.0.0.0/8", "", "1.2.3.4", ""},
		{"10.0.0.0/8", "10.0.0.1", "[::1", "::1]"},
		{"10.0.0.0/8", "10.0.0.1:5000", "203.0.113.7:http", "\x00"},
		{"0.0.0.0/1,128.0.0.0/1", "10.0.0.1:5000", "1.2.3.4", ""},
	} {
		f.Add(s.proxies, s.remote, s.xff1, s.xff2)
	}
	f.Fuzz(func(t *testing.T, list, remote, xff1, xff2 string) {
		var entries []string
		if list != "" {
			entries = strings.Split(list, ",")
		}
		proxies, err := ParseProxies(entries)
		if err != nil {
			return
		}
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		for _, line := range []string{xff1, xff2} {
			r.Header.Add("X-Forwarded-For", line)
		}
		got := proxies.ClientIP(r)

		noHeader := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		if want := (Proxies{}).ClientIP(noHeader); (Proxies{}).ClientIP(r) != want {
			t.Fatalf("no trusted proxies: header changed the answer from %q", want)
		}
		peer, ok := parseAddr(remote)
		if !ok {
			if got != (Proxies{}).ClientIP(noHeader) {
				t.Fatalf("peer %q is no address, yet the answer %q is not it", remote, got)
			}
			return
		}
		if (Proxies{}).ClientIP(r) != peer.String() {
			t.Fatalf("no trusted proxies: got %q, want the peer %q", (Proxies{}).ClientIP(r), peer)
		}
		if !proxies.trusts(peer) {
			if got != peer.String() {
				t.Fatalf("untrusted peer %q: got %q", peer, got)
			}
			return
		}

		var hops []string
		for _, line := range []string{xff1, xff2} {
			for _, e := range strings.Split(line, ",") {
				if e = strings.TrimSpace(e); e != "" {
					hops = append(hops, e)
				}
			}
		}
		// Walk from the right: the answer must be the first well-formed
		// untrusted entry before any malformed one, else the peer.
		want := peer.String()
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseAddr(hops[i])
			if !ok {
				break
			}
			if !proxies.trusts(a) {
				want = a.String()
				break
			}
		}
		if got != want {
			t.Fatalf("peer %q, hops %q: got %q, want %q", peer, hops, got, want)
		}
		a, err := netip.ParseAddr(got)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("answer %q is not one plain spelling of an address", got)
		}
		if got != peer.String() && proxies.trusts(a) {
			t.Fatalf("answer %q is a trusted proxy", got)
		}
	})
}

// FuzzParsePrefix checks ParsePrefix on any string. Property: an accepted
// prefix never holds every address of its family (bits > 0), is masked, is
// never an IPv4-mapped range (it is stored unmapped), and reading its own
// spelling gives the same prefix back.
func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "fd00::/8", "192.0.2.9", "::ffff:10.0.0.0/104", "::ffff:0.0.0.0/96",
		"0.0.0.0/0", "::/0", "10.1.2.3/8", " 10.0.0.1 ", "fe80::1%eth0", "fe80::1%eth0/64", "1.2.3.4/33", "", "/", "::ffff:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if p.Bits() <= 0 {
			t.Fatalf("%q gave %v, which trusts every address", s, p)
		}
		if p != p.Masked() {
			t.Fatalf("%q gave unmasked %v", s, p)
		}
		if p.Addr().Is4In6() {
			t.Fatalf("%q gave mapped %v", s, p)
		}
		again, err := ParsePrefix(p.String())
		if err != nil || again != p {
			t.Fatalf("%q gave %v, which reads back as %v, %v", s, p, again, err)
		}
	})
}
