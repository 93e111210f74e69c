package store

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/node"
)

func TestNodeEventsPerNodeInOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	err := s.Update(func(tx *Tx) error {
		for i, name := range []string{"n1", "n10", "n1", "n1"} {
			ev := node.Event{Time: t0.Add(time.Duration(i) * time.Second), Action: fmt.Sprintf("a%d", i)}
			if err := tx.AddNodeEvent(name, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var n1, n10, none []node.Event
	s.View(func(tx *Tx) error {
		n1, _ = tx.NodeEvents("n1")
		n10, _ = tx.NodeEvents("n10")
		none, err = tx.NodeEvents("n2")
		return nil
	})
	if err != nil || len(none) != 0 {
		t.Fatalf("events of a node without any: %v, %v", none, err)
	}
	if fmt.Sprint(actions(n1)) != "[a0 a2 a3]" || fmt.Sprint(actions(n10)) != "[a1]" {
		t.Errorf("n1 = %v, n10 = %v; want [a0 a2 a3] and [a1]", actions(n1), actions(n10))
	}
}

func actions(evs []node.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

func TestNodeEventsKeepTheNewest(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	for i := range MaxNodeEvents + 7 {
		if err := s.Update(func(tx *Tx) error { return tx.AddNodeEvent("n1", node.Event{Action: fmt.Sprint(i)}) }); err != nil {
			t.Fatal(err)
		}
	}
	var evs []node.Event
	s.View(func(tx *Tx) error { evs, _ = tx.NodeEvents("n1"); return nil })
	if len(evs) != MaxNodeEvents || evs[0].Action != "7" || evs[len(evs)-1].Action != fmt.Sprint(MaxNodeEvents+6) {
		t.Errorf("%d events from %s to %s; want the newest %d", len(evs), evs[0].Action, evs[len(evs)-1].Action, MaxNodeEvents)
	}
}

// TestUpgradeAddsNodeEvents opens a file laid out as the schema before
// node events (2) wrote it: the node_events bucket appears, nothing else changes.
func TestUpgradeAddsNodeEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, up := range upgrades[:2] {
			if err := up(tx); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketNodes).Put([]byte("n1"), []byte(`{"name":"n1","state":"IDLE"}`)); err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, 2))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	var names []string
	err = s.Update(func(tx *Tx) error {
		if err := tx.AddNodeEvent("n1", node.Event{Action: "x"}); err != nil {
			return err
		}
		return tx.ForEachNode(func(n *node.Node) error { names = append(names, n.Name); return nil })
	})
	if err != nil || fmt.Sprint(names) != "[n1]" {
		t.Fatalf("after the upgrade: nodes %v, %v", names, err)
	}
	s.View(func(tx *Tx) error {
		if v := binary.BigEndian.Uint32(tx.tx.Bucket(bucketMeta).Get(keySchema)); v != SchemaVersion {
			t.Errorf("schema %d after the upgrade, want %d", v, SchemaVersion)
		}
		return nil
	})
}
