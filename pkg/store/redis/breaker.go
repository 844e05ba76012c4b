package redis

import (
	"context"
	"strconv"
	"time"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// breakerCall runs breaker.lua for op with the policy's numbers, then any extra arguments.
func (s *Store) breakerCall(ctx context.Context, name, op string, p store.BreakerPolicy, want int, extra ...any) ([]int64, error) {
	if err := s.checkName(ctx, "breaker name", name); err != nil {
		return nil, err
	}
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	args := append([]any{
		s.nowArg(), op,
		p.ConsecutiveFailures, strconv.FormatFloat(p.FailureRate, 'g', -1, 64), p.Window.Microseconds(),
		p.MinCalls, p.OpenTimeout.Microseconds(), p.MaxOpenTimeout.Microseconds(),
		p.HalfOpenProbes, p.SuccessThreshold,
	}, extra...)
	octx, cancel := s.opContext(ctx)
	defer cancel()
	v, err := lua.Breaker.Run(octx, s.rdb, []string{s.breakerKey(name)}, args...).Result()
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	return ints(v, want)
}

// Acquire implements store.Breakers.
func (s *Store) Acquire(ctx context.Context, name string, p store.BreakerPolicy) (store.Permit, error) {
	out, err := s.breakerCall(ctx, name, "acquire", p, 5)
	if err != nil {
		return store.Permit{}, err
	}
	return store.Permit{
		Allowed:    out[0] == 1,
		State:      store.BreakerState(out[1]),
		Generation: out[2],
		RetryAfter: time.Duration(out[3]) * time.Microsecond,
		Changed:    out[4] == 1,
	}, nil
}

// Record implements store.Breakers.
func (s *Store) Record(ctx context.Context, name string, p store.BreakerPolicy, permit store.Permit, o store.Outcome) (store.BreakerStatus, error) {
	gen := permit.Generation
	if !permit.Allowed {
		gen = -1 // never current: a refused permit has nothing to report
	}
	out, err := s.breakerCall(ctx, name, "record", p, 10, gen, int(o))
	if err != nil {
		return store.BreakerStatus{}, err
	}
	return status(out), nil
}

// BreakerStatus implements store.Breakers.
func (s *Store) BreakerStatus(ctx context.Context, name string, p store.BreakerPolicy) (store.BreakerStatus, error) {
	out, err := s.breakerCall(ctx, name, "status", p, 10)
	if err != nil {
		return store.BreakerStatus{}, err
	}
	return status(out), nil
}

func status(out []int64) store.BreakerStatus {
	return store.BreakerStatus{
		State:               store.BreakerState(out[0]),
		Generation:          out[1],
		Changed:             out[2] == 1,
		Stale:               out[3] == 1,
		ConsecutiveFailures: int(out[4]),
		Calls:               int(out[5]),
		Failures:            int(out[6]),
		Trips:               int(out[7]),
		ProbesInFlight:      int(out[8]),
		RetryAfter:          time.Duration(out[9]) * time.Microsecond,
	}
}
