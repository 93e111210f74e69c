package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// slurm is a one-node Slurm on 127.0.0.1: munged, slurmctld and slurmd,
// with their state, spool, logs and munge key under dir.
type slurm struct {
	dir                       string
	env                       []string // SLURM_CONF for every Slurm command
	munged, slurmctld, slurmd *daemon
}

const slurmConf = `ClusterName=bmcbench
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={{port}}
SlurmdPort={{port2}}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={{dir}}/munge/munge.sock
StateSaveLocation={{dir}}/state
SlurmdSpoolDir={{dir}}/spool
SlurmctldPidFile={{dir}}/slurmctld.pid
SlurmdPidFile={{dir}}/slurmd.pid
SlurmctldLogFile={{dir}}/slurmctld.log
SlurmdLogFile={{dir}}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MaxJobCount=100000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=bench Nodes=localhost Default=YES MaxTime=INFINITE State=UP
`

// startSlurm writes the configuration and a fresh munge key and starts the
// three daemons in the foreground, as root, talking over 127.0.0.1 only.
func startSlurm(ctx context.Context, dir string, port int) (*slurm, error) {
	for _, tool := range []string{"munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found: apt-get install -y slurm-wlm munge", tool)
		}
	}
	s := &slurm{dir: dir}
	for _, d := range []string{"state", "spool", "munge"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	key := make([]byte, 1024)
	rand.Read(key)
	keyFile := filepath.Join(dir, "munge", "munge.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, err
	}
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port), "{{port2}}", fmt.Sprint(port+1)).Replace(slurmConf)
	confFile := filepath.Join(dir, "slurm.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	s.env = []string{"SLURM_CONF=" + confFile}
	var err error
	m := filepath.Join(dir, "munge")
	if s.munged, err = start("munged", filepath.Join(dir, "munged.out"), nil, "--foreground", "--force",
		"--socket="+m+"/munge.sock", "--key-file="+keyFile, "--log-file="+m+"/munged.log",
		"--pid-file="+m+"/munged.pid", "--seed-file="+m+"/munged.seed"); err != nil {
		return nil, err
	}
	if err := s.munged.waitFor(ctx, "munge socket", 10*time.Second, func() bool {
		_, err := os.Stat(m + "/munge.sock")
		return err == nil
	}); err != nil {
		s.stop()
		return nil, err
	}
	if s.slurmctld, err = start("slurmctld", filepath.Join(dir, "slurmctld.out"), s.env, "-D", "-i", "-f", confFile); err != nil {
		s.stop()
		return nil, err
	}
	if s.slurmd, err = start("slurmd", filepath.Join(dir, "slurmd.out"), s.env, "-D", "-N", "localhost", "-f", confFile); err != nil {
		s.stop()
		return nil, err
	}
	if err := s.slurmctld.waitFor(ctx, "an idle node", 60*time.Second, func() bool {
		out, err := output(ctx, s.env, "sinfo", "-h", "-o", "%T")
		return err == nil && strings.TrimSpace(out) == "idle"
	}); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *slurm) stop() {
	s.slurmd.stop()
	s.slurmctld.stop()
	s.munged.stop()
}

// queued is how many jobs squeue lists.
func (s *slurm) queued(ctx context.Context) (int, error) {
	out, err := output(ctx, s.env, "squeue", "-h", "-o", "%i")
	if err != nil {
		return 0, err
	}
	return strings.Count(out, "\n"), nil
}
