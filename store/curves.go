package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
)

// Curve is the power curve kept for one billed boot of a job: its readings
// down-sampled and its phase edges. Job and Boot are the key and are not
// stored in the value.
type Curve struct {
	Job  uint64 `json:"-"`
	Boot uint64 `json:"-"`

	Node     string    `json:"node"`
	PowerOn  time.Time `json:"power_on"`
	RunStart time.Time `json:"run_start"`
	RunEnd   time.Time `json:"run_end"`
	Off      time.Time `json:"off"`
	Points   []Sample  `json:"points"`
}

// PutCurve writes the curve of one boot of a job, replacing any earlier one.
func (t *Tx) PutCurve(c *Curve) error {
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("power curve of job %d: encode: %w", c.Job, err)
	}
	return t.tx.Bucket(bucketCurves).Put(bootKey(c.Job, c.Boot), v)
}

// Curves returns the stored curves of a job, by boot.
func (t *Tx) Curves(id uint64) ([]Curve, error) {
	var out []Curve
	p := idKey(id)
	c := t.tx.Bucket(bucketCurves).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if len(k) != 16 {
			return nil, fmt.Errorf("power curve key %x: not job and boot", k)
		}
		var cv Curve
		if err := json.Unmarshal(v, &cv); err != nil {
			return nil, fmt.Errorf("power curve %x: decode: %w", k, badRecord(err))
		}
		cv.Job, cv.Boot = id, binary.BigEndian.Uint64(k[8:])
		out = append(out, cv)
	}
	return out, nil
}
