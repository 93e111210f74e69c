package bmcq

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/cli/clitest"
)

// bmcq acct end to end through cobra: flags become the API filter, and each
// view prints what its golden file holds.
func TestAcctCommand(t *testing.T) {
	acct, err := os.ReadFile(filepath.Join("testdata", "acct.json"))
	if err != nil {
		t.Fatal(err)
	}
	var queries []string
	d := clitest.Start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != api.PathAcct {
			http.Error(w, `{"error":"unexpected path"}`, 404)
			return
		}
		queries = append(queries, r.URL.RawQuery)
		w.Write(acct)
	}))
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"acct"}, "acct.txt"},
		{[]string{"acct", "--format", "jobid,kwh,AvgW,Boots,start,runtime"}, "acct-format-currency.txt"},
		{[]string{"acct", "--csv", "--format", "JobID,User,Kind,Elapsed,BootJ,RunJ,OffJ,EnergyJ,Cost,Est"}, "acct.csv"},
		{[]string{"acct", "--by", "kind"}, "acct-by-kind.txt"},
		{[]string{"acct", "--by", "account"}, "acct-by-account.txt"},
		{[]string{"acct", "--compare"}, "acct-compare.txt"},
		{[]string{"acct", "--json"}, "acct-out.json"},
		{[]string{"acct", "--by", "kind", "--json"}, "acct-by-kind.json"},
		{[]string{"acct", "--compare", "--json"}, "acct-compare.json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := run(t, d, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, []byte(out))
		})
	}

	queries = nil
	if _, errOut, code := run(t, d, "acct", "-u", "alice", "-A", "physics", "-s", "CD", "-j", "3", "-S", "now-1h", "-E", "2026-11-25"); code != 0 {
		t.Fatal(errOut)
	}
	want := "account=physics&end=2026-11-25T00%3A00%3A00Z&id=3&start=2026-11-25T11%3A00%3A00Z&state=CD&user=alice"
	if len(queries) != 1 || queries[0] != want {
		t.Errorf("filter sent as %q, want %q", queries, want)
	}

	for args, want := range map[string]string{
		"acct --by colour":           "bmcq: --by \"colour\": want arch, kind, image, user, meter or account\n",
		"acct -S yesterday":          "bmcq: --starttime: \"yesterday\" is not a time (RFC 3339, 2006-01-02[T15:04[:05]], now, now-2h)\n",
		"acct --format JobID,Colour": "bmcq: --format: unknown field \"Colour\" (fields: " + strings.Join(acctFieldNames, ",") + ")\n",
		"acct --plot":                "bmcq: --plot and --svg draw one job: give exactly one -j ID\n",
	} {
		if _, errOut, code := run(t, d, strings.Fields(args)...); code != 1 || errOut != want {
			t.Errorf("%s: exit %d, stderr %q, want %q", args, code, errOut, want)
		}
	}
}
