package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// addrPattern is a compiled address pattern (see the package doc). The zero value matches
// nothing, as an empty pattern does in RocketMQ.
type addrPattern struct {
	src    string
	any    bool
	exact  []netip.Addr
	octets *[4]octetRange // an IPv4 pattern with wildcards or ranges
}

type octetRange struct{ lo, hi int }

// parseAddrPattern compiles one pattern.
func parseAddrPattern(s string) (addrPattern, error) {
	s = strings.TrimSpace(s)
	p := addrPattern{src: s}
	switch {
	case s == "":
		return p, nil
	case s == "*" || s == "*.*.*.*" || s == "*:*:*:*:*:*:*:*":
		p.any = true
		return p, nil
	case strings.HasSuffix(s, "}"):
		return parseAddrSet(s)
	case strings.Contains(s, ","):
		for _, a := range strings.Split(s, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(a))
			if err != nil {
				return p, fmt.Errorf("acl: address %q in %q: %w", a, s, err)
			}
			p.exact = append(p.exact, ip.Unmap())
		}
		return p, nil
	case strings.ContainsAny(s, "*-"):
		if strings.Contains(s, ":") {
			return p, fmt.Errorf("acl: address pattern %q: IPv6 ranges are not supported", s)
		}
		return parseOctets(s)
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return p, fmt.Errorf("acl: address pattern %q: %w", s, err)
	}
	p.exact = []netip.Addr{ip.Unmap()}
	return p, nil
}

// parseAddrSet reads "a.b.c.{x,y,z}".
func parseAddrSet(s string) (addrPattern, error) {
	p := addrPattern{src: s}
	open := strings.LastIndexByte(s, '{')
	if open < 0 || !strings.HasSuffix(s[:open], ".") {
		return p, fmt.Errorf("acl: address pattern %q: want a.b.c.{x,y}", s)
	}
	for _, last := range strings.Split(s[open+1:len(s)-1], ",") {
		a := s[:open] + strings.TrimSpace(last)
		ip, err := netip.ParseAddr(a)
		if err != nil || !ip.Is4() {
			return p, fmt.Errorf("acl: address %q in %q is not IPv4", a, s)
		}
		p.exact = append(p.exact, ip)
	}
	return p, nil
}

// parseOctets reads an IPv4 pattern whose octets are numbers, "*" or "lo-hi".
func parseOctets(s string) (addrPattern, error) {
	p := addrPattern{src: s}
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return p, fmt.Errorf("acl: address pattern %q: want four octets", s)
	}
	var o [4]octetRange
	for i, part := range parts {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		var err error
		switch {
		case part == "*":
			o[i] = octetRange{0, 255}
		case isRange:
			o[i].lo, err = octet(lo)
			if err == nil {
				o[i].hi, err = octet(hi)
			}
			if err == nil && o[i].lo > o[i].hi {
				err = fmt.Errorf("range %s is empty", part)
			}
		default:
			o[i].lo, err = octet(part)
			o[i].hi = o[i].lo
		}
		if err != nil {
			return p, fmt.Errorf("acl: address pattern %q: %w", s, err)
		}
	}
	p.octets = &o
	return p, nil
}

func octet(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("%q is not an octet 0-255", s)
	}
	return n, nil
}

// match reports whether ip matches the pattern.
func (p addrPattern) match(ip netip.Addr) bool {
	if p.any {
		return true
	}
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap()
	for _, e := range p.exact {
		if e == ip {
			return true
		}
	}
	if p.octets != nil && ip.Is4() {
		b := ip.As4()
		for i, r := range p.octets {
			if int(b[i]) < r.lo || int(b[i]) > r.hi {
				return false
			}
		}
		return true
	}
	return false
}

// remoteIP parses a remote address, "ip:port" or "ip"; an invalid one is the zero Addr.
func remoteIP(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap()
	}
	ip, _ := netip.ParseAddr(remote)
	return ip.Unmap()
}
