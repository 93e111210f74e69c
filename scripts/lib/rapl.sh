# shellcheck shell=bash
# rapl.sh — the virtual lab's emulated RAPL, sourced by scripts/vlab.
#
# A TCG guest has no powercap: QEMU's TCG does not emulate the RAPL MSRs. With
# `vlab up N --rapl K` the first K x86 nodes get one anyway: vlab-meter writes
# a package-energy counter (intel-rapl:0/energy_uj, its max_energy_range_uj
# and wrap) fed from the power model's CPU use into DIR/nodeI/rapl/, QEMU
# shares that directory into the guest over virtio-9p (mount tag "rapl"), and
# the lab initrd's /etc/fstab mounts it read-only over /sys/class/powercap,
# where bmcinit reads RAPL on real machines. These nodes' BMCs read no power
# (power_meter = "none"): bmcctld bills them from the agent's counter.
#
# A job is root on its machine and may forge the counter, as on real
# hardware: mounting the share itself (mount -t 9p -o trans=virtio rapl /mnt)
# and writing "freeze" (the counter stops where it stands) or a value in µJ
# to /mnt/forge. vlab-meter shows that until the file goes or the machine is
# next switched on; the package's true energy (DIR/nodeI/package_joules)
# goes on regardless. See docs/vlab.md.

# Model values for the CPU package of a "qemu-x86" node, not measurements: a
# share of the wall power's idle draw (the package idles low; memory, fans,
# disks, NIC, PSU losses and the BMC are not in it) and most of its dynamic
# part (60 W at the wall less the power supply's and VRMs' losses).
readonly PKG_IDLE_WATTS=8 PKG_DYNAMIC_WATTS=48
# energy_uj at each power-on: a cold boot resets the counter to 0, and
# bmcctld bills the first reading after a cold power-on as the boot's energy,
# so anything else is billed as boot energy. A small max_energy_range_uj (a
# real package's is 262143328850, ~262 kJ) makes a job's counter wrap.
readonly RAPL_START_UJ=${VLAB_RAPL_START_UJ:-0}
readonly RAPL_RANGE_UJ=${VLAB_RAPL_RANGE_UJ:-262143328850}
# The kernel modules the guest needs for the share, in dependency order.
readonly SHARE_MODULES=(
	fs/netfs/netfs
	fs/fscache/fscache
	net/9p/9pnet
	net/9p/9pnet_virtio
	fs/9p/9p
)
# The line the lab initrd's /etc/fstab mounts the share with; nofail, as
# nodes without --rapl have no such device.
readonly RAPL_FSTAB='rapl /sys/class/powercap 9p trans=virtio,version=9p2000.L,ro,nofail 0 0'

# is_rapl DIR I: node I emulates RAPL.
is_rapl() { [[ -d $1/node$2/rapl ]]; }

# rapl_node DIR I: give node I (written by write_node) its RAPL share. The
# guest may write to it (a forged counter, see above): mapped-file keeps
# whatever it creates a plain file on the host, never a device node.
rapl_node() {
	local nd=$1/node$2
	mkdir -p "$nd/rapl"
	sed -i "s|^  -pidfile |  -virtfs local,path=$nd/rapl,mount_tag=rapl,security_model=mapped-file \\\\\n  -pidfile |" \
		"$nd/startcmd"
	grep -q -- "-virtfs local,path=$nd/rapl," "$nd/startcmd" || die "vnode$2: startcmd has no RAPL share"
}

# rapl_meter_toml DIR I: node I's [node.rapl] table in meter.toml.
rapl_meter_toml() {
	cat <<EOF

[node.rapl]
dir = "$1/node$2/rapl"
idle_watts = $PKG_IDLE_WATTS
dynamic_watts = $PKG_DYNAMIC_WATTS
start_uj = $RAPL_START_UJ
max_energy_range_uj = $RAPL_RANGE_UJ
EOF
}

# rapl_status DIR I: energy_uj as the guest sees it, and the package's truth.
rapl_status() {
	printf 'energy_uj=%s package_joules=%s\n' \
		"$(cat "$1/node$2/rapl/intel-rapl:0/energy_uj" 2>/dev/null || echo -)" \
		"$(cat "$1/node$2/package_joules" 2>/dev/null || echo -)"
}
