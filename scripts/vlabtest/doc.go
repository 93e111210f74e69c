// Package vlabtest holds the end-to-end tests of the virtual lab
// (scripts/vlab): they bring a real lab up, power a QEMU node on through its
// ipmi_sim BMC, watch it network-boot and check the power model and the
// ground-truth energy counter. They run only with -tags vlab, as root, and
// fail (never skip) when the lab cannot come up.
package vlabtest
