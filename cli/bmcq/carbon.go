package bmcq

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

func newCarbonCommand(env cli.Env, f *qFlags) *cobra.Command {
	root := &cobra.Command{Use: "carbon", Short: "Grid carbon intensity (admins import hourly values)"}
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Import hourly carbon intensities (CSV: TIME,G_PER_KWH)",
		Long: `bmcq carbon import reads a CSV file of hourly grid carbon intensities, as
grid operators publish them: "2026-11-25T14:00:00+01:00,312" a line (a header
line "time,g_per_kwh" and # comments are skipped), and stores them in
bmcctld, replacing the values of the same hours. Where an hourly value
exists it wins over the tariff file's [[carbon]] windows. Bills give each
job's grams of CO2e, and bmcsubmit --when-greenest picks a start by them.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readFileArg(env, args[0])
			if err != nil {
				return err
			}
			hs, err := accounting.ParseCarbonHours(args[0], data)
			if err != nil {
				return cli.LineError{Err: err}
			}
			res, err := client(env, f.socket).ImportCarbon(cmd.Context(), api.CarbonImport{Hours: hs})
			if err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, res)
			}
			_, err = fmt.Fprintf(env.Stdout, "imported %d hourly values; bmcctld holds %d, from %s to %s\n", res.Imported, res.Total, ts(res.First), ts(res.Last))
			return err
		},
	}
	root.AddCommand(imp)
	return root
}
