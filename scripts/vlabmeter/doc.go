// Package vlabmeter owns the virtual lab's power model and its ground-truth
// energy meter. For each lab node it turns the CPU time its QEMU process burns
// into watts (idle + dynamic × CPU use, a model, not a measurement), writes
// them to the file the node's ipmi_sim exposes as the "Sys Power" SDR sensor,
// and integrates the very same watts at 10 Hz into a joules counter that the
// accounting tests compare the billed energy against.
package vlabmeter
