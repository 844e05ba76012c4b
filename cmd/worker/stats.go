package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
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
	Tokens int64  `json:"tokens"`
	Error  string `json:"error,omitempty"`
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
	fmt.Fprintln(tw, "UPSTREAM\tREADY (by priority)\tIN FLIGHT\tDELAYED\tDEAD\tBREAKER\tTOKENS")
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\terror: %s\n", r.Upstream, r.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%d\n", r.Upstream, readyText(r.Ready), r.InFlight, r.Delayed, r.Dead, r.Breaker, r.Tokens)
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
	return r
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
