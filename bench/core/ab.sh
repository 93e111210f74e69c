#!/bin/bash
# bmcctld CPU per submit of two builds, head to head (bench/README.md,
# "Daemon memory and CPU per submit"): both daemons run at once with HELD
# held jobs each, and ROUNDS alternating shell loops of N held submits go to
# one, then the other (the order swapped every round), so that a load that
# comes and goes weighs on both. Each daemon's utime+stime is summed over
# its own loops only.
#
#   flock /tmp/bmc-bench.lock bench/core/ab.sh BIN_A BIN_B [ROUNDS N HELD]
#
# BIN_A and BIN_B hold bmcctld and bmcsubmit, e.g. built with
#   CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o BIN/ ./cmd/bmcctld ./cmd/bmcsubmit
set -eu
A=$1 B=$2 R=${3:-10} N=${4:-300} HELD=${5:-3000}
TMP=$(mktemp -d)
declare -A BIN PID TICKS
BIN[a]=$A BIN[b]=$B
cleanup() {
	for v in a b; do [ -n "${PID[$v]:-}" ] && kill "${PID[$v]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
for v in a b; do
	mkdir -p "$TMP/$v/state"
	printf 'name = "bench"\nimage = "busybox:1.36"\ncommand = "true"\ntime_limit = "10:00"\nhold = true\n' >"$TMP/$v/job.toml"
	"${BIN[$v]}/bmcctld" --state-dir "$TMP/$v/state" --sim 8 --node-listen 127.0.0.1:0 \
		--log-file "$TMP/$v/log" --max-submit-jobs 0 >"$TMP/$v/out" 2>&1 &
	PID[$v]=$!
	TICKS[$v]=0
	for _ in $(seq 100); do [ -S "$TMP/$v/state/bmcctld.sock" ] && break; sleep 0.1; done
	if [ "$HELD" -gt 0 ]; then
		(cd "$TMP/$v" && BMC_SOCKET="$TMP/$v/state/bmcctld.sock" "${BIN[$v]}/bmcsubmit" --array "1-$HELD" job.toml >/dev/null)
	fi
done
sleep 2
for r in $(seq "$R"); do
	order="a b"
	[ $((r % 2)) = 0 ] && order="b a"
	for v in $order; do
		c0=$(ticks "${PID[$v]}")
		(cd "$TMP/$v" && export BMC_SOCKET="$TMP/$v/state/bmcctld.sock" &&
			for _ in $(seq "$N"); do "${BIN[$v]}/bmcsubmit" --parsable job.toml >/dev/null; done)
		d=$(($(ticks "${PID[$v]}") - c0))
		TICKS[$v]=$((TICKS[$v] + d))
		echo "round $r $v: $(echo "scale=3; $d*1000/$hz/$N" | bc) ms/submit"
	done
done
for v in a b; do
	echo "total $v (${BIN[$v]}): $(echo "scale=3; ${TICKS[$v]}*1000/$hz/($R*$N)" | bc) ms/submit over $R × $N submits, $HELD held"
done
