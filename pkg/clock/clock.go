// Package clock is the time source Weir reads, so that tests can move time instead of sleeping.
//
// Production code uses Real; tests use a Fake (NewFake) and call Advance or Set. Both are safe for
// concurrent use. Micros and Sleep work with any Clock.
package clock

import "time"

// Clock tells the time and makes timers. Every clock-dependent part of Weir takes one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once d has passed on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer that Weir uses.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it stopped a pending timer.
	Stop() bool
}

// Real returns the system clock. It reads the monotonic clock from a wall-clock reading taken
// when the program started: it never steps when the system clock is set, which is what intervals
// between rate-limited requests need, and it is cheaper to read than time.Now.
func Real() Clock { return realClock{} }

type realClock struct{}

// start anchors the real clock: the wall time at start plus the monotonic time since.
var (
	start       = time.Now()
	startMicros = start.UnixMicro()
)

func (realClock) Now() time.Time { return start.Add(time.Since(start)) }

// Micros returns a function that reads c in microseconds since the Unix epoch, as cheaply as c
// allows: the hot paths of the stores read the time on every decision.
func Micros(c Clock) func() int64 {
	if _, ok := c.(realClock); ok {
		return realMicros
	}
	return func() int64 { return c.Now().UnixMicro() }
}

func realMicros() int64 { return startMicros + int64(time.Since(start)/time.Microsecond) }

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Sleep waits for d on c, or until done is closed (a ctx.Done(), say), whichever comes first. It
// reports whether the full duration passed; a d of zero or less passes at once.
func Sleep(c Clock, d time.Duration, done <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-done:
		return false
	}
}
