package bmcq

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

func newKernelsCommand(env cli.Env, f *qFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "kernels",
		Short: "List the kernels a job may name (the cluster default and the catalog)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l api.KernelList
			if err := client(env, f.socket).Get(cmd.Context(), api.PathKernels, nil, &l); err != nil {
				return err
			}
			if f.json {
				return writeJSON(env.Stdout, l)
			}
			return RenderKernels(env.Stdout, l.Kernels)
		},
	}
}

// RenderKernels prints the kernel catalog.
func RenderKernels(w io.Writer, ks []api.KernelInfo) error {
	if len(ks) == 0 {
		_, err := fmt.Fprintln(w, "No kernels: this cluster has only simulated machines, or no default kernel and no catalog.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tARCH\tKERNEL\tINITRD\tCMDLINE\tDESCRIPTION")
	for _, k := range ks {
		name := k.Name
		if k.Default {
			name += " (default)"
		}
		row(tw, name, orAny(k.Arch), k.Kernel, orDash(k.Initrd), orDash(k.Cmdline), orDash(k.Description))
	}
	return tw.Flush()
}
