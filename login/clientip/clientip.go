// Package clientip finds the address a request came from. Behind a reverse
// proxy the connection's address is the proxy's, and the client's is in
// X-Forwarded-For; anyone can send that header, so it is read only on a
// connection from a proxy the operator trusts, and only as far back as the
// chain of trusted proxies reaches.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies whose X-Forwarded-For is believed. The
// zero value trusts none: every client is its connection's address.
type Proxies struct {
	trusted []netip.Prefix
}

// ParseProxies reads a list of trusted proxies, each a CIDR range
// (10.0.0.0/8, fd00::/8) or a single address. It refuses a range holding
// every address, which would let any client choose its own address.
func ParseProxies(list []string) (Proxies, error) {
	var p Proxies
	for _, s := range list {
		prefix, err := ParsePrefix(s)
		if err != nil {
			return Proxies{}, err
		}
		p.trusted = append(p.trusted, prefix)
	}
	return p, nil
}

// ParsePrefix reads one trusted proxy: a CIDR range or a single address.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	var prefix netip.Prefix
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8 or an address", s)
		}
		prefix = p
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR range such as 10.0.0.0/8 or an address", s)
		}
		prefix = netip.PrefixFrom(a, a.BitLen())
	}
	// Addresses are compared unmapped, so ::ffff:10.0.0.0/104 is 10.0.0.0/8.
	if a := prefix.Addr(); a.Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(a.Unmap(), prefix.Bits()-96)
	}
	if prefix.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q trusts every address: any client could choose its own; list the proxies' addresses", s)
	}
	return prefix.Masked(), nil
}

// trusts reports whether a is one of the proxies.
func (p Proxies) trusts(a netip.Addr) bool {
	for _, prefix := range p.trusted {
		if prefix.Contains(a) {
			return true
		}
	}
	return false
}

// Trusted reports whether r came straight from one of the proxies, so
// that what it says of the request it forwards (its X-Forwarded-* and
// X-Original-URL headers) may be believed.
func (p Proxies) Trusted(r *http.Request) bool {
	peer, ok := parseAddr(r.RemoteAddr)
	return ok && p.trusts(peer)
}

// ClientIP is the address r came from. On a connection from a trusted
// proxy it is the rightmost address in X-Forwarded-For that is not itself
// a trusted proxy: each proxy appends the address it was connected from,
// so everything right of that address was written by a proxy we trust and
// everything left of it by someone we do not. An entry that is not an
// address (a typo, "unknown", a proxy's obfuscated name) ends the walk,
// since what lies left of it came through a hop nobody can vouch for; then,
// as with no header, the answer is the connection's address.
func (p Proxies) ClientIP(r *http.Request) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		// Not an address (a unix socket, a test's made-up value): report
		// it as given, host part only when it has one.
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return host
		}
		return r.RemoteAddr
	}
	if !p.trusts(peer) {
		return peer.String()
	}
	entries := forwardedFor(r.Header)
	for i := len(entries) - 1; i >= 0; i-- {
		a, ok := parseAddr(entries[i])
		if !ok {
			break
		}
		if !p.trusts(a) {
			return a.String()
		}
	}
	return peer.String()
}

// forwardedFor is every X-Forwarded-For entry, in order, across however
// many header lines carry them. Empty list elements are skipped, as HTTP
// list syntax allows them.
func forwardedFor(h http.Header) []string {
	var out []string
	for _, line := range h.Values("X-Forwarded-For") {
		for e := range strings.SplitSeq(line, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// parseAddr reads an address as proxies write it: bare (192.0.2.1,
// 2001:db8::1), with a port (192.0.2.1:4711, [2001:db8::1]:4711) or
// bracketed without one ([2001:db8::1]). It unmaps IPv4-mapped addresses and
// drops zones, so one client has one spelling.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		switch {
		case perr == nil:
			a = ap.Addr()
		case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}
