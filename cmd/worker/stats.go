package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// upstreamStats is one line of `worker stats`.
type upstreamStats struct {
	Upstream string      `json:"upstream"`
	Ready    map[int]int `json:"ready_by_priority"`
	InFlight int         `json:"in_flight"`
	Delayed  int         `json:"delayed"`
	Dead     int         `json:"dead"`
	Breaker  string      `json:"breaker"`
	// Tokens is how many requests the tightest limit would admit now; -1 without limits.
	Tokens int64 `json:"tokens"`
	// What the fleet learned from the upstream's own word (see client.AdaptConfig): the request
	// rate it paces the key at (0: none in force), when that pace lapses (zero: it recovers
	// instead), the end of a pause in force, and the rate cuts so far.
	LearnedRate  float64   `json:"learned_rate,omitempty"`
	LearnedUntil time.Time `json:"learned_until,omitzero"`
	PausedUntil  time.Time `json:"paused_until,omitzero"`
	Cuts         int64     `json:"cuts,omitempty"`
	Error        string    `json:"error,omitempty"`
}

func runStats(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var redisFlag, config, prefix string
	var asJSON bool
	fs.StringVar(&redisFlag, "redis", "", "Redis URL; default $WEIR_REDIS_URL")
	fs.StringVar(&config, "config", "", "upstream profiles (JSON); required")
	fs.StringVar(&prefix, "prefix", "weir", "key prefix in Redis")
	fs.BoolVar(&asJSON, "json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if config == "" {
		fmt.Fprintln(stderr, "worker stats: --config is required")
		return 2
	}
	cfg, err := loadConfig(config, func(string) string { return "set" })
	if err != nil {
		fmt.Fprintf(stderr, "worker stats: %v\n", err)
		return 1
	}
	st, err := openStore(ctx, redisURL(redisFlag), prefix, false)
	if err != nil {
		fmt.Fprintf(stderr, "worker stats: %v\n", err)
		return 1
	}
	defer st.Close()
	var rows []upstreamStats
	for _, u := range cfg.Upstreams {
		rows = append(rows, collectStats(ctx, st, u))
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			_ = enc.Encode(r)
		}
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tREADY (by priority)\tIN FLIGHT\tDELAYED\tDEAD\tBREAKER\tTOKENS\tLEARNED")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\terror: %s\n", r.Upstream, r.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\t%s\n", r.Upstream, readyText(r.Ready), r.InFlight, r.Delayed, r.Dead, r.Breaker, r.Tokens, learnedText(r, time.Now()))
	}
	_ = tw.Flush()
	return 0
}

func collectStats(ctx context.Context, st fullStore, u upstreamProfile) upstreamStats {
	r := upstreamStats{Upstream: u.Name, Tokens: -1}
	qs, err := st.QueueStats(ctx, u.Name)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Ready, r.InFlight, r.Delayed, r.Dead = qs.Ready, qs.InFlight, qs.Delayed, qs.Dead
	ccfg := u.clientConfig(st)
	if bs, err := st.BreakerStatus(ctx, u.Name, ccfg.Breaker.BreakerPolicy); err == nil {
		r.Breaker = bs.State.String()
	}
	if len(ccfg.Limits) > 0 {
		if d, err := st.Take(ctx, u.Name, ccfg.Limits, 0); err == nil { // a cost of 0 reads without charging
			r.Tokens = d.Remaining
		}
	}
	if l, err := st.Learned(ctx, u.Name); err == nil {
		r.LearnedRate, r.LearnedUntil, r.PausedUntil, r.Cuts = l.Requests.Rate(), l.Requests.Until, l.Paused, l.Cuts
	}
	return r
}

// learnedText is the LEARNED column: the pace in force and any pause, or "-".
func learnedText(r upstreamStats, now time.Time) string {
	var parts []string
	if r.LearnedRate > 0 {
		p := fmt.Sprintf("%.3g/s", r.LearnedRate)
		if !r.LearnedUntil.IsZero() {
			p += fmt.Sprintf(" for %v", r.LearnedUntil.Sub(now).Round(100*time.Millisecond))
		}
		parts = append(parts, p)
	}
	if !r.PausedUntil.IsZero() {
		parts = append(parts, fmt.Sprintf("paused %v", r.PausedUntil.Sub(now).Round(100*time.Millisecond)))
	}
	if r.Cuts > 0 {
		parts = append(parts, fmt.Sprintf("%d cuts", r.Cuts))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func readyText(ready map[int]int) string {
	if len(ready) == 0 {
		return "0"
	}
	prios := make([]int, 0, len(ready))
	total := 0
	for p, n := range ready {
		prios = append(prios, p)
		total += n
	}
	sort.Sort(sort.Reverse(sort.IntSlice(prios)))
	s := fmt.Sprint(total, " (")
	for i, p := range prios {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%d:%d", p, ready[p])
	}
	return s + ")"
}
