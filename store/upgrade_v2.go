package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/bmc-sched/bmc/job"
)

// The records as schema 1 wrote them. They are frozen copies, not the
// current types, so that a change to a record type or to the API's JSON can
// never change how an old file is read.
type (
	ledgerV1 struct {
		Job         uint64    `json:"job"`
		JobID       string    `json:"job_id"`
		Boot        uint64    `json:"boot"`
		Phase       string    `json:"phase"`
		Name        string    `json:"name"`
		User        string    `json:"user"`
		Account     string    `json:"account"`
		Node        string    `json:"node"`
		Arch        string    `json:"arch"`
		Kind        string    `json:"kind"`
		Image       string    `json:"image"`
		ImageDigest string    `json:"image_digest"`
		Kernel      string    `json:"kernel"`
		Command     string    `json:"command"`
		State       job.State `json:"state"`
		Start       time.Time `json:"start"`
		End         time.Time `json:"end"`
		Joules      float64   `json:"joules"`
		Duration    float64   `json:"duration_seconds"`
		Samples     int       `json:"samples"`
		Coverage    float64   `json:"coverage"`
		Method      string    `json:"method"`
		Tariff      string    `json:"tariff"`
		Currency    string    `json:"currency"`
		Cost        float64   `json:"cost"`
		Pieces      []pieceV1 `json:"pieces"`
		Estimated   bool      `json:"energy_estimated"`
		Reasons     []string  `json:"reasons"`
		Simulated   bool      `json:"simulated"`
		Recorded    time.Time `json:"recorded"`
	}
	pieceV1 struct {
		Tariff      string    `json:"tariff"`
		PricePerKWh float64   `json:"price_per_kwh"`
		From        time.Time `json:"from"`
		To          time.Time `json:"to"`
		Joules      float64   `json:"joules"`
		Cost        float64   `json:"cost"`
	}
	sampleV1 struct {
		Time    time.Time `json:"time"`
		Watts   float64   `json:"watts"`
		Joules  float64   `json:"joules"`
		Counter bool      `json:"counter"`
	}
	// chunkV1 was under samples/raw, key node 0x00 t(8).
	chunkV1 struct {
		Job        uint64     `json:"job"`
		Boot       uint64     `json:"boot"`
		Samples    []sampleV1 `json:"samples"`
		RAPL       bool       `json:"rapl"`
		CounterMax float64    `json:"counter_max"`
	}
	// curveV1 was under samples/curve, key id(8) boot(8).
	curveV1 struct {
		Node   string `json:"node"`
		Phases struct {
			PowerOn      time.Time `json:"power_on"`
			RunStart     time.Time `json:"run_start"`
			RunEnd       time.Time `json:"run_end"`
			OffConfirmed time.Time `json:"off_confirmed"`
		} `json:"phases"`
		Samples []sampleV1 `json:"samples"`
	}
)

// upgradeV2 converts every ledger entry, chunk of raw samples and power
// curve of schema 1 to its record type of schema 2, and creates the
// buckets that schema 1 created only when first needed.
func upgradeV2(tx *bolt.Tx) error {
	if err := upgradeLedgerV2(tx.Bucket(bucketLedger)); err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	curves, err := tx.CreateBucketIfNotExists(bucketCurves)
	if err != nil {
		return err
	}
	samples := tx.Bucket(bucketSamples)
	if old := samples.Bucket([]byte("curve")); old != nil {
		err := old.ForEach(func(k, v []byte) error {
			nv, err := curveV2(k, v)
			if err != nil {
				return err
			}
			return curves.Put(bytes.Clone(k), nv)
		})
		if err != nil {
			return fmt.Errorf("samples/curve: %w", err)
		}
		if err := samples.DeleteBucket([]byte("curve")); err != nil {
			return err
		}
	}
	if old := samples.Bucket([]byte("raw")); old != nil {
		// Only boots not yet billed have raw samples: few enough to hold
		// while their sub-bucket is replaced by keys in samples itself.
		var moved [][2][]byte
		err := old.ForEach(func(k, v []byte) error {
			nk, nv, err := chunkV2(k, v)
			moved = append(moved, [2][]byte{nk, nv})
			return err
		})
		if err != nil {
			return fmt.Errorf("samples/raw: %w", err)
		}
		if err := samples.DeleteBucket([]byte("raw")); err != nil {
			return err
		}
		for _, kv := range moved {
			if err := samples.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// upgradeLedgerV2 rewrites the ledger's values in place, a slice of keys at
// a time: bbolt forbids writing to a bucket under a running iteration.
func upgradeLedgerV2(b *bolt.Bucket) error {
	const step = 1024
	var next []byte
	for first := true; first || next != nil; first = false {
		var batch [][2][]byte
		c := b.Cursor()
		k, v := c.First()
		if next != nil {
			k, v = c.Seek(next)
		}
		for ; k != nil && len(batch) < step; k, v = c.Next() {
			nv, err := ledgerV2(k, v)
			if err != nil {
				return err
			}
			batch = append(batch, [2][]byte{bytes.Clone(k), nv})
		}
		next = nil
		if k != nil {
			next = bytes.Clone(k)
		}
		for _, kv := range batch {
			if err := b.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

func ledgerV2(k, v []byte) ([]byte, error) {
	var o ledgerV1
	if err := json.Unmarshal(v, &o); err != nil {
		return nil, fmt.Errorf("entry %x: %w", k, err)
	}
	if len(k) != 17 || binary.BigEndian.Uint64(k) != o.Job || binary.BigEndian.Uint64(k[8:]) != o.Boot || phaseCodes[o.Phase] != k[16] {
		return nil, fmt.Errorf("key %x holds an entry of job %d boot %d phase %q", k, o.Job, o.Boot, o.Phase)
	}
	e := LedgerEntry{
		Job: o.Job, Boot: o.Boot, Phase: o.Phase, JobID: o.JobID, Name: o.Name, User: o.User, Account: o.Account,
		Node: o.Node, Arch: o.Arch, Kind: o.Kind, Image: o.Image, ImageDigest: o.ImageDigest, Kernel: o.Kernel,
		Command: o.Command, Simulated: o.Simulated, State: o.State, Start: o.Start, End: o.End, Joules: o.Joules,
		Duration: o.Duration, Samples: o.Samples, Coverage: o.Coverage, Method: o.Method, Tariff: o.Tariff,
		Currency: o.Currency, Cost: o.Cost, Estimated: o.Estimated, Reasons: o.Reasons, Recorded: o.Recorded,
	}
	for _, p := range o.Pieces {
		e.Pieces = append(e.Pieces, LedgerPiece(p))
	}
	return json.Marshal(&e)
}

func samplesV2(s []sampleV1) []Sample {
	out := make([]Sample, len(s))
	for i, x := range s {
		out[i] = Sample(x)
	}
	return out
}

func chunkV2(k, v []byte) ([]byte, []byte, error) {
	i := bytes.IndexByte(k, 0)
	if i <= 0 || len(k) != i+9 {
		return nil, nil, fmt.Errorf("key %x: not node and time", k)
	}
	var o chunkV1
	if err := json.Unmarshal(v, &o); err != nil {
		return nil, nil, fmt.Errorf("chunk %x: %w", k, err)
	}
	c := SampleChunk{Samples: samplesV2(o.Samples), RAPL: o.RAPL, CounterMax: o.CounterMax}
	nk, err := samplePrefix(string(k[:i]), o.Job, o.Boot)
	if err != nil {
		return nil, nil, err
	}
	nv, err := json.Marshal(&c)
	return append(nk, k[i+1:]...), nv, err
}

func curveV2(k, v []byte) ([]byte, error) {
	if len(k) != 16 {
		return nil, fmt.Errorf("key %x: not job and boot", k)
	}
	var o curveV1
	if err := json.Unmarshal(v, &o); err != nil {
		return nil, fmt.Errorf("curve %x: %w", k, err)
	}
	return json.Marshal(&Curve{
		Node: o.Node, PowerOn: o.Phases.PowerOn, RunStart: o.Phases.RunStart, RunEnd: o.Phases.RunEnd,
		Off: o.Phases.OffConfirmed, Points: samplesV2(o.Samples),
	})
}
