package store

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeRecords feeds arbitrary keys and values, as a damaged state
// file could hold them, to every record decoder and schema-1 converter:
// each must return an error or a record, never panic, and a decoded
// record must encode back under the key it came from.
func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x01"), []byte(`{"job":1,"boot":2,"phase":"boot","joules":3}`))
	f.Add([]byte("n1\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x18\x00\x00\x00\x00\x00\x00\x00"), []byte(`{"samples":[{"time":"2026-01-01T00:00:00Z","watts":1}]}`))
	f.Add([]byte("n1\x00\x18\x00\x00\x00\x00\x00\x00\x00"), []byte(`{"job":1,"boot":1,"samples":[],"rapl":true,"counter_max":2000}`))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01"), []byte(`{"node":"n","phases":{},"samples":null}`))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if e, err := decodeLedgerEntry(k, v); err == nil {
			if nk, err := ledgerKey(e); err != nil || !bytes.Equal(nk, k) {
				t.Fatalf("ledger entry from key %x encodes back to key %x (%v)", k, nk, err)
			}
			if _, err := json.Marshal(e); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := decodeSampleChunk(k, v); err == nil {
			p, err := samplePrefix(c.Node, c.Job, c.Boot)
			if err != nil || !bytes.HasPrefix(k, p) || len(k) != len(p)+8 {
				t.Fatalf("chunk from key %x has prefix %x (%v)", k, p, err)
			}
		}
		ledgerV2(k, v)
		chunkV2(k, v)
		curveV2(k, v)
	})
}
