package bmcq

import (
	"bytes"
	"encoding/json"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
)

// hostile is what an old record or a hostile node can put in any text field:
// an escape sequence, a carriage return and a newline that forge a line, NUL,
// a bidi override, an 8-bit CSI, a tab.
const hostile = "ok\x1b[31mRED\x1b[0m\rJobId=999 User=root\nJobId=998\x00\u202eevil\u009b\tend"

// fill sets every settable string in v to s, every string slice to {s, s},
// every string map to {s: s}, and gives every slice of structs and every
// pointer one filled element.
func fill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), s)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				fill(f, s)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		fill(v.Index(0), s)
		fill(v.Index(1), s)
	case reflect.Map:
		if v.Type().Key().Kind() == reflect.String && v.Type().Elem().Kind() == reflect.String {
			m := reflect.MakeMap(v.Type())
			m.SetMapIndex(reflect.ValueOf(s).Convert(v.Type().Key()), reflect.ValueOf(s).Convert(v.Type().Elem()))
			v.Set(m)
		}
	}
}

func filled[T any](s string) T {
	var v T
	fill(reflect.ValueOf(&v).Elem(), s)
	return v
}

// renderers are every human-readable output of bmcq, each fed input whose
// every text field is s.
var renderers = []struct {
	name   string
	render func(w io.Writer, s string) error
}{
	{"show", func(w io.Writer, s string) error {
		d := filled[api.JobDetail](s)
		d.Spec.Command.Shell = true
		return RenderJob(w, d)
	}},
	{"show-argv", func(w io.Writer, s string) error {
		d := filled[api.JobDetail](s)
		d.Spec.Command.Shell = false
		return RenderJob(w, d)
	}},
	{"queue", func(w io.Writer, s string) error {
		ended := filled[wire.QueueRow](s)
		ended.State, ended.Reason = string(job.NodeFail), string(job.ReasonNone) // shows Detail
		return RenderQueue(w, []wire.QueueRow{filled[wire.QueueRow](s), ended})
	}},
	{"nodes", func(w io.Writer, s string) error {
		return RenderNodes(w, []api.NodeInfo{filled[api.NodeInfo](s)})
	}},
	{"node-show", func(w io.Writer, s string) error { return RenderNode(w, filled[api.NodeDetail](s)) }},
	{"kernels", func(w io.Writer, s string) error {
		return RenderKernels(w, []api.KernelInfo{filled[api.KernelInfo](s)})
	}},
	{"acct", func(w io.Writer, s string) error {
		j := filled[api.AcctJob](s)
		j.EnergyEstimated = true
		return RenderAcct(w, []api.AcctJob{j}, DefaultAcctFormat+",Arch,Image,Command", s)
	}},
	{"acct-by", func(w io.Writer, s string) error {
		return RenderGroups(w, "user", []accounting.Group{filled[accounting.Group](s)}, s)
	}},
	{"acct-compare", func(w io.Writer, s string) error {
		return RenderCompare(w, []accounting.CompareRow{filled[accounting.CompareRow](s)})
	}},
	{"accounts", func(w io.Writer, s string) error {
		as := filled[api.Associations](s)
		as.Accounts = as.Accounts[:1]
		as.Accounts[0].Parent = "" // a root, so the tree shows it
		return RenderAccounts(w, as)
	}},
	{"account-show", func(w io.Writer, s string) error {
		as := filled[api.Associations](s)
		return RenderAccount(w, as, as.Accounts[0])
	}},
	{"users", func(w io.Writer, s string) error { return RenderUsers(w, filled[api.Associations](s).Users) }},
	{"user-show", func(w io.Writer, s string) error {
		as := filled[api.Associations](s)
		return RenderUser(w, as, as.Users[0])
	}},
	{"import", func(w io.Writer, s string) error { return RenderImport(w, filled[api.ImportResult](s)) }},
	{"quota", func(w io.Writer, s string) error { return RenderQuota(w, filled[[]api.Quota](s)) }},
	{"share", func(w io.Writer, s string) error { return RenderShare(w, filled[api.ShareList](s)) }},
	{"statement", func(w io.Writer, s string) error { return RenderStatement(w, filled[api.Statement](s)) }},
	{"curve", func(w io.Writer, s string) error {
		cv := filled[api.PowerCurve](s)
		cv.Boots = cv.Boots[:1]
		return RenderCurve(w, cv, 20, 4)
	}},
}

// No renderer lets a control character, a bidi override or a line break
// from the data through: the output holds only graphic characters, spaces
// and its own newlines, as many lines as with harmless text, and shows each
// character as an escape. The golden files are what a user sees.
func TestRenderersEscapeHostileText(t *testing.T) {
	for _, r := range renderers {
		t.Run(r.name, func(t *testing.T) {
			var got, clean bytes.Buffer
			if err := r.render(&got, hostile); err != nil {
				t.Fatal(err)
			}
			if err := r.render(&clean, "x"); err != nil {
				t.Fatal(err)
			}
			golden(t, "hostile-"+r.name+".txt", got.Bytes())
			out := got.String()
			if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && !unicode.IsGraphic(r) }); i >= 0 {
				t.Errorf("output holds %q at byte %d:\n%s", out[i:min(i+4, len(out))], i, out)
			}
			if a, b := strings.Count(out, "\n"), strings.Count(clean.String(), "\n"); a != b {
				t.Errorf("%d lines with hostile text, %d with harmless text:\n%s", a, b, out)
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "JobId=99") {
					t.Errorf("forged line %q", l)
				}
			}
			if !strings.Contains(out, `\x1b[31mRED`) || !strings.Contains(out, `\u202eevil\u009b`) {
				t.Errorf("the hostile text does not show as escapes:\n%s", out)
			}
		})
	}
}

// --json stays exact: the hostile text comes back byte for byte.
func TestJSONKeepsHostileTextExact(t *testing.T) {
	d := filled[api.JobDetail](hostile)
	var b bytes.Buffer
	if err := writeJSON(&b, d); err != nil {
		t.Fatal(err)
	}
	var back api.JobDetail
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Detail != hostile || back.Cwd != hostile || back.Spec.Command.Argv[0] != hostile {
		t.Errorf("JSON round trip changed the text: %q", back.Detail)
	}
	if bytes.ContainsAny(b.Bytes(), "\x1b\r\x00") {
		t.Error("JSON output holds raw control characters")
	}
}
