package workerfleet

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestOvertaken shows the order check at work on made-up arrivals: a fleet that hands jobs out in
// the due order passes, however its loops' delays reorder the arrivals; a queue that ignores
// priority, or serves a priority last in, first out, does not.
func TestOvertaken(t *testing.T) {
	const loops = 12
	levels := []int{0, 1, 2, 9, 10, 100}
	t0 := time.Now()
	var jobs []Arrival
	for i := range 240 {
		jobs = append(jobs, Arrival{Job: fmt.Sprint(i), Line: i, Priority: levels[(i*7)%len(levels)]})
	}
	due := DueOrder(jobs)

	// Each job is taken, in the due order, by the loop that is free first, and arrives after a
	// delay of its own; the loop is free again once it has arrived.
	inOrder := slices.Clone(jobs)
	slices.SortFunc(inOrder, func(a, b Arrival) int { return due[a.Job] - due[b.Job] })
	free := make([]time.Duration, loops)
	for i := range inOrder {
		k := slices.Index(free, slices.Min(free))
		free[k] += time.Duration(1+(i*7919)%10) * time.Millisecond
		inOrder[i].At = t0.Add(free[k])
	}
	if worst, who := Overtaken(inOrder, due); worst > loops-1 {
		t.Errorf("a fleet of %d loops following the due order: job %s overtaken by %d, want at most %d", loops, who.Job, worst, loops-1)
	}

	byLine := slices.Clone(jobs) // priority ignored: first in, first out
	for i := range byLine {
		byLine[i].At = t0.Add(time.Duration(i) * time.Millisecond)
	}
	if worst, _ := Overtaken(byLine, due); worst <= loops-1 {
		t.Errorf("a queue that ignores priority: overtaken at most %d, want more than %d", worst, loops-1)
	}

	lifo := slices.Clone(inOrder) // priorities kept, but last in, first out within each
	for i := range lifo {
		lifo[i].Line = len(lifo) - lifo[i].Line
	}
	if worst, _ := Overtaken(lifo, DueOrder(lifo)); worst <= loops-1 {
		t.Errorf("a queue that serves a priority last in, first out: overtaken at most %d, want more than %d", worst, loops-1)
	}
}
