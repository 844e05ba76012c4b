package redis

import (
	"strconv"
	"sync"

	"github.com/weir-go/weir/pkg/store"
)

// limitArgs are one limit's five arguments to take.lua: requests, per (µs), burst and the names
// of the two hash fields that hold its bucket. They are formatted once per distinct limit and
// kept, boxed, so that a decision formats and allocates nothing for them.
type limitArgs [5]any

// argCache keeps the limitArgs of the limits a store has seen, up to maxCachedLimits of them (a
// program with limits that keep changing gets them formatted afresh instead of a growing map).
type argCache struct {
	m  sync.Map // store.Limit -> *limitArgs
	n  int      // entries, under mu
	mu sync.Mutex
}

const maxCachedLimits = 1024

func (c *argCache) get(l store.Limit) *limitArgs {
	if v, ok := c.m.Load(l); ok {
		return v.(*limitArgs)
	}
	id := strconv.FormatInt(l.Requests, 10) + ":" + strconv.FormatInt(l.PerMicros(), 10) + ":" +
		strconv.FormatInt(l.EffectiveBurst(), 10)
	a := &limitArgs{l.Requests, l.PerMicros(), l.EffectiveBurst(), id + ":t", id + ":r"}
	c.mu.Lock()
	if c.n < maxCachedLimits {
		if _, loaded := c.m.LoadOrStore(l, a); !loaded {
			c.n++
		}
	}
	c.mu.Unlock()
	return a
}

// takeArgs returns take.lua's arguments for limits and costs: ordered refuses every take after
// the first refusal (a waiting line), otherwise each take is decided on its own.
func (s *Store) takeArgs(limits []store.Limit, ordered bool, costs int, cost func(i int) int64) []any {
	args := make([]any, 0, 3+5*len(limits)+costs)
	args = append(args, s.nowArg(), len(limits))
	for _, l := range limits {
		a := s.args.get(l)
		args = append(args, a[:]...)
	}
	if ordered {
		args = append(args, 1)
	} else {
		args = append(args, 0)
	}
	for i := range costs {
		args = append(args, cost(i))
	}
	return args
}
