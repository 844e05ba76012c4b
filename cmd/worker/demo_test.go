package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDemoAccountsForEveryRequestAndStaysUnderTheLimit(t *testing.T) {
	// A slow emission interval (100 ms) keeps the check on the API's busiest second far from
	// scheduling noise: it takes a 100 ms bunching of arrivals to add one to a window.
	o := demoOptions{Requests: 30, Rate: 10, Burst: 5, APILimit: 15, FailureRate: 0.1, Seed: 3, Timeout: 30 * time.Second}
	var out, logs bytes.Buffer
	s, err := demo(context.Background(), o, &out, &logs)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	s.print(&out)
	t.Logf("output:\n%s", out.String())

	if p := s.problem(); p != "" {
		t.Errorf("problem: %s", p)
	}
	if s.Requests != 30 || s.Succeeded+s.Failed != 30 || s.Stats.Calls != 30 {
		t.Errorf("requests %d, succeeded %d, failed %d, client calls %d: want all 30 accounted for",
			s.Requests, s.Succeeded, s.Failed, s.Stats.Calls)
	}
	if s.Stats.Attempts != int64(s.Arrivals) || s.Stats.Attempts != int64(s.Requests)+s.Stats.Retries {
		t.Errorf("attempts %d, retries %d, API arrivals %d: want attempts = requests + retries = arrivals",
			s.Stats.Attempts, s.Stats.Retries, s.Arrivals)
	}
	if got, want := s.Stats.ServerErrors, int64(s.APIStatuses[http.StatusServiceUnavailable]); got != want {
		t.Errorf("client saw %d 5xx, API answered %d 503s", got, want)
	}
	if got, want := s.Stats.TooManyRequests, int64(s.APIStatuses[http.StatusTooManyRequests]); got != want {
		t.Errorf("client saw %d 429s, API answered %d", got, want)
	}
	if s.Bound != 15 || int64(s.BusiestSecond) > s.Bound {
		t.Errorf("busiest second %d arrivals, bound %d: want ≤ 15 (burst 5 + 10/s)", s.BusiestSecond, s.Bound)
	}
	if s.P50 <= 0 || s.P99 < s.P50 {
		t.Errorf("latency p50 %v, p99 %v", s.P50, s.P99)
	}
	if len(s.Priorities) != 3 {
		t.Fatalf("%d priorities reported, want 3", len(s.Priorities))
	}
	for _, p := range s.Priorities {
		if p.Count != 10 {
			t.Errorf("priority %s: %d requests, want 10", p.Name, p.Count)
		}
	}

	if strings.Contains(out.String(), "\x1b") || strings.Contains(out.String(), "\r") {
		t.Errorf("output to a non-terminal holds escape codes or carriage returns:\n%q", out.String())
	}
	for _, want := range []string{"100%  30/30 finished", "requests        30: 30 succeeded, 0 failed", "result: ok"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestDemoFleetDrainsEveryJobUnderTheSharedLimit(t *testing.T) {
	o := demoOptions{Jobs: 30, Workers: 3, Rate: 10, Burst: 5, APILimit: 15, FailureRate: 0.1, Seed: 3, Timeout: 30 * time.Second}
	var out, logs bytes.Buffer
	s, err := demoFleet(context.Background(), o, &out, &logs)
	if err != nil {
		t.Fatalf("demoFleet: %v", err)
	}
	s.print(&out)
	t.Logf("output:\n%s", out.String())
	if p := s.problem(); p != "" {
		t.Errorf("problem: %s", p)
	}
	var sum int64
	for _, n := range s.PerWorker {
		sum += n
	}
	if s.Done != 30 || sum != 30 || len(s.PerWorker) != 3 {
		t.Errorf("done %d, per worker %v: want all 30 jobs done by the 3 workers", s.Done, s.PerWorker)
	}
}
