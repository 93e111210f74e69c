package store

import bolt "go.etcd.io/bbolt"

// upgradeV5 adds the buckets of the conservation ledger: unbilled (energy
// metered on a node that no job was billed for, with its reason) and meter
// (each node's metered total over time). Ledger entries and chunks gained
// optional fields (meter, self_reported, implausible, floor_joules) that
// older records read as zero, so they are not rewritten.
func upgradeV5(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketUnbilled, bucketMeter} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}
