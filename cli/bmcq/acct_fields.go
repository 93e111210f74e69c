package bmcq

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
)

// DefaultAcctFormat is the field list bmcq acct prints without --format.
const DefaultAcctFormat = "JobID,JobName,User,Account,State,Node,Kind,Elapsed,BootJ,RunJ,OffJ,EnergyJ,Meter,Cost,Est"

// acctField is one column of bmcq acct: its cell for a job and, for a
// summed column, the number behind the cell and its total in the TOTAL
// line, both printed by fmt.
type acctField struct {
	get   func(j *api.AcctJob) string
	value func(j *api.AcctJob) float64 // nil: not summed
	total func(t *accounting.Totals) float64
	fmt   func(v float64) string
}

// summed is a column whose cell and total print the same number the same way.
func summed(v func(j *api.AcctJob) float64, t func(t *accounting.Totals) float64, f func(float64) string) acctField {
	return acctField{get: func(j *api.AcctJob) string { return f(v(j)) }, value: v, total: t, fmt: f}
}

func joules(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func money(v float64) string  { return strconv.FormatFloat(v, 'f', 4, 64) }
func kwh(v float64) string    { return strconv.FormatFloat(v, 'f', 6, 64) }

var acctFields = map[string]acctField{
	"jobid":   {get: func(j *api.AcctJob) string { return j.JobID }},
	"jobname": {get: func(j *api.AcctJob) string { return trunc(j.Name, 20) }},
	"user":    {get: func(j *api.AcctJob) string { return j.User }},
	"account": {get: func(j *api.AcctJob) string { return orDash(j.Account) }},
	"state":   {get: func(j *api.AcctJob) string { return string(j.State) }},
	"node": {get: func(j *api.AcctJob) string {
		if j.Simulated {
			return j.Node + "*"
		}
		return j.Node
	}},
	"arch":    {get: func(j *api.AcctJob) string { return j.Arch }},
	"kind":    {get: func(j *api.AcctJob) string { return j.Kind }},
	"image":   {get: func(j *api.AcctJob) string { return j.Image }},
	"command": {get: func(j *api.AcctJob) string { return trunc(j.Command, 30) }},
	"boots":   {get: func(j *api.AcctJob) string { return strconv.Itoa(j.Boots) }},
	"start":   {get: func(j *api.AcctJob) string { return ts(j.Start) }},
	"end":     {get: func(j *api.AcctJob) string { return ts(j.End) }},
	"elapsed": summed(func(j *api.AcctJob) float64 { return j.Elapsed }, func(t *accounting.Totals) float64 { return t.Elapsed }, fmtDuration),
	"runtime": summed(func(j *api.AcctJob) float64 { return j.RunSeconds }, func(t *accounting.Totals) float64 { return t.RunSeconds }, fmtDuration),
	"bootj":   summed(func(j *api.AcctJob) float64 { return j.BootJoules }, func(t *accounting.Totals) float64 { return t.BootJoules }, joules),
	"runj":    summed(func(j *api.AcctJob) float64 { return j.RunJoules }, func(t *accounting.Totals) float64 { return t.RunJoules }, joules),
	"offj":    summed(func(j *api.AcctJob) float64 { return j.OffJoules }, func(t *accounting.Totals) float64 { return t.OffJoules }, joules),
	"energyj": summed(func(j *api.AcctJob) float64 { return j.EnergyJoules }, func(t *accounting.Totals) float64 { return t.EnergyJoules }, joules),
	"kwh": summed(func(j *api.AcctJob) float64 { return j.EnergyJoules / accounting.JoulesPerKWh },
		func(t *accounting.Totals) float64 { return t.EnergyJoules / accounting.JoulesPerKWh }, kwh),
	"avgw": {get: func(j *api.AcctJob) string {
		if j.Elapsed <= 0 {
			return "-"
		}
		return strconv.FormatFloat(j.EnergyJoules/j.Elapsed, 'f', 1, 64)
	}},
	"cost": summed(func(j *api.AcctJob) float64 { return j.Cost }, func(t *accounting.Totals) float64 { return t.Cost }, money),
	// meter: where the energy came from; "!" marks self-reported
	// (in-band) energy and "?" an implausible counter billed the floor.
	"meter": {get: func(j *api.AcctJob) string {
		m := orDash(j.Meter)
		if j.Implausible {
			return m + "?"
		}
		if j.SelfReported {
			return m + "!"
		}
		return m
	}},
	"credited": summed(func(j *api.AcctJob) float64 { return j.CreditedJoules }, nil, joules),
	"co2g":     {get: func(j *api.AcctJob) string { return strconv.FormatFloat(j.CarbonGrams, 'f', 1, 64) }},
	"est": {get: func(j *api.AcctJob) string {
		if j.EnergyEstimated {
			return "yes"
		}
		return "no"
	}},
}

// acctFieldNames lists the fields in the order help shows them.
var acctFieldNames = []string{"JobID", "JobName", "User", "Account", "State", "Node", "Arch", "Kind", "Image", "Command",
	"Boots", "Start", "End", "Elapsed", "RunTime", "BootJ", "RunJ", "OffJ", "EnergyJ", "kWh", "AvgW", "Meter", "Credited", "Cost", "CO2g", "Est"}

func parseFormat(format string) ([]string, []acctField, error) {
	var names []string
	var fields []acctField
	for _, n := range strings.Split(format, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		fd, ok := acctFields[strings.ToLower(n)]
		if !ok {
			return nil, nil, fmt.Errorf("--format: unknown field %q (fields: %s)", n, strings.Join(acctFieldNames, ","))
		}
		names = append(names, canonicalField(n))
		fields = append(fields, fd)
	}
	if len(fields) == 0 {
		return nil, nil, fmt.Errorf("--format: no fields")
	}
	return names, fields, nil
}

func canonicalField(n string) string {
	for _, c := range acctFieldNames {
		if strings.EqualFold(c, n) {
			return c
		}
	}
	return n
}
