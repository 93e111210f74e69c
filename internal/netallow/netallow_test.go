package netallow

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAllows(t *testing.T) {
	l, err := Parse("--fetch-allow", []string{"kernels.example.org", "127.0.0.1:8080", "*.cdn.example", "[::1]:9000"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host, port string
		want       bool
	}{
		{"kernels.example.org", "443", true},
		{"KERNELS.example.org:8443", "443", true},
		{"kernels.example.org.", "80", true},
		{"evil.kernels.example.org", "443", false},
		{"127.0.0.1:8080", "80", true},
		{"127.0.0.1", "80", false},
		{"127.0.0.1:9151", "80", false},
		{"a.cdn.example", "443", true},
		{"cdn.example", "443", false},
		{"[::1]:9000", "80", true},
		{"[::1]:9151", "80", false},
		{"localhost:8080", "80", false},
	}
	for _, tt := range tests {
		if got := l.Allows(tt.host, tt.port); got != tt.want {
			t.Errorf("Allows(%q) = %v", tt.host, got)
		}
	}
	for _, bad := range []string{"http://x", "a*b", "*.", "u@host"} {
		if _, err := Parse("--fetch-allow", []string{bad}); err == nil || !strings.HasPrefix(err.Error(), "--fetch-allow: ") {
			t.Errorf("Parse(%q) = %v", bad, err)
		}
	}
}

func TestCheckURLMessages(t *testing.T) {
	var none List
	none = none.Named("--fetch-allow")
	err := none.CheckURL("http://127.0.0.1:9151/metrics")
	if !errors.Is(err, ErrNotAllowed) || err.Error() != "host not allowed: 127.0.0.1:9151: bmcctld fetches from no host (an admin lists hosts with --fetch-allow)" {
		t.Fatalf("%v", err)
	}
	for _, u := range []string{"file:///etc/passwd", "ftp://x/y", "http://"} {
		if err := none.CheckURL(u); err == nil || !strings.Contains(err.Error(), "is not an http(s) URL") {
			t.Errorf("CheckURL(%q) = %v", u, err)
		}
	}
}

func TestTransportHoldsRedirects(t *testing.T) {
	off := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request reached a host off the list: %s", r.URL)
	}))
	defer off.Close()
	on := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, off.URL+"/x", http.StatusFound)
	}))
	defer on.Close()
	l, _ := Parse("--fetch-allow", []string{strings.TrimPrefix(on.URL, "http://")})
	c := &http.Client{Transport: l.Transport(nil)}
	_, err := c.Get(on.URL)
	if !errors.Is(err, ErrNotAllowed) {
		t.Fatalf("redirect: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"example.org", "*.example.org", "127.0.0.1:80", "[::1]:1", "a:b:c"} {
		f.Add(s, "example.org:443")
	}
	f.Fuzz(func(t *testing.T, pattern, host string) {
		l, err := Parse("--x", []string{pattern})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--x: ") {
				t.Fatalf("error without the flag: %v", err)
			}
			return
		}
		// A pattern allows the host it names, port included.
		if l.Empty() {
			return
		}
		_ = l.Allows(host, "443")
		if e := l.entries[0]; e.host != "" && e.port != "" && !l.Allows(e.host+":"+e.port, "1") && !strings.Contains(e.host, ":") {
			t.Fatalf("%q does not allow %s:%s", pattern, e.host, e.port)
		}
	})
}
