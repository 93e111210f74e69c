// Package accounting owns how bmc turns power readings into bills: the bill
// of one boot of a job (BillBoot: its event log, samples, tariffs and the
// job and node facts → one ledger entry per phase: boot, run, power-off),
// the integration of samples into joules, job totals (SumJob), down-sampling
// a power curve so it can be drawn, tariffs whose windows are cron
// expressions read on a DST-aware wall clock, with effective dates, carbon
// intensity (windows and imported hourly values, grams per bill, the
// greenest start), the tariff file, the one joules-per-kWh constant,
// decayed usage for the fair share, and the reports built on billed jobs:
// statements cut at a period's edges, totals, sums per arch, kind, image,
// user or account, the per-kind advice for each application (Compare) and
// the mean joules per machine kind that arch = "any" placement uses.
//
// The core is pure: no I/O and no clock reads. Time arrives in the data
// (sample timestamps, event times, phase boundaries, pricing windows), so
// every bill can be recomputed from the stored samples and gives the same
// answer. The controller gathers the inputs and stores the results.
package accounting
