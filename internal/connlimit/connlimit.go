// Package connlimit caps how many connections a listener keeps open, per
// peer and in total, so that one user (or one hostile node) holding
// thousands of idle connections cannot use up bmcctld's file descriptors.
// Privileged peers (root and admins on the user socket) are not held to the
// per-peer cap and have slots of their own above the total, so they always
// get through. A refused connection is closed at once.
package connlimit

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Limits are a listener's caps. Zero means no cap.
type Limits struct {
	// Total is how many connections unprivileged peers hold together.
	Total int
	// PerPeer is how many one unprivileged peer holds.
	PerPeer int
	// Reserve is how many more privileged peers may hold beyond Total.
	Reserve int
}

// Peer names who is at the other end of a connection, and whether they
// are privileged. Privileged is asked only when a cap would refuse, since
// it may consult the user database.
type Peer interface {
	Key(net.Conn) (string, bool)
	Privileged(key string) bool
}

// Listener is a net.Listener whose Accept returns only connections within
// the limits.
type Listener struct {
	net.Listener
	lim  Limits
	peer Peer

	mu      sync.Mutex
	total   int
	perPeer map[string]int
	refused atomic.Int64
}

// Wrap caps ln's connections.
func Wrap(ln net.Listener, lim Limits, peer Peer) *Listener {
	return &Listener{Listener: ln, lim: lim, peer: peer, perPeer: map[string]int{}}
}

// Refused is how many connections were closed for a cap.
func (l *Listener) Refused() int64 { return l.refused.Load() }

// Open is how many accepted connections are still open.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// Accept waits for the next connection within the limits; those over a
// cap are closed without an answer.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, ok := l.peer.Key(c)
		if !ok {
			// Nobody to count it against: it cannot be answered either.
			l.refused.Add(1) // before the close, which the client sees
			c.Close()
			continue
		}
		if l.admit(key) {
			return &conn{Conn: c, release: func() { l.release(key) }}, nil
		}
		l.refused.Add(1)
		c.Close()
	}
}

func (l *Listener) admit(key string) bool {
	l.mu.Lock()
	within := (l.lim.Total == 0 || l.total < l.lim.Total) && (l.lim.PerPeer == 0 || l.perPeer[key] < l.lim.PerPeer)
	l.mu.Unlock()
	if !within {
		// Outside the lock: the user database may be slow.
		if !l.peer.Privileged(key) {
			return false
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !within && l.lim.Total > 0 && l.total >= l.lim.Total+l.lim.Reserve {
		return false
	}
	l.total++
	l.perPeer[key]++
	return true
}

func (l *Listener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perPeer[key]--; l.perPeer[key] <= 0 {
		delete(l.perPeer, key)
	}
}

// conn gives its slot back once, on the first Close.
type conn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SetLinger reaches a TCP socket underneath: the node listener resets a
// switched-off machine's idle connections with SO_LINGER 0 (package boot).
func (c *conn) SetLinger(sec int) error {
	if l, ok := c.Conn.(interface{ SetLinger(int) error }); ok {
		return l.SetLinger(sec)
	}
	return syscall.EINVAL
}

// SyscallConn reaches the socket underneath, for SO_PEERCRED.
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}

// UID is the uid of a Unix socket's peer, as the kernel reports it
// (SO_PEERCRED); false for anything else.
func UID(c net.Conn) (uint32, bool) {
	cred := PeerCred(c)
	if cred == nil {
		return 0, false
	}
	return cred.Uid, true
}

// PeerCred asks the kernel who is at the other end of a Unix socket (nil
// for anything else). c may wrap the socket as long as it reaches it
// through syscall.Conn.
func PeerCred(c net.Conn) *unix.Ucred {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *unix.Ucred
	cerr := raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cerr != nil || err != nil {
		return nil
	}
	return cred
}

// ByHost counts TCP peers by their address; none is privileged (the node
// listener's peers are machines whose jobs run as root).
type ByHost struct{}

// Key is the peer's IP address.
func (ByHost) Key(c net.Conn) (string, bool) {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	return host, err == nil
}

// Privileged is false: no host gets more.
func (ByHost) Privileged(string) bool { return false }
