#!/bin/sh
# bmc side by side with Slurm 22.05 from Debian: submit loop, queue listing,
# daemon memory and CPU per submit (bench/README.md, "Side by side with
# Slurm"). Run as root; installs slurm-wlm and munge if they are missing.
# Arguments go to the Go command, e.g.: bench/slurm/run.sh -out bench/results-slurm.txt
set -eu
cd "$(dirname "$0")/../.."
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
	apt-get install -y slurm-wlm munge
fi
exec flock /tmp/bmc-bench.lock go run ./bench/slurm "$@"
