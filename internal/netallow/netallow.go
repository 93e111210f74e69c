// Package netallow owns the admin's list of hosts bmcctld may contact on a
// user's behalf (kernel and initrd URLs, image registries), and an HTTP
// transport that holds every request, redirects and token fetches included,
// to that list.
package netallow

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ErrNotAllowed is a host that is not on the list.
var ErrNotAllowed = errors.New("host not allowed")

// List is a set of host patterns: "host" (any port), "host:port", or
// "*.domain" (any subdomain, any port). The zero List allows nothing.
type List struct {
	entries []entry
	flag    string // the flag that sets it, for messages
}

type entry struct {
	host     string // lower case; "" for a wildcard
	suffix   string // ".domain" for "*.domain"
	port     string // "" = any
	original string
}

// Parse reads patterns as an admin writes them. flag names the setting in
// the errors users see ("--fetch-allow").
func Parse(flag string, patterns []string) (List, error) {
	l := List{flag: flag}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		e := entry{original: p}
		hostport := strings.ToLower(p)
		if strings.Contains(hostport, "/") || strings.Contains(hostport, "@") {
			return List{}, fmt.Errorf("%s: %q: want host, host:port or *.domain, not a URL", flag, p)
		}
		host := hostport
		if h, port, err := net.SplitHostPort(hostport); err == nil {
			host, e.port = h, port
		}
		host = strings.Trim(host, "[]")
		if d, ok := strings.CutPrefix(host, "*."); ok {
			if d == "" || strings.Contains(d, "*") {
				return List{}, fmt.Errorf("%s: %q: a wildcard is one leading *.", flag, p)
			}
			e.suffix = "." + d
		} else {
			if host == "" || strings.Contains(host, "*") {
				return List{}, fmt.Errorf("%s: %q: not a host", flag, p)
			}
			e.host = host
		}
		l.entries = append(l.entries, e)
	}
	return l, nil
}

// Named returns l with flag as the setting its errors name, when it has
// none (a zero List).
func (l List) Named(flag string) List {
	if l.flag == "" {
		l.flag = flag
	}
	return l
}

// Empty reports whether the list allows nothing.
func (l List) Empty() bool { return len(l.entries) == 0 }

// String lists the patterns as written.
func (l List) String() string {
	var s []string
	for _, e := range l.entries {
		s = append(s, e.original)
	}
	return strings.Join(s, ",")
}

// Allows reports whether hostport ("host" or "host:port") is on the list.
// defaultPort is the port a URL without one means ("443" for https).
func (l List) Allows(hostport, defaultPort string) bool {
	host, port := strings.ToLower(hostport), defaultPort
	if h, p, err := net.SplitHostPort(host); err == nil {
		host, port = h, p
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return slices.ContainsFunc(l.entries, func(e entry) bool {
		if e.port != "" && e.port != port {
			return false
		}
		if e.suffix != "" {
			return strings.HasSuffix(host, e.suffix)
		}
		return host == e.host
	})
}

// CheckURL returns nil for an http(s) URL whose host is on the list, and a
// one-line error that names the flag otherwise.
func (l List) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s: URLs with credentials are refused", ErrNotAllowed, u.Redacted())
	}
	return l.checkHost(u)
}

func (l List) checkHost(u *url.URL) error {
	port := "80"
	if u.Scheme == "https" {
		port = "443"
	}
	if l.Allows(u.Host, port) {
		return nil
	}
	if l.Empty() {
		return fmt.Errorf("%w: %s: bmcctld fetches from no host (an admin lists hosts with %s)", ErrNotAllowed, u.Host, l.flag)
	}
	return fmt.Errorf("%w: %s is not in %s (%s)", ErrNotAllowed, u.Host, l.flag, l)
}

// Transport wraps base so that a request to a host off the list fails
// before it is sent. Redirects and registry token realms are requests of
// their own, so they are held to the list too.
func (l List) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{l, base}
}

type transport struct {
	l    List
	base http.RoundTripper
}

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := t.l.checkHost(r.URL); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return t.base.RoundTrip(r)
}
