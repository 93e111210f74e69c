// Package cache owns the boot server's file cache: derived artifacts (flattened
// image root filesystems, assembled initrds, downloaded kernels) stored once per
// content key under one directory, filled at most once at a time per key, held
// by leases while a boot may still serve them, and evicted least-recently-used
// when the directory grows over its byte budget.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

// ErrBadKey is returned for a key that would leave the cache directory.
var ErrBadKey = errors.New("cache: bad key")

// Fill writes the content of a missing entry. It must write everything or
// return an error; a partial file is never published.
type Fill func(ctx context.Context, w io.Writer) error

// Cache is a directory of files addressed by key ("rootfs/<digest>.tar").
// Keys are chosen by the callers from content digests, so an entry never
// changes once written.
type Cache struct {
	dir   string
	max   int64
	clk   clock.Clock
	log   *slog.Logger
	mu    sync.Mutex
	items map[string]*entry
	total int64
	fills int
}

type entry struct {
	key     string
	size    int64
	digest  string // "sha256:<hex>" of the file; "" until known
	used    time.Time
	refs    int
	filling chan struct{} // non-nil while the first caller fills it
}

// Lease keeps an entry on disk until Release. Path stays valid while held.
type Lease struct {
	Key    string
	Path   string
	Size   int64
	Digest string // "sha256:<hex>"
	c      *Cache
	once   sync.Once
}

// Release lets the entry be evicted again. Safe to call more than once.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	l.once.Do(func() { l.c.release(l.Key) })
}

// Open indexes the files already under dir, so a restarted controller keeps
// its flattened images. maxBytes <= 0 means no limit.
func Open(dir string, maxBytes int64, clk clock.Clock, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c := &Cache{dir: dir, max: maxBytes, clk: clk, log: log, items: make(map[string]*entry)}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if strings.Contains(filepath.Base(rel), ".tmp-") {
			// A fill interrupted by a crash: never published, safe to drop.
			return os.Remove(p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		c.items[rel] = &entry{key: rel, size: info.Size(), used: info.ModTime()}
		c.total += info.Size()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: index %s: %w", dir, err)
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// Dir is the cache's root directory.
func (c *Cache) Dir() string { return c.dir }

// Fills counts how many entries this Cache has filled (tests assert cache hits).
func (c *Cache) Fills() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fills
}

// Size is the bytes currently on disk in published entries.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Has reports whether key is published (not evicted, not being filled).
func (c *Cache) Has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	return ok && e.filling == nil
}

func validKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return false
	}
	return filepath.ToSlash(filepath.Clean(key)) == key && !strings.HasPrefix(key, "..") && !strings.Contains(key, ".tmp-")
}

// Get returns a lease on key, calling fill if the entry is missing. Concurrent
// callers of the same key wait for one fill instead of repeating it; if that
// fill fails, the next waiter tries again with its own context.
func (c *Cache) Get(ctx context.Context, key string, fill Fill) (*Lease, error) {
	if !validKey(key) {
		return nil, fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	for {
		c.mu.Lock()
		e, ok := c.items[key]
		if ok && e.filling != nil {
			wait := e.filling
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if ok {
			e.refs++
			e.used = c.clk.Now()
			c.mu.Unlock()
			if err := c.ensureDigest(e); err != nil {
				c.release(key)
				return nil, err
			}
			return c.lease(e), nil
		}
		e = &entry{key: key, filling: make(chan struct{})}
		c.items[key] = e
		c.mu.Unlock()
		return c.fill(ctx, e, fill)
	}
}

func (c *Cache) lease(e *entry) *Lease {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &Lease{Key: e.key, Path: c.path(e.key), Size: e.size, Digest: e.digest, c: c}
}

func (c *Cache) path(key string) string { return filepath.Join(c.dir, filepath.FromSlash(key)) }

func (c *Cache) fill(ctx context.Context, e *entry, fill Fill) (l *Lease, err error) {
	defer func() {
		c.mu.Lock()
		if err != nil {
			delete(c.items, e.key)
		}
		close(e.filling)
		e.filling = nil
		c.mu.Unlock()
	}()
	final := c.path(e.key)
	if err := os.MkdirAll(filepath.Dir(final), 0o750); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(final), filepath.Base(final)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	start := c.clk.Now()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	if err := fill(ctx, cw); err != nil {
		return nil, fmt.Errorf("cache: fill %s: %w", e.key, err)
	}
	// fsync before rename: a crash must leave either no entry or a whole one.
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.mu.Lock()
	e.size = cw.n
	e.digest = digestString(h)
	e.used = c.clk.Now()
	e.refs = 1
	c.total += e.size
	c.fills++
	c.evictLocked()
	l = &Lease{Key: e.key, Path: final, Size: e.size, Digest: e.digest, c: c}
	c.mu.Unlock()
	c.log.Info("cache filled", "key", e.key, "bytes", e.size, "took", c.clk.Now().Sub(start))
	return l, nil
}

// ensureDigest hashes an entry found on disk at Open the first time it is used.
func (c *Cache) ensureDigest(e *entry) error {
	c.mu.Lock()
	known := e.digest != ""
	c.mu.Unlock()
	if known {
		return nil
	}
	f, err := os.Open(c.path(e.key))
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("cache: hash %s: %w", e.key, err)
	}
	c.mu.Lock()
	e.digest = digestString(h)
	c.mu.Unlock()
	return nil
}

func (c *Cache) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok || e.refs == 0 {
		return
	}
	e.refs--
	c.evictLocked()
}

// evictLocked removes least-recently-used idle entries until the cache fits.
// Entries under lease or being filled are never removed, so the cache may stay
// over budget while boots hold it.
func (c *Cache) evictLocked() {
	for c.max > 0 && c.total > c.max {
		var victim *entry
		for _, e := range c.items {
			if e.refs > 0 || e.filling != nil {
				continue
			}
			if victim == nil || e.used.Before(victim.used) {
				victim = e
			}
		}
		if victim == nil {
			c.log.Warn("cache over budget, every entry in use", "bytes", c.total, "max", c.max)
			return
		}
		if err := os.Remove(c.path(victim.key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Error("cache evict", "key", victim.key, "err", err)
			return
		}
		delete(c.items, victim.key)
		c.total -= victim.size
		c.log.Info("cache evicted", "key", victim.key, "bytes", victim.size)
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func digestString(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }
