package store

// KindEnergy is what the ledger measured of one machine kind: how much a
// boot costs and how little a running machine draws. The controller's
// break-even idle time (ctld, --idle-off breakeven) is built from it.
type KindEnergy struct {
	Boots      int     // measured boot phases
	BootJoules float64 // their mean energy, power-on to agent ready
	Runs       int     // measured run phases of at least MinIdleRun
	// LowWatts is the lowest mean power of those runs: the closest the
	// ledger comes to the kind's idle draw (a job that waited on I/O or
	// slept), so an upper bound of it.
	LowWatts float64
}

// MinIdleRun is the shortest run phase, in seconds, whose mean power counts
// towards KindEnergy.LowWatts: a shorter one is mostly start-up.
const MinIdleRun = 60

// KindEnergy sums the ledger by machine kind. Estimated entries, and those
// whose samples cover less than half their span, are left out: they are
// models, not measurements.
func (t *Tx) KindEnergy() (map[string]KindEnergy, error) {
	out := map[string]KindEnergy{}
	err := t.ForEachLedgerEntry(func(e *LedgerEntry) error {
		if e.Estimated || e.Coverage < 0.5 || e.Kind == "" {
			return nil
		}
		k := out[e.Kind]
		switch e.Phase {
		case PhaseBoot:
			k.Boots++
			k.BootJoules += (e.Joules - k.BootJoules) / float64(k.Boots)
		case PhaseRun:
			if e.Duration < MinIdleRun {
				return nil
			}
			w := e.Joules / e.Duration
			if k.Runs == 0 || w < k.LowWatts {
				k.LowWatts = w
			}
			k.Runs++
		default:
			return nil
		}
		out[e.Kind] = k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
