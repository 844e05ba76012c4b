package main

import (
	"testing"
	"time"

	"github.com/weir-go/weir/pkg/store"
)

func TestBusiestWindowSlides(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ms   []int
		want int
	}{
		{"none", nil, 0},
		{"one", []int{5}, 1},
		// The aligned seconds hold 3 and 2; the window from 600 ms holds 4.
		{"across a second boundary", []int{100, 600, 900, 1100, 1500}, 4},
		{"the window is half-open", []int{0, 1000, 2000}, 1},
		{"unsorted input", []int{1500, 0, 999, 1000}, 3},
		{"same instant", []int{7, 7, 7}, 3},
	} {
		if got := busiestWindow(at(tc.ms...), time.Second); got != tc.want {
			t.Errorf("%s: busiestWindow = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	d := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for q, want := range map[float64]time.Duration{0.5: 5, 0.99: 10, 0.1: 1, 0: 1, 1: 10} {
		if got := percentile(d, q); got != want {
			t.Errorf("percentile(1..10, %v) = %v, want %v", q, got, want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestMaxAdmitted(t *testing.T) {
	for _, tc := range []struct {
		l    store.Limit
		want int64
	}{
		{store.PerSecond(50).WithBurst(10), 60},
		{store.PerSecond(50), 100},
		{store.PerMinute(120).WithBurst(5), 7},
	} {
		if got := maxAdmitted(tc.l, time.Second); got != tc.want {
			t.Errorf("maxAdmitted(%s, 1s) = %d, want %d", tc.l, got, tc.want)
		}
	}
}

func TestShuffledPrioritiesDealsEvenlyAndDependsOnTheSeed(t *testing.T) {
	a, b, c := shuffledPriorities(30, 1), shuffledPriorities(30, 1), shuffledPriorities(30, 2)
	counts := map[priority]int{}
	same, differ := true, false
	for i := range a {
		counts[a[i]]++
		same = same && a[i] == b[i]
		differ = differ || a[i] != c[i]
	}
	for _, p := range demoPriorities {
		if counts[p] != 10 {
			t.Errorf("%s: %d of 30, want 10", p.Name, counts[p])
		}
	}
	if !same || !differ {
		t.Errorf("same seed same order: %v; other seed other order: %v; want both", same, differ)
	}
}
