# shellcheck shell=bash
# redfish.sh — the virtual lab's Redfish nodes, sourced by scripts/vlab.
#
# `vlab up N --redfish K` puts the last K x86 nodes behind a Redfish BMC
# (cmd/vlab-redfish, one per node) instead of ipmi_sim: it serves HTTPS on
# 127.0.0.1 at the node's BMC port (TCP, the number its IPMI port would be),
# starts and kills the node's QEMU, and reports vlab-meter's sensor watts and
# an energy counter fed from the ground truth. See docs/vlab.md.

# Settings of the BMC's energy counter (env overrides for accuracy runs).
readonly REDFISH_COUNTER_START_KWH=${VLAB_REDFISH_COUNTER_START_KWH:-20000}
readonly REDFISH_COUNTER_PERIOD=${VLAB_REDFISH_COUNTER_PERIOD:-1s}
readonly REDFISH_COUNTER_RESOLUTION_KWH=${VLAB_REDFISH_COUNTER_RESOLUTION_KWH:-0.000001}
# VLAB_REDFISH_COUNTER=off: the BMCs report watts only (no EnvironmentMetrics).
readonly REDFISH_COUNTER=${VLAB_REDFISH_COUNTER:-on}

# is_redfish DIR I: node I was set up behind a Redfish BMC.
is_redfish() { [[ -f $1/node$2/redfish.conf ]]; }

# redfish_first N K: the first node number behind Redfish (N-K+1).
redfish_first() { printf '%s\n' $(($1 - $2 + 1)); }

# redfish_port DIR I: the node's Redfish HTTPS port.
redfish_port() { awk -F= '$1 == "port" { print $2; exit }' "$1/node$2/redfish.conf"; }

# redfish_node DIR I PORT PASSWORD: turn the node written by write_node into
# a Redfish node. Its QEMU has no IPMI device (no ipmi_sim to talk to).
redfish_node() {
	local d=$1 i=$2 port=$3 pw=$4 nd=$1/node$2
	sed -i '/ipmi/d' "$nd/startcmd"
	rm -f "$nd/lan.conf" "$nd/node.emu"
	(
		umask 077
		printf '%s\n' "$pw" >"$nd/redfish.pass"
	)
	printf 'port=%s\n' "$port" >"$nd/redfish.conf"
}

# redfish_start DIR I: start the node's BMC and wait until it answers.
redfish_start() {
	local d=$1 i=$2 nd=$1/node$2 port bin=${VLAB_REDFISH:-$1/bin/vlab-redfish} extra=()
	port=$(redfish_port "$d" "$i")
	[[ $REDFISH_COUNTER == on ]] || extra=(--no-counter)
	start_bg "$nd/redfish.pid" "$nd/redfish.log" "${LAB_PREFIX[@]}" "$bin" --listen "127.0.0.1:$port" \
		--user admin --password-file "$nd/redfish.pass" --startcmd "$nd/startcmd" \
		--pidfile "$nd/qemu.pid" --watts-file "$nd/power_watts" --joules-file "$nd/energy_joules" \
		--counter-start-kwh "$REDFISH_COUNTER_START_KWH" --counter-period "$REDFISH_COUNTER_PERIOD" \
		--counter-resolution-kwh "$REDFISH_COUNTER_RESOLUTION_KWH" "${extra[@]}"
	local t
	for ((t = 0; t < 100; t++)); do
		redfish_get "$d" "$i" /redfish/v1/Systems/1 >/dev/null 2>&1 && return 0
		started_alive "$nd/redfish.pid" || die "vlab-redfish of vnode$i exited: $(tail -n 5 "$nd/redfish.log")"
		sleep 0.1
	done
	die "vlab-redfish of vnode$i does not answer on port $port"
}

# redfish_alive DIR I: the node's BMC process runs.
redfish_alive() { pidfile_alive "$1/node$2/redfish.pid" vlab-redfish "$1/node$2/"; }

# redfish_stop DIR I: power the node off through its BMC, then stop the BMC.
redfish_stop() {
	local d=$1 i=$2
	if redfish_alive "$d" "$i"; then
		redfish_post "$d" "$i" /redfish/v1/Systems/1/Actions/ComputerSystem.Reset \
			'{"ResetType":"ForceOff"}' >/dev/null 2>&1 || log "node$i: Redfish power off failed"
	fi
	stop_pidfile "$d/node$i/redfish.pid" vlab-redfish "$d/node$i/"
}

# redfish_get DIR I PATH / redfish_post DIR I PATH JSON: one request with the
# BMC's own password (the lab's certificates are self-signed: -k). The
# password goes to curl on stdin, not on its command line.
redfish_get() {
	printf 'user = "admin:%s"\n' "$(<"$1/node$2/redfish.pass")" |
		in_lab "$1" curl -sSfk --max-time 5 -K - "https://127.0.0.1:$(redfish_port "$1" "$2")$3"
}
redfish_post() {
	printf 'user = "admin:%s"\n' "$(<"$1/node$2/redfish.pass")" |
		in_lab "$1" curl -sSfk --max-time 5 -K - -H 'Content-Type: application/json' -d "$4" \
			"https://127.0.0.1:$(redfish_port "$1" "$2")$3"
}

# redfish_bmc_toml DIR I: the node's [node.bmc] table for nodes.toml.
redfish_bmc_toml() {
	cat <<TOML
[node.bmc]
protocol = "redfish"
address = "127.0.0.1"
port = $(redfish_port "$1" "$2")
user = "admin"
password_file = "$1/node$2/bmc.pass"
insecure = true
TOML
}

# redfish_status DIR I: power state and watts as the BMC reports them.
redfish_status() {
	local st="bmc-down" bw="-" kwh="-" sys env
	if redfish_alive "$1" "$2"; then
		sys=$(redfish_get "$1" "$2" /redfish/v1/Systems/1 2>/dev/null) || sys=""
		env=$(redfish_get "$1" "$2" /redfish/v1/Chassis/1/EnvironmentMetrics 2>/dev/null) || env=""
		st=$(sed -n 's/.*"PowerState":"\([A-Za-z]*\)".*/\1/p' <<<"$sys" | tr 'A-Z' 'a-z')
		bw=$(sed -n 's/.*"PowerWatts":{"Reading":\([0-9.]*\)}.*/\1/p' <<<"$env")
		kwh=$(sed -n 's/.*"EnergykWh":{"Reading":\([0-9.e+-]*\)}.*/\1/p' <<<"$env")
	fi
	printf '%s %s %s\n' "${st:-error}" "${bw:--}" "${kwh:--}"
}
