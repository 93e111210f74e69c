package wire

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listen returns a Unix listener in a fresh directory.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, path
}

func peerUID(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T hides its socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cred *unix.Ucred
	var cerr error
	raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cerr != nil {
		t.Fatal(cerr)
	}
	return cred.Uid
}

// One socket serves HTTP and plain requests; a client that sends nothing
// holds up neither; both keep the peer's credentials reachable; closing
// one side closes both.
func TestSplit(t *testing.T) {
	ln, path := listen(t)
	httpLn, plainLn := Split(ln, 200*time.Millisecond)

	uids := make(chan uint32, 2)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "http "+r.URL.Path) }),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			uids <- peerUID(t, c)
			return ctx
		},
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(httpLn) }()
	plainDone := make(chan error, 1)
	go func() {
		for {
			c, err := plainLn.Accept()
			if err != nil {
				plainDone <- err
				return
			}
			uids <- peerUID(t, c)
			req, _, err := ReadRequest(bufio.NewReader(c))
			if err == nil {
				c.Write(AppendAnswer(nil, Answer{Status: 200, Job: &JobState{JobID: strconv.FormatUint(req.Wait.ID, 10)}}))
			}
			c.Close()
		}
	}()

	silent, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return net.Dial("unix", path)
	}}}
	resp, err := hc.Get("http://bmcctld/v1/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "http /v1/ping" {
		t.Errorf("HTTP side answered %q", body)
	}
	js, err := NewClient(path).Wait(context.Background(), 42, "")
	if err != nil || js.JobID != "42" {
		t.Errorf("plain side: %+v, %v", js, err)
	}
	for range 2 {
		if uid := <-uids; uid != uint32(os.Getuid()) {
			t.Errorf("peer uid %d, want %d", uid, os.Getuid())
		}
	}
	// The silent client is dropped once its time to speak is over.
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := silent.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("silent client: read %d, %v; want the server to close it", n, err)
	}

	httpLn.Close()
	if err := <-plainDone; !errors.Is(err, net.ErrClosed) {
		t.Errorf("plain Accept after close: %v", err)
	}
	if err := <-httpDone; !errors.Is(err, net.ErrClosed) {
		t.Errorf("http Serve after close: %v", err)
	}
	if _, err := net.Dial("unix", path); err == nil {
		t.Error("the socket still accepts after close")
	}
}
