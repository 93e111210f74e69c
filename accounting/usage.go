package accounting

// JobUsage is one billed job as the reports see it: what ran, where, and
// what it used. It is the input of SumJobs, GroupBy and Compare. The API's
// AcctJob carries the same figures on the wire; its readers convert, so that
// accounting depends on no wire format.
type JobUsage struct {
	JobID   string
	User    string
	Account string
	// Completed is set when the job ended COMPLETED: only such runs say
	// what an application needs.
	Completed bool
	Arch      string
	Kind      string // machine kind
	Image     string // the reference the job named
	Command   string
	// Meter is the job's meter (rapl-inband, dcmi, …): sums by meter
	// keep in-band package energy apart from whole-machine energy.
	Meter string
	// Elapsed is power on to confirmed power off over all boots;
	// RunSeconds is the command's own time.
	Elapsed      float64
	RunSeconds   float64
	EnergyJoules float64 // boot + run + off
	BootJoules   float64
	RunJoules    float64
	OffJoules    float64
	Cost         float64
	// EnergyEstimated is set when part of the energy was not measured.
	EnergyEstimated bool
}
