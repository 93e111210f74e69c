package ctld

import (
	"fmt"
	"time"

	"github.com/bmc-sched/bmc/accounting"
	"github.com/bmc-sched/bmc/api"
	"github.com/bmc-sched/bmc/api/wire"
	"github.com/bmc-sched/bmc/job"
	"github.com/bmc-sched/bmc/store"
)

// carbon is the carbon-intensity schedule bills and --when-greenest use:
// the tariff file's windows with the imported hourly values; nil when
// there is neither.
func (c *Controller) carbon() *accounting.Carbon { return c.acct.carbon.Load() }

// carbonWith joins the tariff file's windows and hourly values.
func (c *Controller) carbonWith(hours []store.CarbonHour) (*accounting.Carbon, error) {
	base := c.cfg.Energy.Carbon
	if base == nil {
		if len(hours) == 0 {
			return nil, nil
		}
		var err error
		if base, err = accounting.NewCarbon(nil, nil, nil); err != nil {
			return nil, err
		}
	}
	hs := make([]accounting.CarbonHour, len(hours))
	for i, h := range hours {
		hs[i] = accounting.CarbonHour{At: h.At, GPerKWh: h.GPerKWh}
	}
	return base.WithHours(hs)
}

// ImportCarbon stores hourly carbon intensities (admins), replacing those
// of the same hours; bills from then on use them.
func (c *Controller) ImportCarbon(who Identity, in []accounting.CarbonHour) (api.CarbonImported, error) {
	if !who.Admin {
		return api.CarbonImported{}, fmt.Errorf("%w: only root or the admin group may import carbon intensities", ErrForbidden)
	}
	c.acct.admin.Lock()
	defer c.acct.admin.Unlock()
	hs := make([]store.CarbonHour, len(in))
	for i, h := range in {
		hs[i] = store.CarbonHour{At: h.At.UTC(), GPerKWh: h.GPerKWh}
	}
	// Check them with what is stored before storing anything.
	var all []store.CarbonHour
	err := c.st.View(func(tx *store.Tx) error { var err error; all, err = tx.CarbonHours(); return err })
	if err != nil {
		return api.CarbonImported{}, err
	}
	merged := map[int64]store.CarbonHour{}
	for _, h := range append(all, hs...) {
		merged[h.At.UnixNano()] = h
	}
	all = all[:0]
	for _, h := range merged {
		all = append(all, h)
	}
	carbon, err := c.carbonWith(all)
	if err != nil {
		return api.CarbonImported{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := c.st.Update(func(tx *store.Tx) error { return tx.PutCarbonHours(hs) }); err != nil {
		return api.CarbonImported{}, err
	}
	c.acct.carbon.Store(carbon)
	out := api.CarbonImported{Imported: len(hs), Total: len(all)}
	if h := carbon.Hours(); len(h) > 0 {
		out.First, out.Last = h[0].At, h[len(h)-1].At
	}
	c.log.Info("carbon intensities imported", "by", who.User, "values", len(hs), "total", len(all))
	return out, nil
}

// WhenGreenest sets the begin time of a job submitted with
// --when-greenest: the start within the deadline whose run (its time
// limit) has the lowest mean carbon intensity. It returns the line that
// tells the user what was chosen.
func (c *Controller) WhenGreenest(sub *wire.Submit, spec *job.Spec) (string, error) {
	if !sub.Greenest {
		if sub.Deadline != "" {
			return "", fmt.Errorf("%w: --deadline goes with --when-greenest", ErrInvalid)
		}
		return "", nil
	}
	carbon := c.carbon()
	if carbon == nil {
		return "", fmt.Errorf("%w: --when-greenest: bmcctld has no carbon-intensity schedule ([[carbon]] in its tariff file, or bmcq carbon import)", ErrInvalid)
	}
	deadline, err := job.ParseDuration(sub.Deadline)
	if sub.Deadline == "" {
		err = fmt.Errorf("is required")
	}
	if err != nil || deadline > 366*24*time.Hour {
		return "", fmt.Errorf("%w: --deadline: %q: want a duration up to a year, like 8h or 2-00:00 (%v)", ErrInvalid, sub.Deadline, err)
	}
	run := time.Duration(spec.TimeLimit)
	if run <= 0 {
		run = c.cfg.Scheduler.DefaultTimeLimit
	}
	now := c.clk.Now()
	from := now
	if spec.Begin.After(from) {
		from = spec.Begin
	}
	start, mean, first, ok := carbon.Greenest(from, deadline, run)
	if !ok {
		return "", fmt.Errorf("%w: --when-greenest: no carbon intensity is known for the next %s", ErrInvalid, deadline+run)
	}
	spec.Begin = start
	at := start.In(c.siteZone()).Format("2006-01-02 15:04 MST")
	return fmt.Sprintf("begins %s: the lowest carbon intensity within %s for its %s time limit (%.0f gCO2e/kWh on average; %.0f if it started at once)",
		at, sub.Deadline, job.Duration(run), mean, first), nil
}
