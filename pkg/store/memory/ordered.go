package memory

import (
	"context"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/store"
)

// TakeOrdered implements store.Limiter.
func (s *Store) TakeOrdered(ctx context.Context, key string, limits []store.Limit, costs []int64) ([]store.Decision, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, err
	}
	if err := contract.ValidateTake(key, limits, costs...); err != nil {
		return nil, err
	}
	now := s.now()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.maybeSweep(now)
	e := sh.keys[key]
	if e == nil {
		e = &entry{buckets: make([]bucket, 0, len(limits))}
		sh.keys[key] = e
	}
	out := make([]store.Decision, len(costs))
	var refused time.Duration // the first refusal's wait; 0 until then
	for i, n := range costs {
		d, err := e.take(key, limits, n, now, refused)
		if err != nil {
			return nil, err
		}
		if !d.Allowed && refused == 0 {
			refused = d.RetryAfter
		}
		out[i] = d
	}
	return out, nil
}
