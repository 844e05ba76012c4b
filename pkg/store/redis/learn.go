package redis

import (
	"context"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

var _ store.Learner = (*Store)(nil)

// Learn implements store.Learner: one learn.lua call.
func (s *Store) Learn(ctx context.Context, key string, requests, units store.Pace) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if err := contract.ValidatePaces(requests, units); err != nil {
		return err
	}
	if requests.Interval == 0 && units.Interval == 0 {
		return nil
	}
	args := []any{s.nowArg()}
	for _, p := range []store.Pace{requests, units} {
		if p.Interval == 0 {
			args = append(args, 0, 0, 0)
			continue
		}
		args = append(args, ceilMicros(p.Interval), p.Burst, unixMicroUp(p.Until))
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	return s.wrap(ctx, lua.Learn.Run(octx, s.rdb, []string{s.limiterKey(key)}, args...).Err())
}

// Backoff implements store.Learner: one backoff.lua call.
func (s *Store) Backoff(ctx context.Context, key string, b store.Backoff) (store.Learned, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Learned{}, err
	}
	if err := b.Validate(); err != nil {
		return store.Learned{}, err
	}
	retry := int64(-1)
	if b.RetryAfter >= 0 {
		retry = ceilMicros(b.RetryAfter)
	}
	hold := 0
	if b.Hold {
		hold = 1
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	v, err := lua.Backoff.Run(octx, s.rdb, []string{s.limiterKey(key)}, s.nowArg(),
		b.Factor, ceilMicros(b.Ceiling), b.Recover, ceilMicros(b.Pause), retry, hold, ceilMicros(b.RoundTrip)).Result()
	if err != nil {
		return store.Learned{}, s.wrap(ctx, err)
	}
	return learnedFrom(v)
}

// Learned implements store.Learner: one learned.lua call.
func (s *Store) Learned(ctx context.Context, key string) (store.Learned, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Learned{}, err
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	v, err := lua.Learned.Run(octx, s.rdb, []string{s.limiterKey(key)}, s.nowArg()).Result()
	if err != nil {
		return store.Learned{}, s.wrap(ctx, err)
	}
	return learnedFrom(v)
}

// learnedFrom reads the eight integers backoff.lua and learned.lua return.
func learnedFrom(v any) (store.Learned, error) {
	out, err := ints(v, 8)
	if err != nil {
		return store.Learned{}, err
	}
	pace := func(o []int64) store.Pace {
		if o[0] == 0 {
			return store.Pace{}
		}
		p := store.Pace{Interval: time.Duration(o[0]) * time.Microsecond, Burst: o[1]}
		if o[2] > 0 {
			p.Until = time.UnixMicro(o[2])
		}
		return p
	}
	l := store.Learned{Requests: pace(out[0:3]), Units: pace(out[3:6]), Cuts: out[7]}
	if out[6] > 0 {
		l.Paused = time.UnixMicro(out[6])
	}
	return l, nil
}

// unixMicroUp is contract.UnixMicroUp (take.go's Block calls it).
func unixMicroUp(t time.Time) int64 { return contract.UnixMicroUp(t) }
