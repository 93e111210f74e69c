package agent

import (
	"errors"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
# comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
broken line
bad:x:notanumber:0::/:/bin/sh
app:x:1000:1001:App,,,::/bin/sh
`

func TestLookupUser(t *testing.T) {
	tests := []struct {
		passwd, name string
		want         User
		err          error
	}{
		{testPasswd, "", User{Name: "root", UID: 0, GID: 0, Home: "/root"}, nil},
		{testPasswd, "daemon", User{Name: "daemon", UID: 1, GID: 1, Home: "/usr/sbin"}, nil},
		{testPasswd, "app", User{Name: "app", UID: 1000, GID: 1001, Home: "/"}, nil},
		{testPasswd, "1000", User{Name: "app", UID: 1000, GID: 1001, Home: "/"}, nil},
		{testPasswd, "4242", User{Name: "4242", UID: 4242, GID: 4242, Home: "/"}, nil},
		{"", "root", User{Name: "root", Home: "/root"}, nil},
		{testPasswd, "bad", User{}, ErrUnknownUser},
		{testPasswd, "nobody", User{}, ErrUnknownUser},
	}
	for _, tt := range tests {
		got, err := LookupUser(strings.NewReader(tt.passwd), tt.name)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("LookupUser(%q) = %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func FuzzLookupUser(f *testing.F) {
	f.Add(testPasswd, "app")
	f.Add("a:b:1:2:c:d:e\n", "1")
	f.Fuzz(func(t *testing.T, passwd, name string) {
		u, err := LookupUser(strings.NewReader(passwd), name)
		if err == nil && u.Home == "" {
			t.Fatalf("user %+v without home", u)
		}
	})
}
