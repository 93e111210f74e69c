package connlimit

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// keyed names each accepted connection by the next key the test queued.
type keyed struct{ keys chan string }

func (k keyed) Key(net.Conn) (string, bool) { return <-k.keys, true }
func (keyed) Privileged(key string) bool    { return key == "root" }

func TestCaps(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peer := keyed{keys: make(chan string, 1)}
	ln := Wrap(raw, Limits{Total: 3, PerPeer: 2, Reserve: 1}, peer)
	defer ln.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var server []net.Conn
	dial := func(key string, admit bool) {
		t.Helper()
		peer.keys <- key
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if admit {
			select {
			case s := <-accepted:
				server = append(server, s)
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: not admitted", key)
			}
			return
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s: admitted over the cap", key)
			}
		}
	}
	steps := []struct {
		key   string
		admit bool
	}{
		{"u1", true}, {"u1", true}, {"u1", false}, // per peer
		{"u2", true}, {"u3", false}, // total
		{"root", true}, {"root", false}, // the reserve, then nothing more
	}
	for _, s := range steps {
		dial(s.key, s.admit)
	}
	if got := ln.Refused(); got != 3 {
		t.Errorf("refused %d, want 3", got)
	}
	// Privileged connections count in the total too, while they last.
	server[0].Close()
	server[0].Close() // a second Close gives nothing back twice
	server[3].Close()
	if ln.Open() != 2 {
		t.Errorf("open %d after two closes, want 2", ln.Open())
	}
	dial("u3", true)
	dial("u4", false)
	// The wrapper passes SO_LINGER on to the TCP socket (package boot
	// resets a switched-off node's idle connections with it).
	l, ok := server[len(server)-1].(interface{ SetLinger(int) error })
	if !ok || l.SetLinger(0) != nil {
		t.Error("SetLinger does not reach the socket")
	}
}
