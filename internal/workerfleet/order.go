package workerfleet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// DueOrder returns each job's place in the order a strict priority queue hands out jobs that
// were all ready from the start: by priority, highest first, then by line (the order they were
// enqueued in).
func DueOrder(arrivals []Arrival) map[string]int {
	s := slices.Clone(arrivals)
	slices.SortFunc(s, func(a, b Arrival) int {
		if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Line, b.Line)
	})
	due := make(map[string]int, len(s))
	for i, a := range s {
		due[a.Job] = i
	}
	return due
}

// Overtaken returns the most jobs due before one job (by due) that arrived after it, and that
// job. Given one arrival per job, it walks them from the last, counting in a Fenwick tree over
// the due places: O(n log n).
//
// Why it bounds strict priority: let x be due before y and arrive after it. The queue handed x
// out before y, and y out before y arrived; so when y arrived, x had been handed out and not yet
// sent: it was held by a worker loop (one that runs its job to its outcome before taking
// another), as y was by another. So no job can be overtaken by more jobs than the fleet's loops
// less one (plus any jobs held by a killed worker), whatever the timing.
func Overtaken(arrivals []Arrival, due map[string]int) (worst int, who Arrival) {
	s := SortedByTime(arrivals)
	tree := make([]int, len(s)+1)
	for i := len(s) - 1; i >= 0; i-- {
		place := due[s[i].Job]
		n := 0
		for k := place; k > 0; k -= k & -k { // arrived later, due at places [0, place)
			n += tree[k]
		}
		if n > worst {
			worst, who = n, s[i]
		}
		for k := place + 1; k < len(tree); k += k & -k {
			tree[k]++
		}
	}
	return worst, who
}

// LevelOvertakes describes, for each of the levels, how many jobs of a lower priority arrived
// before the last job of that priority or above did. Unlike Overtaken's figure this one has no
// bound: while one loop holds a job of the higher level (waiting for a token, say), the others go
// on with lower ones.
func LevelOvertakes(arrivals []Arrival, levels []int) string {
	s := SortedByTime(arrivals)
	var parts []string
	for _, p := range levels {
		last := -1
		for i, a := range s {
			if a.Priority >= p {
				last = i
			}
		}
		n := 0
		for _, a := range s[:last+1] {
			if a.Priority < p {
				n++
			}
		}
		parts = append(parts, fmt.Sprintf("≥%d: %d", p, n))
	}
	return strings.Join(parts, ", ")
}
