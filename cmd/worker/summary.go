package main

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/weir-go/weir/internal/demoapi"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

// callResult is one demo call as its caller saw it.
type callResult struct {
	Priority priority
	Latency  time.Duration // from the call to its return, waits and retries included
	Rank     int           // 1 for the first call to finish
	Err      error
}

// summary is what the demo reports: the calls, the client's counters and the API's own record.
type summary struct {
	Requests, Succeeded, Failed int
	FirstError                  error
	Stats                       client.Stats
	Elapsed                     time.Duration

	Arrivals    int         // requests that reached the API, retries included
	APIStatuses map[int]int // what the API answered, by status
	// BusiestSecond is the most arrivals in any one-second window (sliding, not aligned to the
	// clock); Bound is what the client's limit allows in one: Burst + Requests·1s/Per.
	BusiestSecond int
	Bound         int64
	// Allowed is Bound over a window widened by transitAllowance: what the check holds the API's
	// arrivals to.
	Allowed int64
	Limit   store.Limit

	P50, P99   time.Duration
	Priorities []priorityResult
}

// priorityResult is how one priority's calls fared; ranks show which were served first.
type priorityResult struct {
	priority
	Count    int
	MeanRank float64
	LastRank int
	P50      time.Duration
}

func summarize(results []callResult, stats client.Stats, arrivals []demoapi.Arrival, limit store.Limit, elapsed time.Duration) summary {
	s := summary{Requests: len(results), Stats: stats, Elapsed: elapsed, Limit: limit, APIStatuses: map[int]int{}}
	latencies := make([]time.Duration, 0, len(results))
	for _, r := range results {
		latencies = append(latencies, r.Latency)
		if r.Err != nil {
			s.Failed++
			if s.FirstError == nil {
				s.FirstError = r.Err
			}
			continue
		}
		s.Succeeded++
	}
	slices.Sort(latencies)
	s.P50, s.P99 = percentile(latencies, 0.50), percentile(latencies, 0.99)

	times := make([]time.Time, len(arrivals))
	for i, a := range arrivals {
		times[i] = a.At
		s.APIStatuses[a.Status]++
	}
	s.Arrivals = len(arrivals)
	s.BusiestSecond = busiestWindow(times, time.Second)
	s.Bound = maxAdmitted(limit, time.Second)
	s.Allowed = maxAdmitted(limit, time.Second+transitAllowance)

	for _, p := range demoPriorities {
		pr := priorityResult{priority: p}
		var lat []time.Duration
		for _, r := range results {
			if r.Priority != p {
				continue
			}
			pr.Count++
			pr.MeanRank += float64(r.Rank)
			pr.LastRank = max(pr.LastRank, r.Rank)
			lat = append(lat, r.Latency)
		}
		if pr.Count == 0 {
			continue
		}
		pr.MeanRank /= float64(pr.Count)
		slices.Sort(lat)
		pr.P50 = percentile(lat, 0.50)
		s.Priorities = append(s.Priorities, pr)
	}
	return s
}

// transitAllowance widens the window the API's arrivals are checked against: the client decides
// when a request may go, the API stamps it when it arrives, and the time between the two (the
// scheduler, the loopback) varies by a few milliseconds, so two requests decided a full second
// apart may arrive a little less than a second apart.
const transitAllowance = 25 * time.Millisecond

// maxAdmitted is the most a limit admits in any window of length d: its burst plus what it
// refills in d (the invariant every store keeps).
func maxAdmitted(l store.Limit, d time.Duration) int64 {
	return l.EffectiveBurst() + l.Requests*int64(d)/int64(l.Per)
}

// busiestWindow returns the most instants that fall in any window [t, t+d) of the sliding kind:
// every window starting at an instant is tried, which finds the maximum over all windows.
func busiestWindow(times []time.Time, d time.Duration) int {
	sorted := slices.Clone(times)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi, t := range sorted {
		for !sorted[lo].Add(d).After(t) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// percentile returns the q-quantile of sorted by the nearest-rank method; 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// problem returns why the demo did not go well, or "" when it did: every call succeeded, every
// call and attempt is accounted for on both sides, and the API never saw more in a second than
// the client's limit allows.
func (s summary) problem() string {
	attempts := s.Stats.Attempts
	switch {
	case s.Failed > 0:
		return fmt.Sprintf("%d of %d requests failed; the first: %v", s.Failed, s.Requests, s.FirstError)
	case s.Stats.Calls != int64(s.Requests):
		return fmt.Sprintf("the client counted %d calls, the demo made %d", s.Stats.Calls, s.Requests)
	case attempts != int64(s.Arrivals):
		return fmt.Sprintf("the client sent %d attempts, the API saw %d", attempts, s.Arrivals)
	case int64(s.BusiestSecond) > s.Allowed:
		return fmt.Sprintf("the API saw %d requests in one second, more than the %d that %s allows (%d with %v for transit)",
			s.BusiestSecond, s.Bound, s.Limit, s.Allowed, transitAllowance)
	}
	return ""
}

func (s summary) print(w io.Writer) {
	fmt.Fprintf(w, "\ndone in %.1fs\n\n", s.Elapsed.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  requests\t%d: %d succeeded, %d failed\n", s.Requests, s.Succeeded, s.Failed)
	fmt.Fprintf(tw, "  attempts\t%d (%d retries)\n", s.Stats.Attempts, s.Stats.Retries)
	fmt.Fprintf(tw, "  429s seen\t%d\n", s.Stats.TooManyRequests)
	fmt.Fprintf(tw, "  5xx seen\t%d\n", s.Stats.ServerErrors)
	fmt.Fprintf(tw, "  breaker trips\t%d\n", s.Stats.BreakerTrips)
	fmt.Fprintf(tw, "  token waits\t%d calls waited, %.1fs summed over them\n", s.Stats.RateLimitWaits, s.Stats.RateLimitWaitTime.Seconds())
	fmt.Fprintf(tw, "  API saw\t%d arrivals: %d answered 200, %d 503, %d 429\n", s.Arrivals,
		s.APIStatuses[http.StatusOK], s.APIStatuses[http.StatusServiceUnavailable], s.APIStatuses[http.StatusTooManyRequests])
	fmt.Fprintf(tw, "  busiest second\t%d arrivals at the API; the client's limit allows at most %d (burst %d + %d in 1s; %d allowing %v for transit)\n",
		s.BusiestSecond, s.Bound, s.Limit.EffectiveBurst(), s.Bound-s.Limit.EffectiveBurst(), s.Allowed, transitAllowance)
	fmt.Fprintf(tw, "  latency\tp50 %v, p99 %v (waits and retries included)\n", s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond))
	fmt.Fprintf(tw, "  server said\t%s\n", adaptLine(s.Stats))
	tw.Flush()

	fmt.Fprintf(w, "\n  finishing order by priority (rank 1 finished first, %d last):\n", s.Requests)
	fmt.Fprintf(w, "    %-12s %8s %10s %10s %12s\n", "priority", "requests", "mean rank", "last rank", "p50 latency")
	for _, p := range s.Priorities {
		fmt.Fprintf(w, "    %-12s %8d %10.1f %10d %12v\n", fmt.Sprintf("%s (%d)", p.Name, p.Value), p.Count, p.MeanRank, p.LastRank, p.P50.Round(time.Millisecond))
	}

	if p := s.problem(); p != "" {
		fmt.Fprintf(w, "\nresult: FAILED: %s\n", p)
		return
	}
	fmt.Fprintln(w, "\nresult: ok: every request succeeded and the API never saw more than the client's limit allows")
}

// adaptLine sums up what the client learned from the server's own word (its RateLimit fields,
// Retry-After): the responses that said something, by header family, the fleet-wide pauses set,
// and the request rate in force at the end.
func adaptLine(st client.Stats) string {
	var n int64
	kinds := make([]string, 0, len(st.Signals))
	for k, v := range st.Signals {
		n += v
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(kinds)
	by := ""
	if len(kinds) > 0 {
		by = " (" + strings.Join(kinds, ", ") + ")"
	}
	return fmt.Sprintf("%d responses spoke of the quota%s; %d pauses set from them; rate in force at the end %.0f/s",
		n, by, st.Pauses, st.EffectiveRate)
}
