# shellcheck shell=bash
# net.sh — the virtual lab's provisioning network, sourced by scripts/vlab.
#
# Bridge mode (the default): the lab makes its own network namespace with
# one bridge, br0, and one tap device per machine on it. bmcctld, the BMC
# simulators (and through them QEMU) run inside the namespace; bmcctld
# answers DHCP on br0 and gives each machine the address the nodes file
# names. The namespace has only br0 and lo: no route, no link out of it.
#
#   10.77.0.1/16      bmcctld (br0)
#   10.77.1.I         vnodeI (tap vt-nI)
#   10.77.2.J         varmJ  (tap vt-aJ)
#
# User mode (--net user): QEMU's slirp, as before: no namespace, every node
# reaches the controller as 10.0.2.2 (the host's loopback), SSH through a
# port forward; nodes are not bound to addresses. Quick runs only.

readonly NET_CIDR=10.77.0.1/16 NET_CTLD=10.77.0.1 NET_BRIDGE=br0

# net_mode DIR: "bridge" or "user", as the lab in DIR was brought up.
net_mode() {
	if [[ -f $1/netns ]]; then printf 'bridge\n'; else printf 'user\n'; fi
}

# net_ns DIR: the lab's namespace name, derived from its directory so two
# labs never share one.
net_ns_for() { printf 'bmcvlab-%s\n' "$(printf '%s' "$1" | sha256sum | cut -c1-10)"; }

# in_lab DIR CMD...: run CMD where the lab's machines and BMCs are: inside
# the namespace in bridge mode, here in user mode.
in_lab() {
	local d=$1
	shift
	if [[ -f $d/netns ]]; then
		ip netns exec "$(<"$d/netns")" "$@"
	else
		"$@"
	fi
}

# lab_prefix DIR: LAB_PREFIX is the command prefix that runs a program in
# the lab's network (start_bg takes programs, not shell functions).
LAB_PREFIX=()
lab_prefix() {
	LAB_PREFIX=()
	if [[ -f $1/netns ]]; then LAB_PREFIX=(ip netns exec "$(<"$1/netns")"); fi
}

# node_addr KIND I: a machine's address (KIND n for x86, a for arm).
node_addr() { if [[ $1 == a ]]; then printf '10.77.2.%d\n' "$2"; else printf '10.77.1.%d\n' "$2"; fi; }

# tap_name KIND I: a machine's tap device.
tap_name() { printf 'vt-%s%d\n' "$1" "$2"; }

# net_up DIR N M: the namespace, br0 with bmcctld's address, a tap per machine.
net_up() {
	local d=$1 n=$2 m=$3 ns i
	[[ $(id -u) == 0 ]] || die "the bridged lab needs root (ip netns); --net user runs without"
	ns=$(net_ns_for "$d")
	if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
		log "removing the stale namespace $ns of an earlier lab in $d"
		ip netns del "$ns"
	fi
	ip netns add "$ns" || die "ip netns add $ns failed"
	printf '%s\n' "$ns" >"$d/netns"
	ip -n "$ns" link set lo up
	# No TIME_WAIT in the lab's network: GRUB reuses its source ports from
	# one boot to the next (see GRUB_EMBED in scripts/vlab), and a machine
	# booted again within a minute would otherwise lose its first request.
	ip netns exec "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=0 ||
		log "could not turn TIME_WAIT off in $ns"
	ip -n "$ns" link add "$NET_BRIDGE" type bridge
	# No STP and no forwarding delay: a tap is usable as soon as QEMU opens it.
	ip -n "$ns" link set "$NET_BRIDGE" type bridge stp_state 0 forward_delay 0
	ip -n "$ns" addr add "$NET_CIDR" dev "$NET_BRIDGE"
	ip -n "$ns" link set "$NET_BRIDGE" up
	for ((i = 1; i <= n; i++)); do net_tap "$ns" "$(tap_name n "$i")"; done
	for ((i = 1; i <= m; i++)); do net_tap "$ns" "$(tap_name a "$i")"; done
}

net_tap() {
	ip -n "$1" tuntap add dev "$2" mode tap || die "ip tuntap add $2 failed"
	ip -n "$1" link set "$2" master "$NET_BRIDGE"
	ip -n "$1" link set "$2" up
}

# net_down DIR: remove the namespace (its bridge and taps go with it). Call
# it after every process inside has stopped.
net_down() {
	local d=$1 ns
	[[ -f $d/netns ]] || return 0
	ns=$(<"$d/netns")
	if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
		# Whatever still runs in the lab's network is the lab's (a capture
		# someone left behind): it would keep the namespace, and its files.
		local pid
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			log "stopping pid $pid left in $ns: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80)"
			kill -TERM "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" || log "ip netns del $ns failed"
	fi
	rm -f "$d/netns"
}

# qemu_netdev MODE KIND I SSHPORT BOOTFILE: QEMU's -netdev argument.
qemu_netdev() {
	local mode=$1 kind=$2 i=$3 sshport=$4 bootfile=$5
	if [[ $mode == bridge ]]; then
		printf 'tap,id=n0,ifname=%s,script=no,downscript=no\n' "$(tap_name "$kind" "$i")"
	else
		printf 'user,id=n0,ipv6=off,hostfwd=tcp:127.0.0.1:%s-:22,bootfile=%s\n' "$sshport" "$bootfile"
	fi
}
