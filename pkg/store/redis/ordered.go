package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// TakeOrdered implements store.Limiter: one take.lua call in ordered mode, so that a waiting
// line of any length is served in one round trip.
func (s *Store) TakeOrdered(ctx context.Context, key string, limits []store.Limit, costs []int64) ([]store.Decision, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, err
	}
	if err := store.ValidateTakes(key, limits, costs); err != nil {
		return nil, err
	}
	if len(costs) == 0 {
		return nil, nil
	}
	args := s.takeArgs(limits, true, len(costs), func(i int) int64 { return costs[i] })
	octx, cancel := s.opContext(ctx)
	defer cancel()
	out, err := lua.Take.RunInts(octx, s.rdb, []string{s.limiterKey(key)}, args...).Result()
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	if len(out) < 5*len(costs) {
		return nil, fmt.Errorf("weir/store/redis: take.lua answered %d numbers for %d takes", len(out), len(costs))
	}
	ds := make([]store.Decision, len(costs))
	for i := range ds {
		ds[i] = store.Decision{
			Allowed:    out[5*i] == 1,
			Remaining:  out[5*i+1],
			RetryAfter: time.Duration(out[5*i+2]) * time.Microsecond,
			ResetAfter: time.Duration(out[5*i+3]) * time.Microsecond,
			Paced:      time.Duration(out[5*i+4]) * time.Microsecond,
		}
	}
	return ds, nil
}
