package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sample is one stored power reading: instantaneous watts, or a cumulative
// energy counter in joules when Counter is set.
type Sample struct {
	Time    time.Time `json:"time"`
	Watts   float64   `json:"watts"`
	Joules  float64   `json:"joules,omitempty"`
	Counter bool      `json:"counter,omitempty"`
}

// SampleChunk is a run of readings of one boot of a job on one node, written
// together. Node, Job and Boot are the key and are not stored in the value.
type SampleChunk struct {
	Node string `json:"-"`
	Job  uint64 `json:"-"`
	Boot uint64 `json:"-"`

	Samples []Sample `json:"samples"`
	// RAPL says the counter readings are the node agent's in-band RAPL
	// counter, which wraps at CounterMax joules (0: unknown).
	RAPL       bool    `json:"rapl,omitempty"`
	CounterMax float64 `json:"counter_max,omitempty"`
}

// samplePrefix is the key prefix of one boot's chunks. A node name never
// holds 0x00 (package node allows [A-Za-z0-9._-]), so one node's prefix is
// never another's.
func samplePrefix(nodeName string, id, boot uint64) ([]byte, error) {
	if nodeName == "" || strings.IndexByte(nodeName, 0) >= 0 {
		return nil, fmt.Errorf("power samples: node name %q cannot be a key", nodeName)
	}
	k := append([]byte(nodeName), 0)
	k = binary.BigEndian.AppendUint64(k, id)
	return binary.BigEndian.AppendUint64(k, boot), nil
}

func decodeSampleChunk(k, v []byte) (*SampleChunk, error) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 || len(k) != i+1+24 {
		return nil, fmt.Errorf("power samples key %x: not node, job, boot and time", k)
	}
	c := new(SampleChunk)
	if err := json.Unmarshal(v, c); err != nil {
		return nil, fmt.Errorf("power samples %x: decode: %w", k, badRecord(err))
	}
	c.Node = string(k[:i])
	c.Job = binary.BigEndian.Uint64(k[i+1:])
	c.Boot = binary.BigEndian.Uint64(k[i+9:])
	return c, nil
}

// AppendSamples stores a chunk of readings of one boot of a job on a node;
// the chunk's first reading's time completes the key. Once the boot is
// billed its raw readings are gone for good, so a chunk that arrives later
// (a flush racing the bill) is not written, and AppendSamples returns nil.
func (t *Tx) AppendSamples(c *SampleChunk) error {
	if len(c.Samples) == 0 {
		return errors.New("power samples: empty chunk")
	}
	p, err := samplePrefix(c.Node, c.Job, c.Boot)
	if err != nil {
		return err
	}
	if t.Billed(c.Job, c.Boot) {
		return nil
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("power samples of job %d: encode: %w", c.Job, err)
	}
	k := binary.BigEndian.AppendUint64(p, uint64(c.Samples[0].Time.UnixNano()))
	return t.tx.Bucket(bucketSamples).Put(k, v)
}

// BootSamples returns the stored chunks of one boot of a job on a node, in
// the order of their first readings.
func (t *Tx) BootSamples(nodeName string, id, boot uint64) ([]SampleChunk, error) {
	p, err := samplePrefix(nodeName, id, boot)
	if err != nil {
		return nil, err
	}
	var out []SampleChunk
	c := t.tx.Bucket(bucketSamples).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		ch, err := decodeSampleChunk(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, *ch)
	}
	return out, nil
}

// DropSamples deletes the stored readings of one boot of a job on a node.
func (t *Tx) DropSamples(nodeName string, id, boot uint64) error {
	p, err := samplePrefix(nodeName, id, boot)
	if err != nil {
		return err
	}
	c := t.tx.Bucket(bucketSamples).Cursor()
	// Cursor.Delete moves the cursor onto the next key, hence Seek again.
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Seek(p) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// ForEachSampleChunk calls fn for every stored chunk, by node, job, boot
// and time. Each chunk is a fresh copy.
func (t *Tx) ForEachSampleChunk(fn func(*SampleChunk) error) error {
	return t.tx.Bucket(bucketSamples).ForEach(func(k, v []byte) error {
		c, err := decodeSampleChunk(k, v)
		if err != nil {
			return err
		}
		return fn(c)
	})
}

// ReplaceBootSamples puts c in place of every stored chunk of its boot: the
// compacted readings of a billed boot, kept for disputes (AppendSamples
// takes nothing once the boot is billed; this is how its readings stay).
func (t *Tx) ReplaceBootSamples(c *SampleChunk) error {
	if err := t.DropSamples(c.Node, c.Job, c.Boot); err != nil {
		return err
	}
	if len(c.Samples) == 0 {
		return nil
	}
	p, err := samplePrefix(c.Node, c.Job, c.Boot)
	if err != nil {
		return err
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("power samples of job %d: encode: %w", c.Job, err)
	}
	return t.tx.Bucket(bucketSamples).Put(binary.BigEndian.AppendUint64(p, uint64(c.Samples[0].Time.UnixNano())), v)
}

// DropBilledSamplesBefore deletes the chunks of billed boots whose first
// reading is before cutoff (the samples' retention), and says how many.
func (t *Tx) DropBilledSamplesBefore(cutoff time.Time) (int, error) {
	var drop [][]byte
	c := t.tx.Bucket(bucketSamples).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		i := bytes.IndexByte(k, 0)
		if i <= 0 || len(k) != i+1+24 {
			return 0, fmt.Errorf("power samples key %x: not node, job, boot and time", k)
		}
		first := time.Unix(0, int64(binary.BigEndian.Uint64(k[i+17:])))
		if first.Before(cutoff) && t.Billed(binary.BigEndian.Uint64(k[i+1:]), binary.BigEndian.Uint64(k[i+9:])) {
			drop = append(drop, bytes.Clone(k))
		}
	}
	b := t.tx.Bucket(bucketSamples)
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(drop), nil
}
