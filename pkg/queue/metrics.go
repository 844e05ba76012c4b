package queue

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-go/weir/pkg/store"
)

// maxPriorityLabels bounds the priority label of the depth metric: beyond this many distinct
// priorities, the lowest ones are summed under "other", so the label stays bounded.
const maxPriorityLabels = 16

// Collector exports the queues' shape (read from the store at each scrape) and the workers'
// job outcomes, every series labelled by upstream.
type Collector struct {
	st        store.Queues
	upstreams []string
	workers   []*Worker

	depth, inflight, delayed, dead, jobs, expiries, stale *prometheus.Desc
}

// NewCollector returns a collector for the queues of upstreams and the workers that drain them.
func NewCollector(st store.Queues, upstreams []string, workers []*Worker) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("weir_"+name, help, append([]string{"upstream"}, labels...), nil)
	}
	return &Collector{st: st, upstreams: upstreams, workers: workers,
		depth:    d("queue_depth", "Ready jobs, by priority.", "priority"),
		inflight: d("queue_inflight", "Jobs under a lease."),
		delayed:  d("queue_delayed", "Jobs waiting for their time (delays and retries)."),
		dead:     d("queue_dead", "Jobs in the dead-letter set."),
		jobs:     d("jobs_total", "Jobs finished by this process, by outcome.", "outcome"),
		expiries: d("lease_expiries_total", "Expired leases this process returned to the queue."),
		stale:    d("stale_acks_total", "Outcomes this process could not record because its lease was lost."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.depth, c.inflight, c.delayed, c.dead, c.jobs, c.expiries, c.stale} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, up := range c.upstreams {
		st, err := c.st.QueueStats(ctx, up)
		if err != nil {
			continue // the store is away: the series are absent rather than wrong
		}
		prios := make([]int, 0, len(st.Ready))
		for p := range st.Ready {
			prios = append(prios, p)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(prios)))
		other := 0
		for i, p := range prios {
			if i < maxPriorityLabels {
				ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.Ready[p]), up, strconv.Itoa(p))
			} else {
				other += st.Ready[p]
			}
		}
		if len(prios) > maxPriorityLabels {
			ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(other), up, "other")
		}
		ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(st.InFlight), up)
		ch <- prometheus.MustNewConstMetric(c.delayed, prometheus.GaugeValue, float64(st.Delayed), up)
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.Dead), up)
	}
	for _, w := range c.workers {
		s, up := w.Stats(), w.cfg.Queue
		for outcome, n := range map[string]int64{"done": s.Done.Load(), "retried": s.Retried.Load(),
			"buried": s.Buried.Load(), "handed_back": s.HandedBack.Load()} {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.CounterValue, float64(n), up, outcome)
		}
		ch <- prometheus.MustNewConstMetric(c.expiries, prometheus.CounterValue, float64(s.Reaped.Load()), up)
		ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(s.StaleAcks.Load()+s.LeasesLost.Load()), up)
	}
}
