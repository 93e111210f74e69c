package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout this code writes. Open upgrades older files.
//
//	1  jobs, events, nodes, ledger; samples with sub-buckets raw/ and curve/
//	   that the controller created at run time; ledger values were the API's
//	   JSON ledger entry.
//	2  the store's own record types: ledger values without the key's fields;
//	   raw samples keyed node/job/boot/time directly in samples; curves in a
//	   bucket of their own. Every bucket exists from the upgrade on.
//	3  node_events: each node's history (node_events.go).
//	4  associations (accounts, users) and imported carbon intensities
//	   (carbon); ledger entries may carry carbon and credit fields.
//	5  unbilled (energy no job was billed for, with its reason) and meter
//	   (each node's metered total); ledger entries name their meter.
const SchemaVersion = 5

var (
	bucketMeta     = []byte("meta")
	bucketJobs     = []byte("jobs")
	bucketEvents   = []byte("events")
	bucketNodes    = []byte("nodes")
	bucketLedger   = []byte("ledger")
	bucketSamples  = []byte("samples")
	bucketCurves   = []byte("curves")
	bucketAccounts = []byte("accounts")
	bucketUsers    = []byte("users")
	bucketCarbon   = []byte("carbon")
	bucketUnbilled = []byte("unbilled")
	bucketMeter    = []byte("meter")
	keySchema      = []byte("schema")
)

// upgrade creates missing buckets and runs each step from the file's version
// to SchemaVersion in one transaction, so a crash leaves the old or new layout.
func (s *Store) upgrade() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		var v uint32
		if b := meta.Get(keySchema); b != nil {
			if len(b) != 4 {
				return fmt.Errorf("schema version: corrupt value %x", b)
			}
			v = binary.BigEndian.Uint32(b)
		}
		if v > SchemaVersion {
			return fmt.Errorf("%w: schema %d, this bmcctld knows %d", ErrNewerSchema, v, SchemaVersion)
		}
		for ; v < SchemaVersion; v++ {
			if err := upgrades[v](tx); err != nil {
				return fmt.Errorf("upgrade schema %d→%d: %w", v, v+1, err)
			}
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
}

// upgrades[v] turns schema v into v+1. Version 0 is an empty file.
var upgrades = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketEvents, bucketNodes, bucketLedger, bucketSamples} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	upgradeV2,
	addNodeEventsBucket, // node_events.go
	upgradeV4,           // upgrade_v4.go
	upgradeV5,           // upgrade_v5.go
}
