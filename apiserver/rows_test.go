package apiserver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/ctld"
)

// queueArray queues a held array of n tasks as the test's user.
func queueArray(t testing.TB, c *wire.Client, dir string, n int) {
	t.Helper()
	file := []byte("image = \"busybox\"\ncommand = \"true\"\ntime_limit = \"10:00\"\n")
	if _, err := c.Submit(context.Background(), wire.Submit{File: "a.toml", Cwd: dir, Overrides: wire.Overrides{Hold: true, Array: "1-" + strconv.Itoa(n)}}, file); err != nil {
		t.Fatal(err)
	}
}

// A listing many chunks long reads the same through both protocols as the
// rows built in full: nothing lost or repeated at a chunk's edge.
func TestListingInChunksMatchesTheWholeRows(t *testing.T) {
	h := newHarness(t, 1)
	sock := serveBoth(t, h)
	c := wire.NewClient(sock)
	queueArray(t, c, h.dir, 700) // ~200 KB of JSON: 7 chunks
	jobs, err := h.c.ListJobs(ctld.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := httptest.NewRecorder()
	writeJSON(want, 200, api.JobList{Jobs: jobs})
	var got bytes.Buffer
	if err := api.NewClient(sock).JobsTo(context.Background(), api.JobFilter{}, &got); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.Body.String() {
		t.Errorf("HTTP listing differs from the rows built in full (%d against %d bytes)", got.Len(), want.Body.Len())
	}
	rows, err := c.Queue(context.Background(), wire.Queue{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(jobs) {
		t.Fatalf("plain listing: %d rows, want %d", len(rows), len(jobs))
	}
	for i := range rows {
		if w := jobs[i].QueueRow(); rows[i] != w {
			t.Fatalf("plain row %d = %+v, want %+v", i, rows[i], w)
		}
	}
}

// BenchmarkListing10k is the daemon's side of one `bmcq --json` of 10,000
// held jobs: the rows built in full and then encoded (as before), or built
// one at a time as they are encoded. -benchmem shows what a listing leaves
// to the collector.
func BenchmarkListing10k(b *testing.B) {
	h := newHarness(b, 1)
	queueArray(b, wire.NewClient(serveBoth(b, h)), h.dir, 10000)
	srv := NewServer(h.c, testLogger(), "", "test")
	who := ctld.Identity{User: "root", Admin: true}
	b.Run("whole", func(b *testing.B) {
		for b.Loop() {
			jobs, err := h.c.ListJobs(ctld.Filter{})
			if err != nil {
				b.Fatal(err)
			}
			srv.writeJobList(discard{}, fixedRows(jobs))
		}
	})
	b.Run("streamed", func(b *testing.B) {
		for b.Loop() {
			l, err := h.c.Listing(ctld.Filter{})
			if err != nil {
				b.Fatal(err)
			}
			srv.writeJobList(discard{}, srv.rows(who, l))
		}
	})
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
