package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryPolicy says which addresses a pull may connect to. An ImageUri
// names any host, so without a policy a caller could make scfd fetch
// services bound to the host's loopback or the instances' networks.
//
// The zero value refuses loopback, link-local, unspecified and multicast
// addresses, and allows every other address.
type RegistryPolicy struct {
	// Allowed are registries ("host" or "host:port", as in an ImageUri)
	// reached even on a refused address. "*" allows every registry.
	// Empty means none.
	Allowed []string
	// Denied are networks refused beyond loopback, link-local, unspecified
	// and multicast, such as the instances' subnets. Empty means none.
	Denied []netip.Prefix
}

// errRefusedAddress marks a connection the policy refused.
var errRefusedAddress = errors.New("registry address refused")

// allows reports whether the registry at hostport ("host:port") is
// allowed whatever its address.
func (p RegistryPolicy) allows(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	for _, a := range p.Allowed {
		a = strings.TrimSpace(a)
		if a == "*" || strings.EqualFold(a, hostport) || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

// refused names why ip may not be connected to, or "" when it may.
func (p RegistryPolicy) refused(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsMulticast():
		return "a multicast address"
	}
	for _, n := range p.Denied {
		if n.Contains(ip) {
			return "an address of the instances' networks"
		}
	}
	return ""
}

// Transport returns an HTTP transport to registries (a clone of
// go-containerregistry's default) that connects only to addresses p
// allows. The check runs on the address actually connected to, after name
// resolution and on every redirect and token request, so neither a DNS
// name nor a redirect leads past it.
func (p RegistryPolicy) Transport() *http.Transport {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{
		Timeout:   30e9,
		KeepAlive: 30e9,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errRefusedAddress, address)
			}
			if why := p.refused(ap.Addr()); why != "" {
				return &refusedError{addr: address, why: why}
			}
			return nil
		},
	}
	plain := &net.Dialer{Timeout: 30e9, KeepAlive: 30e9}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p.allows(addr) {
			return plain.DialContext(ctx, network, addr)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return t
}

// refusedError is a connection the policy refused; its message is safe for
// callers.
type refusedError struct{ addr, why string }

func (e *refusedError) Error() string {
	return fmt.Sprintf("%s is %s; registries there are refused unless the administrator allows them (SCFD_ALLOWED_REGISTRIES)", e.addr, e.why)
}

func (e *refusedError) Unwrap() error { return errRefusedAddress }
