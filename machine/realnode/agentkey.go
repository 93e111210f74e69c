package realnode

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bmc-sched/bmc/boot"
	"github.com/bmc-sched/bmc/job"
)

// A job's boot's agent token lives in the boot server's memory; its hash is
// kept beside the job's SSH key, so a restarted controller that recovers
// the running job takes its agent's heartbeats (and the in-band energy they
// carry) again instead of refusing them as a revoked token.

// agentKeyFile is what the file holds: which boot, and its token's hash.
type agentKeyFile struct {
	Boot uint64 `json:"boot"`
	Key  string `json:"key"`
}

func (m *Machine) agentKeyPath(id uint64) string {
	return filepath.Join(m.keyDir, strconv.FormatUint(id, 10)+".agent")
}

// keepAgentKey writes the hash of b's agent token (0600, replaced whole).
func (m *Machine) keepAgentKey(j *job.Job, b *boot.Boot) error {
	raw, err := json.Marshal(agentKeyFile{Boot: j.Boot, Key: boot.AgentKey(b)})
	if err != nil {
		return err
	}
	p := m.agentKeyPath(j.ID)
	if err := os.WriteFile(p+".tmp", raw, 0o600); err != nil {
		return fmt.Errorf("keep the agent token's hash of job %d: %w", j.ID, err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("keep the agent token's hash of job %d: %w", j.ID, err)
	}
	return nil
}

// adoptAgent makes the boot server take the agent calls of j's current
// boot again, after a restart. Without the file (a job booted before this
// was kept) the agent's calls stay refused, as they were: the SSH session
// watches the job then, and nothing else depends on them.
func (m *Machine) adoptAgent(j *job.Job) {
	raw, err := os.ReadFile(m.agentKeyPath(j.ID))
	if err != nil {
		m.log.Warn("agent token of a recovered job unknown; its heartbeats stay refused", "job", j.ID, "err", err)
		return
	}
	var f agentKeyFile
	if err := json.Unmarshal(raw, &f); err != nil || f.Boot != j.Boot {
		m.log.Warn("agent token of a recovered job not for its boot; its heartbeats stay refused", "job", j.ID, "boot", j.Boot, "file_boot", f.Boot, "err", err)
		return
	}
	err = m.boots.Adopt(boot.Adoption{JobID: j.ID, Boot: j.Boot, Node: m.cfg.Name, MAC: m.cfg.MAC, Address: m.cfg.Address, AgentKey: f.Key})
	if err != nil {
		m.log.Warn("agent token of a recovered job not adopted; its heartbeats stay refused", "job", j.ID, "err", err)
		return
	}
	m.hub.watch(j.ID, j.Boot)
}
