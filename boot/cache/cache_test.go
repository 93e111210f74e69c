package cache

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/internal/clock"
)

func fillString(s string) Fill {
	return func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

func TestGetFillsOnceAndHashes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1000, 0))
	c, err := Open(t.TempDir(), 0, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l1, err := c.Get(ctx, "x/a.bin", fillString("hello"))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := c.Get(ctx, "x/a.bin", func(context.Context, io.Writer) error { t.Fatal("refilled"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	const want = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if l1.Digest != want || l2.Digest != want || l1.Size != 5 {
		t.Fatalf("lease = %+v, want digest %s size 5", l1, want)
	}
	b, err := os.ReadFile(l2.Path)
	if err != nil || string(b) != "hello" {
		t.Fatalf("file = %q, %v", b, err)
	}
	if c.Fills() != 1 {
		t.Fatalf("fills = %d, want 1", c.Fills())
	}
	l1.Release()
	l2.Release()
	l2.Release() // idempotent
}

func TestConcurrentGetSingleFill(t *testing.T) {
	c, err := Open(t.TempDir(), 0, clock.NewFake(time.Unix(0, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	var once sync.Once
	fill := func(_ context.Context, w io.Writer) error {
		once.Do(func() { close(started) })
		<-release
		_, err := io.WriteString(w, "data")
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.Get(context.Background(), "k", fill)
			if err == nil && l.Size != 4 {
				err = errors.New("wrong size")
			}
			errs <- err
		}()
	}
	<-started
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c.Fills() != 1 {
		t.Fatalf("fills = %d, want 1", c.Fills())
	}
}

func TestFailedFillLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 0, clock.NewFake(time.Unix(0, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err = c.Get(context.Background(), "k", func(_ context.Context, w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 || c.Has("k") {
		t.Fatalf("left behind %v", ents)
	}
	// The next caller fills it properly.
	l, err := c.Get(context.Background(), "k", fillString("ok"))
	if err != nil || l.Size != 2 {
		t.Fatalf("refill: %v %+v", err, l)
	}
}

func TestLRUEvictionSkipsLeased(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	c, err := Open(t.TempDir(), 10, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	get := func(key, body string) *Lease {
		t.Helper()
		clk.Advance(time.Second)
		l, err := c.Get(ctx, key, fillString(body))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := get("a", "aaaa")
	b := get("b", "bbbb")
	a.Release()
	b.Release()
	a2 := get("a", "") // touch a: b is now least recently used
	a2.Release()
	held := get("c", "cccc") // 12 bytes > 10: evicts b, not a
	if c.Has("b") || !c.Has("a") || !c.Has("c") {
		t.Fatalf("after c: a=%v b=%v c=%v", c.Has("a"), c.Has("b"), c.Has("c"))
	}
	d := get("d", "dddddddd") // must evict a; c is leased and stays
	if c.Has("a") || !c.Has("c") || !c.Has("d") {
		t.Fatalf("after d: a=%v c=%v d=%v", c.Has("a"), c.Has("c"), c.Has("d"))
	}
	if _, err := os.Stat(held.Path); err != nil {
		t.Fatalf("leased file gone: %v", err)
	}
	held.Release() // now over budget with c idle: c goes
	if c.Has("c") || c.Size() != 8 {
		t.Fatalf("after release: c=%v size=%d", c.Has("c"), c.Size())
	}
	d.Release()
}

func TestOpenReindexesAndDropsTemp(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755)
	os.WriteFile(filepath.Join(dir, "rootfs", "x.tar"), []byte("abc"), 0o644)
	os.WriteFile(filepath.Join(dir, "rootfs", "y.tar.tmp-123"), []byte("junk"), 0o644)
	c, err := Open(dir, 0, clock.NewFake(time.Unix(0, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Get(context.Background(), "rootfs/x.tar", func(context.Context, io.Writer) error { return errors.New("refilled") })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.Digest, "sha256:ba7816bf") || l.Size != 3 {
		t.Fatalf("lease %+v", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs", "y.tar.tmp-123")); !os.IsNotExist(err) {
		t.Fatalf("temp file kept: %v", err)
	}
}

func TestBadKeys(t *testing.T) {
	c, err := Open(t.TempDir(), 0, clock.NewFake(time.Unix(0, 0)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a.tmp-1", `a\b`} {
		if _, err := c.Get(context.Background(), k, fillString("x")); !errors.Is(err, ErrBadKey) {
			t.Errorf("Get(%q) err = %v, want ErrBadKey", k, err)
		}
	}
}
