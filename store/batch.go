package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// errSolo tells a batched caller that its function failed inside the shared
// transaction and must run again alone, so its error is its own.
var errSolo = errors.New("batch function failed; run it alone")

// committer is a group commit: callers queue functions, one goroutine
// commits everything queued so far in one transaction, and whoever arrives
// during that commit goes into the next one. Unlike bolt.DB.Batch it never
// waits on a timer, so a lone submit pays one fsync and no delay, while 16
// concurrent submits share one fsync instead of paying a 2 ms batch window
// each round.
type committer struct {
	db   *bolt.DB
	mu   sync.Mutex
	next *group // collecting while the current one commits
	kick chan struct{}
	quit chan struct{}
	done chan struct{}
	stop sync.Once
}

type group struct {
	fns  []func(*bolt.Tx) error
	errs []error
	done chan struct{}
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// do runs fn in a shared read-write transaction and returns once it is
// committed. fn may run more than once.
func (c *committer) do(fn func(*bolt.Tx) error) error {
	// A group needs no size cap: each caller is one waiting request, so it
	// holds at most as many functions as there are concurrent submitters.
	c.mu.Lock()
	g := c.next
	if g == nil {
		g = &group{done: make(chan struct{})}
		c.next = g
	}
	i := len(g.fns)
	g.fns = append(g.fns, fn)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case <-g.done:
	case <-c.done:
		// Closed: the group may never commit.
		select {
		case <-g.done:
		default:
			return bolt.ErrDatabaseNotOpen
		}
	}
	if err := g.errs[i]; !errors.Is(err, errSolo) {
		return err
	}
	return c.db.Update(fn)
}

func (c *committer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			c.flush()
			return
		case <-c.kick:
		}
		c.flush()
	}
}

// flush commits every group queued so far, one transaction each.
func (c *committer) flush() {
	for {
		c.mu.Lock()
		g := c.next
		c.next = nil
		c.mu.Unlock()
		if g == nil {
			return
		}
		g.errs = make([]error, len(g.fns))
		g.commit(c.db)
		close(g.done)
	}
}

// commit runs the group's functions in one transaction. One that fails is
// taken out and told to run alone, and the rest are tried again, as
// bolt.DB.Batch does.
func (g *group) commit(db *bolt.DB) {
	live := make([]int, len(g.fns))
	for i := range live {
		live[i] = i
	}
	for len(live) > 0 {
		failed := -1
		err := db.Update(func(tx *bolt.Tx) error {
			for k, i := range live {
				if err := safeCall(g.fns[i], tx); err != nil {
					failed = k
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, i := range live {
				g.errs[i] = err
			}
			return
		}
		g.errs[live[failed]] = errSolo
		live = append(live[:failed], live[failed+1:]...)
	}
}

func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in batched store function: %v", p)
		}
	}()
	return fn(tx)
}

// close commits what is queued and stops the goroutine.
func (c *committer) close() {
	c.stop.Do(func() { close(c.quit) })
	<-c.done
}
