package api

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestClientNamesACapsRefusal: bmcctld's connection caps close a fresh
// connection without reading it. However the close meets the request
// (before net/http writes it, while it writes, or after), the user is told
// about the caps, not "server closed idle connection".
func TestClientNamesACapsRefusal(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c := NewClient(sock)
	for i := range 200 {
		_, err := c.Nodes(context.Background())
		if err == nil || !strings.Contains(err.Error(), "bmcctld closed the connection unanswered: too many connections are open") {
			t.Fatalf("try %d: %v", i, err)
		}
	}
}
