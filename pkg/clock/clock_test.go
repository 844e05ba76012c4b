package clock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
)

func TestRealFollowsTheSystemClock(t *testing.T) {
	c := clock.Real()
	micros := clock.Micros(c)
	before := time.Now()
	now, us := c.Now(), micros()
	after := time.Now()
	// Anchored at start and advanced by the monotonic clock: within a second of the wall clock
	// unless the system clock was stepped while the tests ran.
	assert.WithinDuration(t, before, now, time.Second)
	assert.WithinDuration(t, after, time.UnixMicro(us), time.Second)
	assert.False(t, c.Now().Before(now), "never goes back")

	tm := c.NewTimer(time.Millisecond)
	select {
	case <-tm.C():
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire")
	}
}

func TestFakeTimersFireInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := clock.NewFake(start)
	assert.Equal(t, start.UnixMicro(), clock.Micros(f)())

	late := f.NewTimer(2 * time.Second)
	early := f.NewTimer(time.Second)
	stopped := f.NewTimer(time.Second)
	require.True(t, stopped.Stop())
	assert.Equal(t, 2, f.Timers())

	f.Advance(999 * time.Millisecond)
	select {
	case <-early.C():
		t.Fatal("fired early")
	default:
	}
	f.Advance(time.Millisecond)
	assert.Equal(t, start.Add(time.Second), <-early.C())
	assert.Equal(t, 1, f.Timers())
	f.Set(start.Add(time.Hour))
	assert.Equal(t, start.Add(time.Hour), <-late.C())
	assert.False(t, late.Stop(), "already fired")

	now := f.NewTimer(0)
	assert.Equal(t, start.Add(time.Hour), <-now.C(), "a timer for no time fires at once")
}

func TestSleep(t *testing.T) {
	f := clock.NewFake(time.Unix(0, 0))
	done := make(chan struct{})
	close(done)
	assert.False(t, clock.Sleep(f, time.Hour, done), "cut short")
	assert.True(t, clock.Sleep(f, 0, nil))
}
