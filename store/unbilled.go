package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Unbilled is one stretch of a node's metered energy that no job was billed
// for, with the reason (idle-on, power-off-failed, power-on-failed,
// aborted-boot, controller-down, reuse-gap) or standby while the machine
// was off. Node and Start are the key and are not stored in the value.
type Unbilled struct {
	Node  string    `json:"-"`
	Start time.Time `json:"-"`

	End       time.Time `json:"end"`
	Reason    string    `json:"reason"`
	Joules    float64   `json:"joules"`
	Meter     string    `json:"meter"`
	Samples   int       `json:"samples"`
	Estimated bool      `json:"estimated,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// MeterPoint is a node's metered energy so far: every joule its meter
// counted since the controller first read it, whoever it was billed to.
// A balance over a period is the difference of two points; Last is the
// reading the total was advanced to, so a restart continues from it.
type MeterPoint struct {
	Node string    `json:"-"`
	Time time.Time `json:"-"`

	Joules float64 `json:"joules"`
	Meter  string  `json:"meter"`
	Last   Sample  `json:"last"`
}

// nodePrefix is node, 0x00: the prefix of one node's records.
func nodePrefix(nodeName string) ([]byte, error) {
	if nodeName == "" || strings.IndexByte(nodeName, 0) >= 0 {
		return nil, fmt.Errorf("node name %q cannot be a key", nodeName)
	}
	return append([]byte(nodeName), 0), nil
}

// nodeTimeKey is node, 0x00, then a time: one node's records in time order.
func nodeTimeKey(nodeName string, t time.Time) ([]byte, error) {
	k, err := nodePrefix(nodeName)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(k, uint64(t.UnixNano())), nil
}

func splitNodeTimeKey(k []byte) (string, time.Time, error) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 || len(k) != i+9 {
		return "", time.Time{}, fmt.Errorf("key %x: not node and time", k)
	}
	return string(k[:i]), time.Unix(0, int64(binary.BigEndian.Uint64(k[i+1:]))).UTC(), nil
}

func put(b interface{ Put(k, v []byte) error }, k []byte, what string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", what, err)
	}
	return b.Put(k, raw)
}

// PutUnbilled writes an unbilled stretch; one with the same node and start
// replaces it (a stretch grows while its reason holds).
func (t *Tx) PutUnbilled(u *Unbilled) error {
	k, err := nodeTimeKey(u.Node, u.Start)
	if err != nil {
		return fmt.Errorf("unbilled energy: %w", err)
	}
	if u.End.Before(u.Start) {
		return fmt.Errorf("unbilled energy of node %s: ends %s before it starts", u.Node, u.End.Format(time.RFC3339Nano))
	}
	return put(t.tx.Bucket(bucketUnbilled), k, "unbilled energy of node "+u.Node, u)
}

// ForEachUnbilled calls fn for every stretch, by node then start; each is
// a fresh copy.
func (t *Tx) ForEachUnbilled(fn func(*Unbilled) error) error {
	return t.tx.Bucket(bucketUnbilled).ForEach(func(k, v []byte) error {
		n, at, err := splitNodeTimeKey(k)
		if err != nil {
			return fmt.Errorf("unbilled energy: %w", err)
		}
		u := &Unbilled{Node: n, Start: at}
		if err := json.Unmarshal(v, u); err != nil {
			return fmt.Errorf("unbilled energy %x: decode: %w", k, err)
		}
		return fn(u)
	})
}

// PutMeterPoint appends a node's metered total at a time.
func (t *Tx) PutMeterPoint(p *MeterPoint) error {
	k, err := nodeTimeKey(p.Node, p.Time)
	if err != nil {
		return fmt.Errorf("meter point: %w", err)
	}
	return put(t.tx.Bucket(bucketMeter), k, "meter point of node "+p.Node, p)
}

// MeterPoints returns a node's metered totals in time order.
func (t *Tx) MeterPoints(nodeName string) ([]MeterPoint, error) {
	p, err := nodePrefix(nodeName)
	if err != nil {
		return nil, fmt.Errorf("meter points: %w", err)
	}
	var out []MeterPoint
	c := t.tx.Bucket(bucketMeter).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		_, at, err := splitNodeTimeKey(k)
		if err != nil {
			return nil, fmt.Errorf("meter point: %w", err)
		}
		mp := MeterPoint{Node: nodeName, Time: at}
		if err := json.Unmarshal(v, &mp); err != nil {
			return nil, fmt.Errorf("meter point %x: decode: %w", k, err)
		}
		out = append(out, mp)
	}
	return out, nil
}

// LastMeterPoint returns a node's latest metered total, if any.
func (t *Tx) LastMeterPoint(nodeName string) (MeterPoint, bool, error) {
	p, err := nodePrefix(nodeName)
	if err != nil {
		return MeterPoint{}, false, fmt.Errorf("meter point: %w", err)
	}
	c := t.tx.Bucket(bucketMeter).Cursor()
	// Past every key of the node (each is the prefix and 8 bytes), then back.
	k, v := c.Seek(append(bytes.Clone(p), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, p) || len(k) != len(p)+8 {
		return MeterPoint{}, false, nil
	}
	_, at, err := splitNodeTimeKey(k)
	if err != nil {
		return MeterPoint{}, false, fmt.Errorf("meter point: %w", err)
	}
	mp := MeterPoint{Node: nodeName, Time: at}
	if err := json.Unmarshal(v, &mp); err != nil {
		return MeterPoint{}, false, fmt.Errorf("meter point %x: decode: %w", k, err)
	}
	return mp, true, nil
}

// ThinMeterPoints keeps, of each node's metered totals before cutoff, the
// first and the last of every period, and deletes the rest; it says how
// many it deleted. A balance interpolates between the
// points it has, so only a period whose edge falls between two kept points
// is cut less exactly; the totals themselves are never lost.
func (t *Tx) ThinMeterPoints(cutoff time.Time, period time.Duration) (int, error) {
	type kept struct {
		node   string
		bucket int64
		key    []byte // the latest point before cutoff seen, kept as the last
	}
	var drop [][]byte
	var cur *kept
	c := t.tx.Bucket(bucketMeter).Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		name, at, err := splitNodeTimeKey(k)
		if err != nil {
			return 0, fmt.Errorf("meter point: %w", err)
		}
		if !at.Before(cutoff) {
			continue
		}
		b := at.UnixNano() / int64(period)
		switch {
		case cur == nil || cur.node != name || cur.bucket != b:
			cur = &kept{node: name, bucket: b, key: nil}
		default:
			if cur.key != nil {
				drop = append(drop, cur.key) // not the first of its period, nor (now) the last
			}
			cur.key = bytes.Clone(k)
		}
	}
	b := t.tx.Bucket(bucketMeter)
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(drop), nil
}
