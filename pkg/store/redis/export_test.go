package redis

import (
	"context"

	"github.com/weir-go/weir/pkg/store"
)

// DecideBatch decides takes as one batch of a line: the i-th takes cost[i] of keys[i] under
// limits[i]. It returns each take's decision and error, in the takes' order.
func (s *Store) DecideBatch(ctx context.Context, keys []string, limits [][]store.Limit, costs []int64) ([]store.Decision, []error) {
	reqs := make([]*takeReq, len(keys))
	batch := make([]*takeReq, len(keys))
	for i := range keys {
		reqs[i] = &takeReq{turn: turn{ctx: ctx, done: make(chan struct{}, 1)}, key: keys[i], limits: limits[i], n: costs[i]}
	}
	copy(batch, reqs)
	s.decide("", batch)
	ds, errs := make([]store.Decision, len(keys)), make([]error, len(keys))
	for i, r := range reqs {
		<-r.done
		ds[i], errs[i] = r.d, r.err
	}
	return ds, errs
}
