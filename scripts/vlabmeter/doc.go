// Package vlabmeter owns the virtual lab's power model, its ground-truth
// energy meter and each node's BMC power sensor. For each lab node it turns
// the CPU time its QEMU process burns into a continuous wall power (idle +
// dynamic × smoothed CPU use, a power-on surge, a standby draw while off: a
// model, not a measurement), integrates it at the model's rate (50 Hz) into
// the ground-truth joules counter the accounting tests compare bills with,
// and publishes a separate, degraded view of it — a rolling average updated
// on its own period, late, noisy and quantised, like a real BMC's — to the
// file the node's ipmi_sim exposes as the "Sys Power" SDR sensor.
package vlabmeter
