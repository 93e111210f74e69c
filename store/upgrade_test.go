package store

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/node"
)

// copyFixture copies testdata/state-v1.db, the state file a bmcctld of
// schema 1 left (testdata/README.md says how it was made).
func copyFixture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "state-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// v1File is what the schema-1 file holds, read with bbolt and generic JSON,
// independently of the store's record types and of the upgrade's code.
type v1File struct {
	schema  uint32
	jobs    int
	events  map[uint64]int
	ledger  map[string]map[string]any // by hex key
	chunks  map[string]map[string]any // by node + "/" + first sample time
	curves  map[string]map[string]any // by hex key
	buckets []string
}

func readV1(t *testing.T, path string) v1File {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := v1File{events: map[uint64]int{}, ledger: map[string]map[string]any{}, chunks: map[string]map[string]any{}, curves: map[string]map[string]any{}}
	decode := func(v []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	err = db.View(func(tx *bolt.Tx) error {
		tx.ForEach(func(name []byte, _ *bolt.Bucket) error { f.buckets = append(f.buckets, string(name)); return nil })
		f.schema = binary.BigEndian.Uint32(tx.Bucket([]byte("meta")).Get([]byte("schema")))
		f.jobs = tx.Bucket([]byte("jobs")).Stats().KeyN
		tx.Bucket([]byte("events")).ForEach(func(k, _ []byte) error { f.events[binary.BigEndian.Uint64(k)]++; return nil })
		tx.Bucket([]byte("ledger")).ForEach(func(k, v []byte) error { f.ledger[string(k)] = decode(v); return nil })
		samples := tx.Bucket([]byte("samples"))
		samples.Bucket([]byte("raw")).ForEach(func(k, v []byte) error {
			i := strings.IndexByte(string(k), 0)
			at := time.Unix(0, int64(binary.BigEndian.Uint64(k[i+1:]))).UTC()
			f.chunks[string(k[:i])+"/"+at.Format(time.RFC3339Nano)] = decode(v)
			return nil
		})
		samples.Bucket([]byte("curve")).ForEach(func(k, v []byte) error { f.curves[string(k)] = decode(v); return nil })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// asJSON turns a typed record into the generic JSON map it compares with.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUpgradeSchema1StateFile(t *testing.T) {
	path := copyFixture(t)
	old := readV1(t, path)
	// The fixture is what the README says: make sure, so the rest means something.
	if old.schema != 1 || old.jobs != 7 || len(old.ledger) != 17 || len(old.chunks) == 0 || len(old.curves) != 6 {
		t.Fatalf("fixture: schema %d, %d jobs, %d ledger entries, %d raw chunks, %d curves", old.schema, old.jobs, len(old.ledger), len(old.chunks), len(old.curves))
	}

	s := open(t, path)

	// Jobs, their events and nodes read as before.
	jobs := map[uint64]*job.Job{}
	var nodes []string
	events := map[uint64]int{}
	err := s.View(func(tx *Tx) error {
		if err := tx.ForEachJob(func(j *job.Job) error { jobs[j.ID] = j; return nil }); err != nil {
			return err
		}
		if err := tx.ForEachNode(func(n *node.Node) error { nodes = append(nodes, n.Name); return nil }); err != nil {
			return err
		}
		for id := range jobs {
			evs, err := tx.Events(id)
			if err != nil {
				return err
			}
			events[id] = len(evs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantStates := map[uint64]job.State{1: job.Completed, 2: job.Failed, 3: job.Cancelled, 4: job.Cancelled, 5: job.Completed, 6: job.Running, 7: job.Held}
	for id, st := range wantStates {
		if j := jobs[id]; j == nil || j.State != st {
			t.Errorf("job %d: %+v, want %s", id, j, st)
		}
	}
	if !reflect.DeepEqual(events, old.events) {
		t.Errorf("events per job %v, schema 1 had %v", events, old.events)
	}
	if !reflect.DeepEqual(nodes, []string{"sim001", "sim002"}) {
		t.Errorf("nodes %v", nodes)
	}

	// Every ledger entry: the same JSON fields as schema 1 wrote, job, boot
	// and phase now from the key.
	var entries []LedgerEntry
	err = s.View(func(tx *Tx) error {
		return tx.ForEachLedgerEntry(func(e *LedgerEntry) error { entries = append(entries, *e); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(old.ledger) {
		t.Fatalf("%d ledger entries after the upgrade, %d before", len(entries), len(old.ledger))
	}
	for _, e := range entries {
		k, _ := ledgerKey(&e)
		want := old.ledger[string(k)]
		got := asJSON(t, e)
		got["job"], got["boot"], got["phase"] = float64(e.Job), float64(e.Boot), e.Phase
		if !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d/%d/%s:\n got %v\nwant %v", e.Job, e.Boot, e.Phase, got, want)
		}
	}
	// Spot checks against values read off the fixture with the bbolt CLI.
	first := entries[0]
	if first.Job != 1 || first.Boot != 1 || first.Phase != PhaseBoot || first.Joules != 270.8378550450881 ||
		first.Node != "sim001" || first.Kind != "sim-x86" || first.Account != "physics" || first.State != job.Completed || first.Currency != "EUR" {
		t.Errorf("first entry: %+v", first)
	}
	byBoot := map[[2]uint64]string{}
	for _, e := range entries {
		byBoot[[2]uint64{e.Job, e.Boot}] += e.Phase[:1]
	}
	wantBoots := map[[2]uint64]string{{1, 1}: "bro", {2, 1}: "bro", {3, 1}: "bro", {4, 1}: "bo", {5, 1}: "bro", {5, 2}: "bro"}
	if !reflect.DeepEqual(byBoot, wantBoots) {
		t.Errorf("phases by boot %v, want %v (a requeued job's two boots, a cancel while booting)", byBoot, wantBoots)
	}

	// The running job's raw samples, now keyed by its node, job and boot.
	var chunks []SampleChunk
	err = s.View(func(tx *Tx) error {
		var err error
		chunks, err = tx.BootSamples("sim001", 6, 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != len(old.chunks) {
		t.Fatalf("job 6 has %d chunks, schema 1 had %d raw chunks", len(chunks), len(old.chunks))
	}
	for _, c := range chunks {
		want := old.chunks[c.Node+"/"+c.Samples[0].Time.UTC().Format(time.RFC3339Nano)]
		got := asJSON(t, c)
		got["job"], got["boot"] = float64(c.Job), float64(c.Boot)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("chunk:\n got %v\nwant %v", got, want)
		}
	}

	// Curves: the phase edges flattened into the record.
	for id := uint64(1); id <= 7; id++ {
		var cs []Curve
		if err := s.View(func(tx *Tx) error { cs, err = tx.Curves(id); return err }); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			want := old.curves[string(bootKey(c.Job, c.Boot))]
			got := asJSON(t, c)
			got = map[string]any{"node": got["node"], "samples": got["points"], "phases": map[string]any{
				"power_on": got["power_on"], "run_start": got["run_start"], "run_end": got["run_end"], "off_confirmed": got["off"]}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("curve %d/%d:\n got %v\nwant %v", c.Job, c.Boot, got, want)
			}
			delete(old.curves, string(bootKey(c.Job, c.Boot)))
		}
	}
	if len(old.curves) != 0 {
		t.Errorf("%d curves not found after the upgrade", len(old.curves))
	}

	// Schema 3's buckets exist, empty: a fresh install's open mode.
	err = s.View(func(tx *Tx) error {
		accts, users, err := tx.Associations()
		if err == nil && (len(accts) != 0 || len(users) != 0) {
			t.Errorf("associations after the upgrade: %v %v", accts, users)
		}
		if err != nil {
			return err
		}
		hs, err := tx.CarbonHours()
		if len(hs) != 0 {
			t.Errorf("carbon hours after the upgrade: %v", hs)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// The upgraded file takes new records, and a reopen upgrades nothing.
	s.Close()
	s = open(t, path)
	err = s.Update(func(tx *Tx) error {
		c := chunk("sim001", 6, 1, 0, 1)
		c.Samples[0].Time = time.Now()
		return tx.AppendSamples(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error { chunks, err = tx.BootSamples("sim001", 6, 1); return err })
	if len(chunks) != len(old.chunks)+1 {
		t.Errorf("%d chunks after one more", len(chunks))
	}
	s.Close()
	if after := readSchema(t, path); after != SchemaVersion {
		t.Errorf("schema %d after the upgrade", after)
	}
}

// A failing step leaves the file as it was: the upgrade is one transaction.
func TestFailedUpgradeLeavesSchema1(t *testing.T) {
	path := copyFixture(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		// The last ledger key holds an entry of another boot.
		b := tx.Bucket([]byte("ledger"))
		k, v := b.Cursor().Last()
		return b.Put(append(k[:15:15], 9, k[16]), v)
	})
	db.Close()
	before := readV1(t, path)
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "upgrade schema 1→2: ledger") {
		t.Fatalf("open of a file with a misplaced entry: err = %v", err)
	}
	if after := readV1(t, path); !reflect.DeepEqual(after, before) {
		t.Errorf("a failed upgrade changed the file")
	}
}

func readSchema(t *testing.T, path string) uint32 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint32
	db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint32(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	return v
}

// The fixture's machines have a BMC meter; a chunk of the agent's RAPL
// counter, as schema 1 wrote one, keeps its wrap range.
func TestUpgradeKeepsRAPLRange(t *testing.T) {
	path := copyFixture(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	err = db.Update(func(tx *bolt.Tx) error {
		k := binary.BigEndian.AppendUint64([]byte("sim002\x00"), uint64(at.UnixNano()))
		v := `{"job":8,"boot":2,"samples":[{"time":"2026-12-01T21:00:00Z","watts":0,"joules":1999.5,"counter":true}],"rapl":true,"counter_max":2000}`
		return tx.Bucket([]byte("samples")).Bucket([]byte("raw")).Put(k, []byte(v))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	var cs []SampleChunk
	s.View(func(tx *Tx) error { cs, err = tx.BootSamples("sim002", 8, 2); return err })
	want := []SampleChunk{{Node: "sim002", Job: 8, Boot: 2, RAPL: true, CounterMax: 2000, Samples: []Sample{{Time: at, Joules: 1999.5, Counter: true}}}}
	if err != nil || !reflect.DeepEqual(cs, want) {
		t.Errorf("RAPL chunk after the upgrade: %+v %v", cs, err)
	}
}
