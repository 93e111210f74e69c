// Package accounting owns how bmc turns power readings into billed energy:
// integrating samples into joules per job phase (boot, run, power-off),
// down-sampling a job's power curve so it can be drawn, pricing energy
// with tariffs whose windows are cron expressions, and the reports built
// on billed jobs: totals, sums per arch, kind, image, user or account, and
// the per-kind advice for each application (Compare).
//
// The core is pure: no I/O and no clock reads. Time arrives in the data
// (sample timestamps, phase boundaries, pricing windows), so every bill can be
// recomputed from the stored samples and gives the same answer.
package accounting
