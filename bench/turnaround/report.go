package main

import (
	"fmt"
	"io"
	"strings"
)

func report(w io.Writer, o options, rs []result) {
	fmt.Fprintf(w, "%d tasks of sleep %s on 2 lab nodes (x86_64, TCG)\n\n", o.tasks, o.sleep)
	fmt.Fprintln(w, "| configuration | bmcctld flags | first submit → last end | task submit → end (median) | boots | reused | billed J/task | metered J/task |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		flags := strings.Join(r.flags, " ")
		if flags == "" {
			flags = "(defaults)"
		}
		fmt.Fprintf(w, "| %s | `%s` | %.1f s | %.1f s | %d | %d | %.0f | %.0f |\n", r.name, flags,
			r.makespan.Seconds(), r.medianTurnround.Seconds(), r.boots, r.reused, r.billedPerTask, r.meteredPerTask)
	}
	if len(rs) == 2 && rs[1].makespan > 0 {
		a, b := rs[0], rs[1]
		fmt.Fprintf(w, "\n%s against %s: makespan %.0f %% shorter (%.2f×), metered J/task %.0f %% lower, billed J/task %.0f %% lower\n",
			b.name, a.name, 100*(1-b.makespan.Seconds()/a.makespan.Seconds()), a.makespan.Seconds()/b.makespan.Seconds(),
			100*(1-b.meteredPerTask/a.meteredPerTask), 100*(1-b.billedPerTask/a.billedPerTask))
	}
}
