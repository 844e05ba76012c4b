package vendorapi

import (
	"maps"
	"net/http"
	"testing"
	"time"
)

func TestReportCountsRejectionsByWindow(t *testing.T) {
	f := serve(t, GitHub, Config{Quota: 2, Window: 10 * time.Second}, epoch.Add(4*time.Second))
	if r := f.srv.Report(); r.Served != 0 || r.Rejected != 0 || !r.First.IsZero() || r.WorstAfterFirst != 0 {
		t.Fatalf("empty Report = %+v", r)
	}
	// Window 0: 2 served, 1 rejected. Window 1: 2 served, 3 rejected. Window 2: 1 served.
	// Window 3: 2 served, 2 rejected.
	plan := []struct {
		at time.Duration
		n  int
	}{{4 * time.Second, 3}, {12 * time.Second, 5}, {25 * time.Second, 1}, {39 * time.Second, 4}}
	for _, p := range plan {
		f.at(p.at)
		for range p.n {
			f.get("/repos")
		}
	}
	r := f.srv.Report()
	const k0 = 176722560 // the window holding epoch
	want := map[int64]int{k0: 1, k0 + 1: 3, k0 + 3: 2}
	if r.Served != 7 || r.Rejected != 6 || r.Invalid != 0 {
		t.Errorf("served %d rejected %d invalid %d, want 7, 6, 0", r.Served, r.Rejected, r.Invalid)
	}
	if !maps.Equal(r.RejectionsByWindow, want) || len(r.GlobalRejectionsByWindow) != 0 {
		t.Errorf("RejectionsByWindow = %v, global %v; want %v and none", r.RejectionsByWindow, r.GlobalRejectionsByWindow, want)
	}
	if !r.First.Equal(epoch.Add(4*time.Second)) || !r.FirstRejection.Equal(epoch.Add(4*time.Second)) || !r.LastServed.Equal(epoch.Add(39*time.Second)) {
		t.Errorf("First %v FirstRejection %v LastServed %v", r.First, r.FirstRejection, r.LastServed)
	}
	if r.WorstAfterFirst != 3 {
		t.Errorf("WorstAfterFirst = %d, want 3 (window k0+1; k0 itself holds the first rejection)", r.WorstAfterFirst)
	}

	// The first rejection's own window never counts, however many it holds.
	g := serve(t, X, Config{Quota: 1, Window: time.Second}, epoch)
	for range 5 {
		g.get("/")
	}
	g.at(time.Second)
	g.get("/")
	g.get("/")
	if r := g.srv.Report(); r.WorstAfterFirst != 1 || r.RejectionsByWindow[1767225600] != 4 {
		t.Errorf("Report = %+v, want 4 rejections in the first window and WorstAfterFirst 1", r)
	}
	if a := g.srv.Arrivals(); a[1].Status != http.StatusTooManyRequests {
		t.Errorf("second arrival: %d, want 429", a[1].Status)
	}
}

func TestIdeal(t *testing.T) {
	const w = 10 * time.Second
	cfg := Config{Quota: 5, Window: w, TokenQuota: 1000, GlobalQuota: 4, GlobalWindow: time.Second}
	cases := []struct {
		name  string
		kind  Kind
		first time.Duration // after epoch, a window start
		n     int
		cost  int64
		want  time.Duration
	}{
		{"no requests", GitHub, 0, 0, 1, 0},
		{"one request", GitHub, 3 * time.Second, 1, 1, 0},
		{"exactly the quota", GitHub, 3 * time.Second, 5, 1, 0},
		{"one more than the quota at a window start", GitHub, 0, 6, 1, w},
		{"2·quota+1 at a window start", GitHub, 0, 11, 1, 2 * w},
		{"2·quota+1 from the middle of a window", X, 4 * time.Second, 11, 1, 2*w - 4*time.Second},
		{"quota+1 from the last instant of a window", Reddit, w - time.Millisecond, 6, 1, time.Millisecond},
		{"cost is ignored but for OpenAI", IETF, 0, 11, 900, 2 * w},
		{"OpenAI, requests binding", OpenAI, 0, 11, 10, 2 * w},
		{"OpenAI, tokens binding", OpenAI, 0, 7, 300, 2 * w}, // 3 a window
		{"OpenAI, tokens binding mid-window", OpenAI, 5 * time.Second, 4, 300, 5 * time.Second},
		{"OpenAI, free requests", OpenAI, 0, 6, 0, w},
		{"OpenAI, impossible cost", OpenAI, 0, 2, 1001, never},
		{"Discord, route binding", Discord, 0, 11, 1, 2 * w},
		{"Discord, global binding", Discord, 500 * time.Millisecond, 5, 1, 500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := New(c.kind, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Ideal(epoch.Add(c.first), c.n, c.cost); got != c.want {
				t.Errorf("Ideal(+%v, %d, %d) = %v, want %v", c.first, c.n, c.cost, got, c.want)
			}
		})
	}

	// Without a global limit, Discord is bound by its route alone.
	s, err := New(Discord, Config{Quota: 5, Window: w})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Ideal(epoch.Add(500*time.Millisecond), 5, 1); got != 0 {
		t.Errorf("Discord without a global limit: Ideal = %v, want 0", got)
	}
}
