package bmcq

import (
	"bytes"
	"testing"

	"github.com/bmc-sched/bmc/api"
)

func TestRenderNodeGolden(t *testing.T) {
	d := load[api.NodeDetail](t, "node-show.json")
	var b bytes.Buffer
	if err := RenderNode(&b, d); err != nil {
		t.Fatal(err)
	}
	golden(t, "node-show.txt", b.Bytes())
}
