package redis

import (
	"context"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/store"
)

// TakeOrdered implements store.Limiter: one take.lua call in ordered mode, so that a waiting
// line of any length is served in one round trip.
func (s *Store) TakeOrdered(ctx context.Context, key string, limits []store.Limit, costs []int64) ([]store.Decision, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, err
	}
	if err := contract.ValidateTake(key, limits, costs...); err != nil {
		return nil, err
	}
	if len(costs) == 0 {
		return nil, nil
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	out, err := s.runTake(octx, ctx, key, limits, true, len(costs), func(i int) int64 { return costs[i] })
	if err != nil {
		return nil, err
	}
	ds := make([]store.Decision, len(costs))
	for i := range ds {
		ds[i] = decision(out, i)
	}
	return ds, nil
}
