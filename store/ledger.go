package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/job"
)

// Ledger phases, as LedgerEntry.Phase names them. A boot's entries sort in
// this order.
const (
	PhaseBoot = "boot"
	PhaseRun  = "run"
	PhaseOff  = "off"
)

// phaseCodes is the last byte of a ledger key.
var phaseCodes = map[string]byte{PhaseBoot: 1, PhaseRun: 2, PhaseOff: 3}

func phaseName(code byte) (string, bool) {
	for name, c := range phaseCodes {
		if c == code {
			return name, true
		}
	}
	return "", false
}

// LedgerEntry is one immutable line of the energy ledger as stored: the
// energy one phase of one boot of a job used on one node, and its price.
// Job, Boot and Phase are the key and are not stored in the value.
type LedgerEntry struct {
	Job   uint64 `json:"-"`
	Boot  uint64 `json:"-"`
	Phase string `json:"-"` // PhaseBoot, PhaseRun or PhaseOff

	JobID       string    `json:"job_id"`
	Name        string    `json:"name"`
	User        string    `json:"user"`
	Account     string    `json:"account,omitempty"`
	Node        string    `json:"node"`
	Arch        string    `json:"arch"`
	Kind        string    `json:"kind"`
	Image       string    `json:"image"`
	ImageDigest string    `json:"image_digest,omitempty"`
	Kernel      string    `json:"kernel,omitempty"`
	Command     string    `json:"command"`
	Simulated   bool      `json:"simulated,omitempty"`
	State       job.State `json:"state"` // where the job went when this boot ended

	Start     time.Time     `json:"start"`
	End       time.Time     `json:"end"`
	Joules    float64       `json:"joules"`
	Duration  float64       `json:"duration_seconds"`
	Samples   int           `json:"samples"`
	Coverage  float64       `json:"coverage"`
	Method    string        `json:"method"`
	Tariff    string        `json:"tariff,omitempty"`
	Currency  string        `json:"currency,omitempty"`
	Cost      float64       `json:"cost"`
	Pieces    []LedgerPiece `json:"pieces,omitempty"`
	Estimated bool          `json:"energy_estimated"`
	Reasons   []string      `json:"reasons,omitempty"`
	Recorded  time.Time     `json:"recorded"`
	// Schema 4: grams of CO2e (and joules of unknown intensity), and
	// energy credited to the user rather than charged.
	CarbonGrams    float64 `json:"carbon_g,omitempty"`
	CarbonUnknownJ float64 `json:"carbon_unknown_j,omitempty"`
	Credited       bool    `json:"credited,omitempty"`
	CreditReason   string  `json:"credit_reason,omitempty"`
	// Schema 5: the meter the energy came from (bmc-sdr, dcmi,
	// redfish-counter, redfish-watts, rapl-inband, model); in-band
	// readings are self-reported, a counter that cannot be right is
	// implausible, and either is billed at least FloorJoules.
	Meter        string  `json:"meter,omitempty"`
	SelfReported bool    `json:"self_reported,omitempty"`
	Implausible  bool    `json:"implausible,omitempty"`
	FloorJoules  float64 `json:"floor_joules,omitempty"`
}

// LedgerPiece is the part of an entry priced under one tariff.
type LedgerPiece struct {
	Tariff      string    `json:"tariff"`
	PricePerKWh float64   `json:"price_per_kwh"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Joules      float64   `json:"joules"`
	Cost        float64   `json:"cost"`
}

func bootKey(id, boot uint64) []byte {
	return binary.BigEndian.AppendUint64(idKey(id), boot)
}

func ledgerKey(e *LedgerEntry) ([]byte, error) {
	code, ok := phaseCodes[e.Phase]
	if !ok {
		return nil, fmt.Errorf("ledger entry of job %d boot %d: unknown phase %q", e.Job, e.Boot, e.Phase)
	}
	return append(bootKey(e.Job, e.Boot), code), nil
}

func decodeLedgerEntry(k, v []byte) (*LedgerEntry, error) {
	if len(k) != 17 {
		return nil, fmt.Errorf("ledger key %x: not job, boot and phase", k)
	}
	phase, ok := phaseName(k[16])
	if !ok {
		return nil, fmt.Errorf("ledger key %x: unknown phase %d", k, k[16])
	}
	e := new(LedgerEntry)
	if err := json.Unmarshal(v, e); err != nil {
		return nil, fmt.Errorf("ledger entry %x: decode: %w", k, badRecord(err))
	}
	e.Job, e.Boot, e.Phase = binary.BigEndian.Uint64(k[:8]), binary.BigEndian.Uint64(k[8:16]), phase
	return e, nil
}

// PutLedgerEntry writes a new entry. Entries are never rewritten: one whose
// job, boot and phase are taken fails with ErrExists and changes nothing.
func (t *Tx) PutLedgerEntry(e *LedgerEntry) error {
	k, err := ledgerKey(e)
	if err != nil {
		return err
	}
	b := t.tx.Bucket(bucketLedger)
	if b.Get(k) != nil {
		return fmt.Errorf("ledger entry of job %d boot %d %s: %w", e.Job, e.Boot, e.Phase, ErrExists)
	}
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("ledger entry of job %d: encode: %w", e.Job, err)
	}
	return b.Put(k, v)
}

// Billed reports whether the ledger holds any entry for this boot of a job.
func (t *Tx) Billed(id, boot uint64) bool {
	p := bootKey(id, boot)
	k, _ := t.tx.Bucket(bucketLedger).Cursor().Seek(p)
	return k != nil && bytes.HasPrefix(k, p)
}

// LedgerEntries returns one job's entries in key order: by boot, then
// phase (boot, run, off).
func (t *Tx) LedgerEntries(id uint64) ([]LedgerEntry, error) {
	var out []LedgerEntry
	p := idKey(id)
	c := t.tx.Bucket(bucketLedger).Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		e, err := decodeLedgerEntry(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, nil
}

// ForEachLedgerEntry calls fn for every entry in key order: by job, boot,
// then phase. Each entry is a fresh copy.
func (t *Tx) ForEachLedgerEntry(fn func(*LedgerEntry) error) error {
	return t.tx.Bucket(bucketLedger).ForEach(func(k, v []byte) error {
		e, err := decodeLedgerEntry(k, v)
		if err != nil {
			return err
		}
		return fn(e)
	})
}
