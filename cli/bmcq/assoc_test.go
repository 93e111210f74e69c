package bmcq

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/assoc"
	"github.com/bmc-sched/bmc/cli/clitest"
)

var assocFixture = api.Associations{
	Mode: api.ModeEnforced, Why: "3 accounts are defined",
	Accounts: []assoc.Account{
		{Name: "chemistry", Parent: "science", Shares: 1},
		{Name: "physics", Parent: "science", Shares: 2, Coordinators: []string{"ann"}, Limit: assoc.Limit{EnergyKWh: 50}},
		{Name: "science", Shares: 1, Description: "Faculty of Science"},
	},
	Users: []assoc.User{
		{Name: "ann", DefaultAccount: "physics", Accounts: []string{"chemistry", "physics"}},
		{Name: "bob", DefaultAccount: "chemistry", Accounts: []string{"chemistry"}, Limit: assoc.Limit{EnergyKWh: 5, Period: "none"}},
	},
}

// fakeAssocDaemon answers the association routes from a fixture and
// records what is written.
type fakeAssocDaemon struct {
	mu     sync.Mutex
	writes []string
}

func (f *fakeAssocDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	answers := map[string]any{
		"GET " + api.PathAccounts: assocFixture,
		"GET " + api.PathShare: api.ShareList{HalfLife: 7 * 86400, Accounts: []api.Share{
			{Account: "science", RawShares: 1, NormShares: 1, UsageJ: 7.2e6, NormUsage: 1, Factor: 0.5},
			{Account: "physics", Parent: "science", Depth: 1, RawShares: 2, NormShares: 2.0 / 3, UsageJ: 5.4e6, NormUsage: 0.75, Factor: math.Exp2(-0.75 / (2.0 / 3))},
			{Account: "chemistry", Parent: "science", Depth: 1, RawShares: 1, NormShares: 1.0 / 3, UsageJ: 1.8e6, NormUsage: 0.25, Factor: math.Exp2(-0.75)},
		}},
		"GET " + api.PathQuota: api.QuotaList{Quotas: []api.Quota{
			{Kind: "account", Name: "physics", LimitJ: 180e6, UsedJ: 150e6, ReservedJ: 12e6, LeftJ: 18e6, Period: "@monthly", Since: at, Reset: at.AddDate(0, 1, 0),
				Warning: "account physics has used 80% of its energy limit (50 kWh) for the period to 2026-12-01 00:00 CET"},
			{Kind: "user", Name: "bob", LimitJ: 18e6, UsedJ: 1e6, LeftJ: 17e6, Period: "none"},
		}},
		"GET " + api.PathStatement: api.Statement{Account: "physics", From: at, To: at.AddDate(0, 1, 0), Currency: "EUR",
			Users: []api.StatementUser{
				{User: "ann", Jobs: []api.StatementJob{
					{Job: 7, JobID: "7", Name: "long", Account: "physics", Joules: 360000, Cost: 0.02, CarbonGrams: 30, Split: true, SplitBy: "curve",
						Tariffs: []api.StatementTariff{{Tariff: "night", PricePerKWh: 0.2, Joules: 360000, Cost: 0.02}}},
					{Job: 9, JobID: "9", Name: "retry", Account: "physics", Joules: 1000, Cost: 0.5, CreditedJoules: 500, CreditedCost: 0.1},
				}, Totals: api.StatementTotals{Jobs: 2, Joules: 361000, Cost: 0.52, CarbonGrams: 30, CreditedJoules: 500, CreditedCost: 0.1}},
				{User: "bob", Jobs: []api.StatementJob{{Job: 8, JobID: "8", Name: "short", Account: "optics", Joules: 3.6e6, Cost: 0.3,
					Tariffs: []api.StatementTariff{{Tariff: "day", PricePerKWh: 0.3, Joules: 3.6e6, Cost: 0.3}}}},
					Totals: api.StatementTotals{Jobs: 1, Joules: 3.6e6, Cost: 0.3}},
			},
			Totals: api.StatementTotals{Jobs: 3, Joules: 3961000, Cost: 0.82, CarbonGrams: 30, CreditedJoules: 500, CreditedCost: 0.1}},
	}
	if a, ok := answers[r.Method+" "+r.URL.Path]; ok {
		if r.URL.Path == api.PathStatement && r.URL.RawQuery != "account=physics&period=2026-11" {
			http.Error(w, `{"error":"query `+r.URL.RawQuery+`"}`, http.StatusBadRequest)
			return
		}
		json.NewEncoder(w).Encode(a)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.writes = append(f.writes, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(body)))
	f.mu.Unlock()
	if r.URL.Path == api.PathAssociations {
		io.WriteString(w, `{"accounts":{"added":["science","physics","chemistry"]},"users":{"added":["ann"],"removed":["old"]}}`)
		return
	}
	io.WriteString(w, "{}")
}

func TestAssociationCommands(t *testing.T) {
	fake := &fakeAssocDaemon{}
	d := clitest.Start(t, nil, fake)
	for _, tc := range []struct {
		args   []string
		golden string
	}{
		{[]string{"account", "list"}, "account-list.txt"},
		{[]string{"account", "show", "physics"}, "account-show.txt"},
		{[]string{"user", "list"}, "user-list.txt"},
		{[]string{"user", "show", "ann"}, "user-show.txt"},
		{[]string{"share"}, "share.txt"},
		{[]string{"acct", "--quota"}, "quota.txt"},
		{[]string{"acct", "statement", "-A", "physics", "--period", "2026-11"}, "statement.txt"},
		{[]string{"acct", "statement", "-A", "physics", "--period", "2026-11", "--csv"}, "statement.csv"},
		{[]string{"acct", "statement", "-A", "physics", "--period", "2026-11", "--json"}, "statement.json"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, errOut, code := run(t, d, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, []byte(out))
		})
	}

	for _, tc := range []struct {
		args []string
		want string // the request written
	}{
		{[]string{"account", "add", "optics", "--parent", "physics", "--energy-limit", "180MJ", "--period", "@weekly", "--coordinators", "ann,cy"},
			`POST /v1/accounts {"name":"optics","parent":"physics","shares":1,"coordinators":["ann","cy"],"limit":{"energy_kwh":50,"period":"@weekly"}}`},
		// modify changes the fields given and keeps the rest.
		{[]string{"account", "modify", "physics", "--shares", "3"},
			`PUT /v1/accounts/physics {"name":"physics","parent":"science","shares":3,"coordinators":["ann"],"limit":{"energy_kwh":50}}`},
		{[]string{"account", "modify", "physics", "--energy-limit", "none"},
			`PUT /v1/accounts/physics {"name":"physics","parent":"science","shares":2,"coordinators":["ann"]}`},
		{[]string{"account", "delete", "chemistry"}, `DELETE /v1/accounts/chemistry`},
		{[]string{"user", "add", "cy", "-A", "physics,chemistry"}, `POST /v1/users {"name":"cy","default_account":"","accounts":["physics","chemistry"]}`},
		// Taking away the default account: the first left becomes it.
		{[]string{"user", "modify", "ann", "--remove-account", "physics"}, `PUT /v1/users/ann {"name":"ann","default_account":"","accounts":["chemistry"]}`},
		{[]string{"user", "modify", "bob", "--add-account", "physics", "--default", "physics", "--energy-limit", "2.5"},
			`PUT /v1/users/bob {"name":"bob","default_account":"physics","accounts":["chemistry","physics"],"limit":{"energy_kwh":2.5,"period":"none"}}`},
		{[]string{"user", "delete", "bob"}, `DELETE /v1/users/bob`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fake.mu.Lock()
			fake.writes = nil
			fake.mu.Unlock()
			if _, errOut, code := run(t, d, tc.args...); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			fake.mu.Lock()
			defer fake.mu.Unlock()
			if len(fake.writes) != 1 || fake.writes[0] != tc.want {
				t.Errorf("wrote %q\nwant    %q", fake.writes, tc.want)
			}
		})
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"account", "modify", "nope", "--shares", "2"}, "bmcq: account nope does not exist (bmcq account list)\n"},
		{[]string{"account", "add", "x", "--energy-limit", "lots"}, "bmcq: --energy-limit: \"lots\" is not an energy: want kWh, or a number with MWh, kWh, Wh, GJ, MJ, kJ or J, or none\n"},
		{[]string{"user", "add", "cy"}, "bmcq: user add needs --account NAME\n"},
		{[]string{"acct", "statement", "--period", "2026-11"}, "bmcq: --account is required\n"},
	} {
		if _, errOut, code := run(t, d, tc.args...); code != 1 || errOut != tc.want {
			t.Errorf("%v: exit %d, %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestAccountImport(t *testing.T) {
	fake := &fakeAssocDaemon{}
	d := clitest.Start(t, nil, fake)
	dir := t.TempDir()
	good := filepath.Join(dir, "accounts.toml")
	os.WriteFile(good, []byte("[[account]]\nname = \"science\"\n[[account]]\nname = \"physics\"\nparent = \"science\"\n[[user]]\nname = \"ann\"\naccounts = [\"physics\"]\n"), 0o644)
	out, errOut, code := run(t, d, "account", "import", good)
	if code != 0 || out != "imported\naccounts: 3 added, 0 changed, 0 removed\n  + science\n  + physics\n  + chemistry\nusers: 1 added, 0 changed, 1 removed\n  + ann\n  - old\n" {
		t.Errorf("exit %d, %q %q", code, out, errOut)
	}
	if len(fake.writes) != 1 || !strings.HasPrefix(fake.writes[0], `PUT /v1/associations {"accounts":[{"name":"physics","parent":"science","shares":1},{"name":"science","shares":1}],"users":[{"name":"ann","default_account":"physics","accounts":["physics"]}]}`) {
		t.Errorf("wrote %q", fake.writes)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[[account]]\nname = \"physics\"\nparnt = \"science\"\n"), 0o644)
	if _, errOut, code := run(t, d, "account", "import", bad); code != 1 || !strings.HasSuffix(errOut, "bad.toml:3: parnt: unknown field; did you mean parent?\n") {
		t.Errorf("bad file: exit %d, %q", code, errOut)
	}
}

func TestParseEnergyKWh(t *testing.T) {
	for in, want := range map[string]float64{"50": 50, "50kWh": 50, "0.5 MWh": 500, "180MJ": 50, "3600000 J": 1, "2 Wh": 0.002, "none": 0, "1GJ": 1e9 / 3.6e6} {
		if got, err := parseEnergyKWh(in); err != nil || math.Abs(got-want) > 1e-12 {
			t.Errorf("%q = %g %v, want %g", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "NaN", "5 W", "1e99"} {
		if _, err := parseEnergyKWh(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

func TestShowExplainsThePriority(t *testing.T) {
	d := api.JobDetail{JobInfo: api.JobInfo{JobID: "4", Name: "x", User: "ann", Account: "physics", State: "PENDING", Reason: "Priority", Priority: 1392.9},
		PriorityTerms: []api.PriorityTerm{
			{Name: "age", Value: 142.9, Detail: "1000 × waited 1d of 7d"},
			{Name: "size", Value: 500, Detail: "1000 × 4 cores of the largest node's 8"},
			{Name: "fairshare", Value: 750, Detail: "1000 × factor 0.750 of account physics (energy used against its shares)"},
			{Name: "nice", Value: 0, Detail: "−1000 × nice 0 / 10000"},
		}}
	var b strings.Builder
	if err := RenderJob(&b, d); err != nil {
		t.Fatal(err)
	}
	want := "   User=ann Account=physics Partition= Priority=1393\n" +
		"      age          +142.9  1000 × waited 1d of 7d\n" +
		"      size         +500.0  1000 × 4 cores of the largest node's 8\n" +
		"      fairshare    +750.0  1000 × factor 0.750 of account physics (energy used against its shares)\n" +
		"      nice           +0.0  −1000 × nice 0 / 10000\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("got\n%s\nwant it to hold\n%s", b.String(), want)
	}
}

func FuzzParseEnergyKWh(f *testing.F) {
	for _, s := range []string{"50", "50kWh", "0.5 MWh", "180MJ", "none", "1e9", "-0", "NaN J"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseEnergyKWh(s)
		if err != nil {
			return
		}
		if !(v >= 0 && v <= assoc.MaxEnergyKWh) {
			t.Fatalf("%q gave %g kWh", s, v)
		}
		if _, err := assoc.NewTree([]assoc.Account{{Name: "a", Limit: assoc.Limit{EnergyKWh: v}}}, nil); err != nil {
			t.Fatalf("%q gave %g kWh, which a tree refuses: %v", s, v, err)
		}
	})
}
