package boot

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// A keep-alive connection a node left open is reset before its next
// power-on; another node's, or a request in flight, is not touched.
func TestResetIdleConns(t *testing.T) {
	e := newEnv(t)
	idle := make(chan struct{}, 4)
	srv := httptest.NewUnstartedServer(e.srv)
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		e.srv.ConnState(c, st)
		if st == http.StateIdle {
			idle <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "GET /no-such-route HTTP/1.1\r\nHost: n\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	<-idle

	if n := e.srv.ResetIdleConns(netip.MustParseAddr("10.77.1.1")); n != 0 {
		t.Fatalf("another node's address reset %d connections", n)
	}
	if n := e.srv.ResetIdleConns(netip.MustParseAddr("127.0.0.1")); n != 1 {
		t.Fatalf("reset %d connections, want the one idle keep-alive", n)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute)) // a bound, not a wait: the reset arrives at once
	_, err = br.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("read after the reset: %v, want the connection gone", err)
	}
}
