package bmcq

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli"
)

// plotJob is bmcq acct -j ID --plot / --svg FILE.
func plotJob(ctx context.Context, env cli.Env, c *api.Client, f *acctFlags) error {
	id, err := oneJob(f, "--plot and --svg draw")
	if err != nil {
		return err
	}
	cv, err := c.Curve(ctx, id)
	if err != nil {
		return err
	}
	if f.svg != "" {
		var b bytes.Buffer
		if err := RenderCurveSVG(&b, cv); err != nil {
			return err
		}
		if err := writeFileAtomic(f.svg, b.Bytes()); err != nil {
			return fmt.Errorf("--svg: %w", err)
		}
		fmt.Fprintf(env.Stdout, "wrote %s\n", f.svg)
	}
	if f.plot {
		return RenderCurve(env.Stdout, cv, 72, 14)
	}
	return nil
}

// writeFileAtomic replaces path with data whole or not at all: a temporary
// file beside it, synced, then renamed over it.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
