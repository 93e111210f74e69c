package apiserver

import (
	"io"
	"sync"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/ctld"
)

// rows are a queue listing's rows as who may see them, built one at a time
// while the answer is written: a listing of 10,000 jobs never holds 10,000
// rows (3 MB of api.JobInfo, garbage right after; bench/README.md, "Daemon
// memory and CPU per submit").
type rows struct {
	s   *Server
	who ctld.Identity
	l   *ctld.Listing
}

func (s *Server) rows(who ctld.Identity, l *ctld.Listing) rows { return rows{s: s, who: who, l: l} }

// jobRows is what writeJobList encodes: rows (or, in tests, fixed ones).
type jobRows interface {
	Null() bool
	Len() int
	Row(i int) api.JobInfo
}

// Null reports a listing that the JSON answer writes as null.
func (r rows) Null() bool { return r.l == nil || r.l.Null() }

// Len is the number of rows; 0 for no listing (an error's answer).
func (r rows) Len() int {
	if r.l == nil {
		return 0
	}
	return r.l.Len()
}

// Row is the i-th row, with what who may not see of others' jobs blanked.
func (r rows) Row(i int) api.JobInfo {
	in := r.l.Row(i)
	r.s.redactJob(r.who, &in)
	return in
}

// chunkSize is how much of an answer is gathered before a write: big enough
// that 10,000 rows take ~90 writes, small enough to come from a pool.
const chunkSize = 32 << 10

// chunks gathers an answer in a pooled buffer and writes it in pieces of
// about chunkSize.
type chunks struct {
	pool *sync.Pool
	w    io.Writer
	buf  []byte
	err  error
}

// chunks starts an answer to w in a buffer from the server's pool, which
// keeps them between requests: a listing allocates no buffer of its own.
func (s *Server) chunks(w io.Writer) *chunks {
	c := &chunks{pool: &s.bufs, w: w}
	if p, ok := s.bufs.Get().(*[]byte); ok {
		c.buf = (*p)[:0]
	} else {
		c.buf = make([]byte, 0, chunkSize+8<<10)
	}
	return c
}

// maybeFlush writes the buffer once it holds chunkSize; false once a write
// has failed (the client went away).
func (c *chunks) maybeFlush() bool {
	if len(c.buf) >= chunkSize {
		c.flush()
	}
	return c.err == nil
}

func (c *chunks) flush() {
	if c.err == nil && len(c.buf) > 0 {
		_, c.err = c.w.Write(c.buf)
	}
	c.buf = c.buf[:0]
}

// done returns the buffer to the pool, unless a huge row grew it.
func (c *chunks) done() {
	if cap(c.buf) <= 4*chunkSize {
		b := c.buf[:0]
		c.pool.Put(&b)
	}
}
