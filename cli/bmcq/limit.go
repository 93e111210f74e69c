package bmcq

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/assoc"
)

// energyUnits are what --energy-limit takes, in joules each.
var energyUnits = []struct {
	suffix string
	joules float64
}{{"mwh", 1000 * accounting.JoulesPerKWh}, {"kwh", accounting.JoulesPerKWh}, {"wh", accounting.JoulesPerKWh / 1000},
	{"gj", 1e9}, {"mj", 1e6}, {"kj", 1e3}, {"j", 1}}

// parseEnergyKWh reads an energy as --energy-limit takes it: a number of
// kWh, or a number with a unit (MWh, kWh, Wh, GJ, MJ, kJ, J); "none" is 0.
func parseEnergyKWh(s string) (float64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "none" || t == "0" {
		return 0, nil
	}
	scale := accounting.JoulesPerKWh
	for _, u := range energyUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, scale = strings.TrimSpace(rest), u.joules
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || !(v >= 0) || v > assoc.MaxEnergyKWh*accounting.JoulesPerKWh/scale {
		return 0, fmt.Errorf("%q is not an energy: want kWh, or a number with MWh, kWh, Wh, GJ, MJ, kJ or J, or none", s)
	}
	return v * scale / accounting.JoulesPerKWh, nil
}

// applyLimit sets l from --energy-limit and --period when given.
func applyLimit(cmd *cobra.Command, limit, period string, l *assoc.Limit) error {
	if cmd.Flags().Changed("energy-limit") {
		v, err := parseEnergyKWh(limit)
		if err != nil {
			return fmt.Errorf("--energy-limit: %w", err)
		}
		l.EnergyKWh = v
	}
	if cmd.Flags().Changed("period") {
		l.Period = period
	}
	return nil
}

// fmtEnergy shows joules the way a bill reads: kWh with four significant
// digits, or joules below a watt-hour.
func fmtEnergy(j float64) string {
	if j < 0 {
		return "-" + fmtEnergy(-j)
	}
	if j < accounting.JoulesPerKWh/1000 {
		return strconv.FormatFloat(j, 'f', 0, 64) + " J"
	}
	return strconv.FormatFloat(j/accounting.JoulesPerKWh, 'g', 4, 64) + " kWh"
}

func fmtLimit(l assoc.Limit) (string, string) {
	if !l.Set() {
		return "-", "-"
	}
	return strconv.FormatFloat(l.EnergyKWh, 'g', -1, 64) + " kWh", l.PeriodSpec()
}

// jobLimitFlags are --max-submit-jobs and --max-jobs (sacctmgr's
// MaxSubmitJobs and MaxJobs) on account and user add/modify.
type jobLimitFlags struct{ maxSubmit, maxJobs int }

func (jf *jobLimitFlags) bind(cmd *cobra.Command, whose string) {
	cmd.Flags().IntVar(&jf.maxSubmit, "max-submit-jobs", 0, "jobs "+whose+" may have pending or running at once (0: no limit of its own)")
	cmd.Flags().IntVar(&jf.maxJobs, "max-jobs", 0, "jobs "+whose+" may have running at once (0: no limit of its own)")
}

// apply sets l from the flags given.
func (jf *jobLimitFlags) apply(cmd *cobra.Command, l *assoc.JobLimits) {
	if cmd.Flags().Changed("max-submit-jobs") {
		l.MaxSubmitJobs = jf.maxSubmit
	}
	if cmd.Flags().Changed("max-jobs") {
		l.MaxJobs = jf.maxJobs
	}
}
