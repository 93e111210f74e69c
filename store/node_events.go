package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/node"
)

// Node events (schema 2): what the controller observed of a machine or did to
// it — a failed or retried power-off, a machine found on with no job, a BMC
// that stopped answering — one bucket, keys name 0x00 seq(8), JSON node.Event.
// Node names never hold a NUL, so one node's prefix never matches another's.
var bucketNodeEvents = []byte("node_events")

// MaxNodeEvents bounds one node's history: a BMC that stays dead for weeks
// must not grow the state file without end. The oldest lines go first.
const MaxNodeEvents = 500

// addNodeEventsBucket is the upgrade from schema 1 to 2.
func addNodeEventsBucket(tx *bolt.Tx) error {
	_, err := tx.CreateBucketIfNotExists(bucketNodeEvents)
	return err
}

func nodeEventPrefix(name string) []byte { return append([]byte(name), 0) }

// AddNodeEvent appends one line to a node's history, dropping the oldest
// beyond MaxNodeEvents.
func (t *Tx) AddNodeEvent(name string, ev node.Event) error {
	b := t.tx.Bucket(bucketNodeEvents)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	v, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("node %s event: encode: %w", name, err)
	}
	p := nodeEventPrefix(name)
	if err := b.Put(binary.BigEndian.AppendUint64(p, seq), v); err != nil {
		return err
	}
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys[:max(0, len(keys)-MaxNodeEvents)] {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// NodeEvents returns a node's history, oldest first.
func (t *Tx) NodeEvents(name string) ([]node.Event, error) {
	var out []node.Event
	p := nodeEventPrefix(name)
	c := t.tx.Bucket(bucketNodeEvents).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var ev node.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return nil, fmt.Errorf("node %s event: decode: %w", name, badRecord(err))
		}
		out = append(out, ev)
	}
	return out, nil
}
