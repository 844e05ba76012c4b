package client

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/store"
)

// Stats is what a client has counted since New; Prometheus exports the same.
type Stats struct {
	Calls     int64 // calls to Do or RoundTrip that finished
	Successes int64 // calls that returned a response the breaker does not count as a failure
	Failures  int64 // calls that returned an error or a failing response
	Attempts  int64 // requests actually sent
	// FailedAttempts counts attempts that ended in a transport error or a retryable status.
	FailedAttempts int64
	Retries        int64 // attempts after the first

	TooManyRequests int64 // 429 responses seen
	ServerErrors    int64 // 5xx responses seen

	RateLimitWaits    int64         // times a call had to wait for a token
	RateLimitWaitTime time.Duration // total time spent waiting for tokens
	RateLimited       int64         // calls refused by the limiter (deadline, full line)

	BreakerRejections int64 // calls refused by an open breaker
	BreakerTrips      int64 // transitions to open seen by this client
	BreakerState      store.BreakerState

	StoreFailures int64 // store calls that failed for want of the store (see OnStoreFailure)

	AvgLatency time.Duration // mean duration of a finished call, waits and retries included
	Waiting    int           // calls waiting for a token right now

	// EffectiveRate is the request rate the key may use as this client last saw it: the pace
	// learned from the server, or the strictest configured limit when none is in force (0 when
	// the client does not adapt).
	EffectiveRate float64
	// Pauses counts the fleet-wide pauses this client set from what servers said.
	Pauses int64
	// Signals counts the responses that said something about the server's limits, by the header
	// family they came from (see headers.Source; "none" for a rejection that said nothing).
	Signals map[string]int64
}

// metrics counts for Stats and, when a Registerer was given, for Prometheus.
type metrics struct {
	calls, successes, failures, attempts, retries  atomic.Int64
	failedAttempts                                 atomic.Int64
	tooMany, serverErrors                          atomic.Int64
	waits, waitNanos, rateLimited                  atomic.Int64
	rejections, trips, state, latencyNanos         atomic.Int64
	promRequests                                   *prometheus.CounterVec
	promAttempts                                   *prometheus.CounterVec
	promLatency, promWait                          prometheus.Observer
	promRetries, promRejections, promTrips, promRL prometheus.Counter
	promState                                      prometheus.Gauge

	pauses     atomic.Int64
	rateBits   atomic.Uint64
	sigMu      sync.Mutex
	signals    map[string]int64
	promSignal *prometheus.CounterVec
	promPauses prometheus.Counter
	promRate   prometheus.Gauge
}

// signal counts a response that said something about the server's limits.
func (m *metrics) signal(kind string) {
	m.sigMu.Lock()
	if m.signals == nil {
		m.signals = map[string]int64{}
	}
	m.signals[kind]++
	m.sigMu.Unlock()
	if m.promSignal != nil {
		m.promSignal.WithLabelValues(kind).Inc()
	}
}

// paused counts a fleet-wide pause set from what a server said.
func (m *metrics) paused() {
	m.pauses.Add(1)
	if m.promPauses != nil {
		m.promPauses.Inc()
	}
}

// rate records the effective request rate, in requests a second.
func (m *metrics) rate(r float64) {
	m.rateBits.Store(math.Float64bits(r))
	if m.promRate != nil {
		m.promRate.Set(r)
	}
}

// learned records the rate a Backoff left in force.
func (m *metrics) learned(l store.Learned, ceiling time.Duration) {
	if l.Requests.Interval > 0 {
		m.rate(l.Requests.Rate())
	} else if ceiling > 0 {
		m.rate(float64(time.Second) / float64(ceiling))
	}
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func class(resp *http.Response, err error) string {
	if err != nil || resp == nil {
		return "error"
	}
	if c := resp.StatusCode/100 - 1; c >= 0 && c < len(classes) {
		return classes[c]
	}
	return strconv.Itoa(resp.StatusCode)
}

// register adds c to reg, or reuses the collector already there (several clients, one registry).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("weir/client: registering metrics: %w", err)
	}
	return c, nil
}

func newMetrics(upstream string, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{}
	if reg == nil {
		return m, nil
	}
	up := prometheus.Labels{"upstream": upstream}
	var err error
	vec := func(name, help string, labels ...string) *prometheus.CounterVec {
		if err != nil {
			return nil
		}
		var v *prometheus.CounterVec
		v, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Name: name, Help: help}, append([]string{"upstream"}, labels...)))
		return v
	}
	hist := func(name, help string, buckets []float64) prometheus.Observer {
		if err != nil {
			return nil
		}
		var v *prometheus.HistogramVec
		v, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "weir", Name: name, Help: help, Buckets: buckets}, []string{"upstream"}))
		if err != nil {
			return nil
		}
		return v.With(up)
	}
	m.promRequests = vec("requests_total", "Calls finished, by outcome (success, failure, rejected) and the class of the last status.", "outcome", "class")
	m.promAttempts = vec("attempts_total", "Requests sent, by status class.", "class")
	retries := vec("retries_total", "Attempts after the first.")
	rejections := vec("breaker_rejections_total", "Calls refused by an open breaker.")
	trips := vec("breaker_trips_total", "Breaker transitions to open seen by this process.")
	rl := vec("ratelimit_refusals_total", "Calls refused by the limiter: the wait could not fit the deadline, or the waiting line was full.")
	m.promLatency = hist("request_duration_seconds", "Duration of one attempt, to the response headers.", prometheus.DefBuckets)
	m.promWait = hist("ratelimit_wait_seconds", "Time a call waited for a rate-limit token.", []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60})
	var state *prometheus.GaugeVec
	if err == nil {
		state, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "weir", Name: "breaker_state", Help: "Breaker state last seen: 0 closed, 1 open, 2 half-open."}, []string{"upstream"}))
	}
	if err != nil {
		return nil, err
	}
	m.promRetries, m.promRejections, m.promTrips, m.promRL = retries.With(up), rejections.With(up), trips.With(up), rl.With(up)
	m.promState = state.With(up)
	signals := vec("adapt_signals_total", "Responses that said something about the server's limits, by header family (none: a rejection that said nothing).", "kind")
	pauses := vec("adapt_pauses_total", "Fleet-wide pauses set from what the server said.")
	var rate *prometheus.GaugeVec
	if err == nil {
		rate, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "weir", Name: "adapt_effective_rate", Help: "The request rate the key may use, in requests a second: the pace learned from the server, or the strictest configured limit."}, []string{"upstream"}))
	}
	if err != nil {
		return nil, err
	}
	m.promSignal = signals.MustCurryWith(up)
	m.promPauses, m.promRate = pauses.With(up), rate.With(up)
	// Pre-create the common series so that dashboards see zeros rather than gaps.
	for _, o := range []string{"success", "failure"} {
		m.promRequests.WithLabelValues(upstream, o, "2xx")
	}
	m.promState.Set(0)
	m.promRequests = m.promRequests.MustCurryWith(up)
	m.promAttempts = m.promAttempts.MustCurryWith(up)
	return m, nil
}

func (m *metrics) call(resp *http.Response, err error, brk *breaker.Breaker, d time.Duration) {
	m.calls.Add(1)
	m.latencyNanos.Add(int64(d))
	outcome := "success"
	switch {
	case err != nil && (errors.Is(err, breaker.ErrOpen) || errors.Is(err, ErrRateLimited) || errors.Is(err, ErrLineFull)):
		outcome = "rejected"
		m.failures.Add(1)
	case err != nil || brk.IsFailure(resp, nil):
		outcome = "failure"
		m.failures.Add(1)
	default:
		m.successes.Add(1)
	}
	if m.promRequests != nil {
		cl := class(resp, err)
		var se *Error
		if errors.As(err, &se) && se.StatusCode != 0 {
			cl = class(&http.Response{StatusCode: se.StatusCode}, nil)
		}
		m.promRequests.WithLabelValues(outcome, cl).Inc()
	}
}

func (m *metrics) attempt(resp *http.Response, d time.Duration) {
	m.attempts.Add(1)
	if resp != nil {
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			m.tooMany.Add(1)
		case resp.StatusCode >= 500:
			m.serverErrors.Add(1)
		}
	}
	if m.promAttempts != nil {
		m.promAttempts.WithLabelValues(class(resp, nil)).Inc()
		m.promLatency.Observe(d.Seconds())
	}
}

func (m *metrics) waited(waited bool, d time.Duration, err error) {
	if waited {
		m.waits.Add(1)
		m.waitNanos.Add(int64(d))
	}
	if errors.Is(err, ErrRateLimited) || errors.Is(err, ErrLineFull) {
		m.rateLimited.Add(1)
		if m.promRL != nil {
			m.promRL.Inc()
		}
	}
	if m.promWait != nil {
		m.promWait.Observe(d.Seconds())
	}
}

func (m *metrics) attemptFailed() { m.failedAttempts.Add(1) }

func (m *metrics) retried() {
	m.retries.Add(1)
	if m.promRetries != nil {
		m.promRetries.Inc()
	}
}

func (m *metrics) breakerRejected() {
	m.rejections.Add(1)
	if m.promRejections != nil {
		m.promRejections.Inc()
	}
}

func (m *metrics) breakerState(s store.BreakerState) {
	m.state.Store(int64(s))
	if s == store.Open {
		m.trips.Add(1)
		if m.promTrips != nil {
			m.promTrips.Inc()
		}
	}
	if m.promState != nil {
		m.promState.Set(float64(s))
	}
}

// Stats returns what the client has counted.
func (c *Client) Stats() Stats {
	m := c.metrics
	s := Stats{
		Calls: m.calls.Load(), Successes: m.successes.Load(), Failures: m.failures.Load(),
		Attempts: m.attempts.Load(), FailedAttempts: m.failedAttempts.Load(), Retries: m.retries.Load(),
		TooManyRequests: m.tooMany.Load(), ServerErrors: m.serverErrors.Load(),
		RateLimitWaits: m.waits.Load(), RateLimitWaitTime: time.Duration(m.waitNanos.Load()), RateLimited: m.rateLimited.Load(),
		BreakerRejections: m.rejections.Load(), BreakerTrips: m.trips.Load(), BreakerState: store.BreakerState(m.state.Load()),
	}
	s.StoreFailures = c.st.failures.Load()
	s.EffectiveRate = math.Float64frombits(m.rateBits.Load())
	s.Pauses = m.pauses.Load()
	m.sigMu.Lock()
	if len(m.signals) > 0 {
		s.Signals = make(map[string]int64, len(m.signals))
		for k, v := range m.signals {
			s.Signals[k] = v
		}
	}
	m.sigMu.Unlock()
	if s.Calls > 0 {
		s.AvgLatency = time.Duration(m.latencyNanos.Load() / s.Calls)
	}
	if c.line != nil {
		s.Waiting = c.line.len()
	}
	return s
}
