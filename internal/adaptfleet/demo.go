package adaptfleet

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/weir-go/weir/internal/demoapi"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

// DemoScenario is the worker demo's job (cmd/worker demo) against a demo API whose allowance
// is above or below the client's configured limit, DemoLimit. Above it, what the API says of its
// quota must cost next to nothing; below it, the client must learn the API's pace.
type DemoScenario struct {
	Limit    int           // the API's quota per window
	Window   time.Duration // the API's window
	Requests int           // the fleet's total; each member makes an even share
}

// DemoLimit is the configured limit of every client in the demo scenarios: the demo's default.
var DemoLimit = store.PerSecond(50).WithBurst(10)

// DemoConcurrency is how many calls each member has in flight at once: enough to keep a client
// at its limit while a few answers are slow.
const DemoConcurrency = 8

// The demo API answers a few requests slowly, as the worker demo's does: an answer that comes
// back after its window is over must not be taken for news of the next one.
const (
	demoSlowRate  = 0.02
	demoSlowDelay = 250 * time.Millisecond
)

// Allowance is the API's rate over the configured limit's.
func (d DemoScenario) Allowance() float64 {
	return float64(d.Limit) / d.Window.Seconds() / (float64(DemoLimit.Requests) / DemoLimit.Per.Seconds())
}

// Above reports whether the API allows more than the configured limit.
func (d DemoScenario) Above() bool { return d.Allowance() > 1 }

// Name is the scenario's key in the store, and what WEIR_ADAPT_ONLY names it by ("demo" names
// every demo scenario).
func (d DemoScenario) Name() string {
	return fmt.Sprintf("demo-%gx-%s", d.Allowance(), d.Window)
}

// DemoScenarios are the demo scenarios: allowances of 2 and 1.2 times the configured limit and
// of 0.8 and 0.5 times it, with windows of 1 s and 3 s. Each takes 6 to 12 s, and they run at
// once. Below the limit a run is a dozen windows of 1 s or four of 3 s: the first window, spent
// before anything is known of the API's phase, and the last, whose quota is spread over it
// though the work ends early in it, stay inside the 10%. Outside strict runs they do half the
// work.
func DemoScenarios() []DemoScenario {
	var scs []DemoScenario
	for _, w := range []time.Duration{time.Second, 3 * time.Second} {
		perSecond := func(share float64) int { return int(share * float64(DemoLimit.Requests) * w.Seconds()) }
		scs = append(scs,
			DemoScenario{Limit: perSecond(2), Window: w, Requests: 300},
			DemoScenario{Limit: perSecond(1.2), Window: w, Requests: 300},
			DemoScenario{Limit: perSecond(0.8), Window: w, Requests: 480},
			DemoScenario{Limit: perSecond(0.5), Window: w, Requests: 300},
		)
	}
	if only := os.Getenv("WEIR_ADAPT_ONLY"); only != "" {
		names := strings.Split(only, ",")
		scs = slices.DeleteFunc(scs, func(d DemoScenario) bool {
			return !slices.Contains(names, d.Name()) && !slices.Contains(names, "demo")
		})
	}
	if !Strict() {
		for i := range scs {
			scs[i].Requests = scs[i].Requests / 6 * 3 // half, still divided by the fleet's three
		}
	}
	return scs
}

// NewDemoAPI is d's demo API: no failures (the demo's -fail 0), a few slow answers.
func NewDemoAPI(d DemoScenario) (*demoapi.API, error) {
	return demoapi.New(demoapi.Config{Limit: d.Limit, Window: d.Window, SlowRate: demoSlowRate, SlowDelay: demoSlowDelay, Seed: 1})
}

// DemoClientConfig is a fleet member's client for d on st.
func DemoClientConfig(d DemoScenario, st store.Store, log *slog.Logger) client.Config {
	cfg := memberConfig(d.Name(), DemoLimit, st, log)
	cfg.AttemptTimeout = 5 * time.Second
	return cfg
}

// Work is what Drive needs of d.
func (d DemoScenario) Work() Scenario {
	return Scenario{Requests: d.Requests, Concurrency: DemoConcurrency}
}

// DemoVerdict is a demo scenario's figures, from what its API recorded.
type DemoVerdict struct {
	Name     string
	Served   int
	Rejected int
	// WorstAfterFirst is the most rejections in one API window after the run's first window.
	WorstAfterFirst int
	Took, Ideal     time.Duration
	// Fill is the share of the API's quota served in the windows between the run's first and
	// last, on average; 0 when there are none. Below the configured limit it is the API's rate
	// the client kept to.
	Fill float64
	// Windows shows, per API window from the first, the requests served and rejected in it.
	Windows string
}

// Ratio is the time taken over the ideal.
func (v DemoVerdict) Ratio() float64 { return float64(v.Took) / float64(v.Ideal) }

func (v DemoVerdict) String() string {
	return fmt.Sprintf("%-14s served %3d  rejected %2d  worst/window after first %d  took %5.2fs  ideal %5.2fs  ratio %.3f  fill %.2f %s",
		v.Name, v.Served, v.Rejected, v.WorstAfterFirst, v.Took.Seconds(), v.Ideal.Seconds(), v.Ratio(), v.Fill, v.Windows)
}

// demoBounds is what a demo scenario's verdict is held to.
type demoBounds struct {
	ratio float64 // the most time taken over the ideal
	worst int     // the most rejections in one window after the first
	fill  float64 // below the configured limit, the least fill
}

// The acceptance numbers: above the configured limit, adapting costs at most 3% of the ideal
// time; below it, at most 10%, in the time and in the windows' fill, with at most one rejection
// per API window after the first.
var (
	demoAbove = demoBounds{ratio: 1.03, worst: 1}
	demoBelow = demoBounds{ratio: 1.10, worst: 1, fill: 0.9}
)

// Outside strict runs the figures get room for a loaded machine (the race detector, another
// package's tests at once): a client kept from the processor for a while falls behind its limit
// whatever it learned, and then sends what waited at once. They still catch a client paced at
// half the rate it could go, or one hammering the quota.
var (
	looseAbove = demoBounds{ratio: 1.5, worst: 5}
	looseBelow = demoBounds{ratio: 2, worst: 5, fill: 0.5}
)

// JudgeDemo reads api's record of d's run and returns two verdicts, as Judge does: fail is what
// a test fails on, missed where the run fell short of the acceptance numbers themselves. Always:
// every request was served, and the rejections stayed at most half the requests. In a strict run
// also the acceptance numbers; elsewhere looser ones.
func JudgeDemo(api *demoapi.API, d DemoScenario, strict bool) (v DemoVerdict, fail, missed error) {
	v = demoVerdict(api.Arrivals(), d)
	var errs []error
	if v.Served != d.Requests {
		errs = append(errs, fmt.Errorf("%s: served %d, want %d", v.Name, v.Served, d.Requests))
	}
	if 2*v.Rejected > d.Requests {
		errs = append(errs, fmt.Errorf("%s: %d rejections for %d requests, want at most half as many", v.Name, v.Rejected, d.Requests))
	}
	target, loose := demoAbove, looseAbove
	if !d.Above() {
		target, loose = demoBelow, looseBelow
	}
	short := v.check(target)
	if strict {
		errs = append(errs, short...)
	} else {
		errs = append(errs, v.check(loose)...)
	}
	return v, errors.Join(errs...), errors.Join(short...)
}

// check returns where v falls short of b.
func (v DemoVerdict) check(b demoBounds) []error {
	var errs []error
	if v.WorstAfterFirst > b.worst {
		errs = append(errs, fmt.Errorf("%s: %d rejections in one window after the first, want at most %d", v.Name, v.WorstAfterFirst, b.worst))
	}
	if v.Ratio() > b.ratio {
		errs = append(errs, fmt.Errorf("%s: took %v, %.1f%% over the ideal %v (at most %.0f%%)",
			v.Name, v.Took.Round(time.Millisecond), 100*(v.Ratio()-1), v.Ideal.Round(time.Millisecond), 100*(b.ratio-1)))
	}
	if v.Fill > 0 && v.Fill < b.fill {
		errs = append(errs, fmt.Errorf("%s: the windows between the first and the last were %.0f%% full (at least %.0f%%)", v.Name, 100*v.Fill, 100*b.fill))
	}
	return errs
}

// demoVerdict counts arr, the API's record of d's run, by the API's windows.
func demoVerdict(arr []demoapi.Arrival, d DemoScenario) DemoVerdict {
	v := DemoVerdict{Name: d.Name()}
	if len(arr) == 0 {
		return v
	}
	first := arr[0].At
	type counts struct{ ok, rej int }
	var per []counts // by window from the first
	var last time.Time
	for _, a := range arr {
		k := int(a.At.Truncate(d.Window).Sub(first.Truncate(d.Window)) / d.Window)
		for len(per) <= k {
			per = append(per, counts{})
		}
		switch a.Status {
		case http.StatusOK:
			v.Served++
			per[k].ok++
			last = a.At
		case http.StatusTooManyRequests:
			v.Rejected++
			per[k].rej++
		}
	}
	var b strings.Builder
	middle := 0
	for k, c := range per {
		if k > 0 {
			v.WorstAfterFirst = max(v.WorstAfterFirst, c.rej)
		}
		if k > 0 && k < len(per)-1 {
			middle += c.ok
		}
		fmt.Fprintf(&b, " [%d:%d/%d]", k, c.ok, c.rej)
	}
	if len(per) > 2 {
		v.Fill = float64(middle) / float64((len(per)-2)*d.Limit)
	}
	v.Windows = b.String()
	v.Took, v.Ideal = last.Sub(first), demoIdeal(v.Served, d)
	return v
}

// demoIdeal is the time from the first arrival to the n-th admission at the configured limit,
// or, when the API allows less, at a limit of the API's rate with the configured burst: what a
// client that knew the API's rate would take. It is not what the API's windows would allow at
// best: a few requests short in one window cost a whole window at the end, which says more about
// where the run's phase fell than about the client.
func demoIdeal(n int, d DemoScenario) time.Duration {
	iv := max(DemoLimit.Per/time.Duration(DemoLimit.Requests), d.Window/time.Duration(d.Limit))
	return time.Duration(max(0, int64(n)-DemoLimit.EffectiveBurst())) * iv
}
