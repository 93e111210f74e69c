package wire

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Split serves two protocols on one listener. It reads the first bytes of
// each connection: those that start with Magic are accepted from plain,
// all others from http (which then reads those bytes again). The bytes are
// read in the connection's own goroutine under sniffTimeout, so a client
// that sends nothing holds up no one. Closing either listener closes ln.
//
// The connections keep the socket underneath reachable through
// syscall.Conn, so the server can still ask the kernel who the peer is
// (SO_PEERCRED).
func Split(ln net.Listener, sniffTimeout time.Duration) (http, plain net.Listener) {
	s := &splitter{ln: ln, timeout: sniffTimeout, done: make(chan struct{})}
	s.http = &splitListener{s: s, conns: make(chan net.Conn)}
	s.plain = &splitListener{s: s, conns: make(chan net.Conn)}
	go s.accept()
	return s.http, s.plain
}

type splitter struct {
	ln          net.Listener
	timeout     time.Duration
	http, plain *splitListener
	done        chan struct{}
	once        sync.Once
	err         error // why accepting stopped; set before done closes
}

func (s *splitter) accept() {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				s.close(net.ErrClosed)
				return
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http's own accept loop does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(delay):
				continue
			case <-s.done:
				return
			}
		}
		delay = 0
		go s.route(c)
	}
}

func (s *splitter) route(c net.Conn) {
	head := make([]byte, len(Magic))
	c.SetReadDeadline(time.Now().Add(s.timeout))
	n, err := io.ReadFull(c, head)
	c.SetReadDeadline(time.Time{})
	if err != nil {
		// Fewer bytes than any request: nothing to answer.
		c.Close()
		return
	}
	to := s.http
	if string(head[:n]) == Magic {
		to = s.plain
	}
	select {
	case to.conns <- &Conn{Conn: c, head: head}:
	case <-s.done:
		c.Close()
	}
}

func (s *splitter) close(err error) error {
	var cerr error
	s.once.Do(func() {
		s.err = err
		close(s.done)
		cerr = s.ln.Close()
	})
	return cerr
}

type splitListener struct {
	s     *splitter
	conns chan net.Conn
}

func (l *splitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.s.done:
		return nil, l.s.err
	}
}

func (l *splitListener) Close() error   { return l.s.close(net.ErrClosed) }
func (l *splitListener) Addr() net.Addr { return l.s.ln.Addr() }

// Conn is an accepted connection whose first bytes were read to choose
// the protocol; Read returns them again first.
type Conn struct {
	net.Conn
	head []byte
}

func (c *Conn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// SyscallConn reaches the socket underneath, for SO_PEERCRED.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("wire: connection has no socket underneath")
	}
	return sc.SyscallConn()
}

// CloseWrite half-closes the socket, which net/http uses to end a response.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
