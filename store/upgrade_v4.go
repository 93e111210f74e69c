package store

import bolt "go.etcd.io/bbolt"

// upgradeV4 adds the buckets of associations (accounts, users) and of
// imported carbon intensities. Ledger entries gained optional fields
// (carbon_g, carbon_unknown_j, credited, credit_reason) that older entries
// read as zero, so they are not rewritten.
func upgradeV4(tx *bolt.Tx) error {
	for _, b := range [][]byte{bucketAccounts, bucketUsers, bucketCarbon} {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	return nil
}
