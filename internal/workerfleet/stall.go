package workerfleet

import (
	"sync"
	"testing"
	"time"
)

// StallProbe measures how long this process waits for a CPU: a goroutine sleeps a millisecond at
// a time and notes by how much it wakes late. On a machine shared with other work, that is how
// long the requests a loopback server receives may wait to be stamped, and roughly how long any
// process of the fleet may wait between two steps. It is safe for concurrent use.
type StallProbe struct {
	mu     sync.Mutex
	stalls []stall // wake-ups more than a millisecond late
}

type stall struct {
	at   time.Time
	late time.Duration
}

// StartStallProbe starts a probe that runs until tb's test ends.
func StartStallProbe(tb testing.TB) *StallProbe {
	p := &StallProbe{}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		const nap = time.Millisecond
		t := time.NewTimer(nap)
		defer t.Stop()
		for {
			t0 := time.Now()
			t.Reset(nap)
			select {
			case <-done:
				return
			case <-t.C:
			}
			now := time.Now()
			if late := now.Sub(t0) - nap; late > time.Millisecond {
				p.mu.Lock()
				p.stalls = append(p.stalls, stall{now, late})
				p.mu.Unlock()
			}
		}
	}()
	tb.Cleanup(func() { close(done); <-stopped })
	return p
}

// Worst returns the longest wake-up delay that ended within [from, to], and at least a
// millisecond.
func (p *StallProbe) Worst(from, to time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := time.Millisecond
	for _, s := range p.stalls {
		if !s.at.Before(from) && !s.at.After(to) {
			w = max(w, s.late)
		}
	}
	return w
}
