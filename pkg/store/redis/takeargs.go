package redis

import (
	"strconv"
	"sync"

	"github.com/weir-go/weir/pkg/store"
)

// take.lua's arguments, as its header lays them out: now, then a block for each key: the number
// of limits (takeArgsBefore), each limit's limitArgs, then the ordered flag and the number of
// takes (takeArgsAfter), and one cost a take.
const (
	takeArgsBefore = 1
	takeArgsAfter  = 2
)

// The positions of one limit's arguments to take.lua, in its order (take.lua names them
// A_REQUESTS .. A_FRAC_FIELD, counted from 1).
const (
	argRequests  = iota // requests
	argPer              // per, in µs
	argBurst            // burst
	argTATField         // the name of the hash field that holds the bucket's TAT
	argFracField        // the name of the field that holds the TAT's fraction of a µs
	limitArgCount
)

// limitArgs are one limit's arguments to take.lua. They are formatted once per distinct limit
// and kept, boxed, so that a decision formats and allocates nothing for them.
type limitArgs [limitArgCount]any

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
	a := &limitArgs{
		argRequests:  l.Requests,
		argPer:       l.PerMicros(),
		argBurst:     l.EffectiveBurst(),
		argTATField:  id + ":t",
		argFracField: id + ":r",
	}
	c.mu.Lock()
	if c.n < maxCachedLimits {
		if _, loaded := c.m.LoadOrStore(l, a); !loaded {
			c.n++
		}
	}
	c.mu.Unlock()
	return a
}

// takeArgs returns take.lua's arguments for takes of one key under limits, the i-th costing
// cost(i): ordered refuses every take after the first refusal (a waiting line), otherwise each
// take is decided on its own.
func (s *Store) takeArgs(limits []store.Limit, ordered bool, takes int, cost func(i int) int64) []any {
	args := make([]any, 0, 1+s.blockLen(limits, takes))
	args = append(args, s.nowArg())
	return s.appendBlock(args, limits, ordered, takes, cost)
}

// blockLen is the length of a key's block of arguments.
func (s *Store) blockLen(limits []store.Limit, takes int) int {
	return takeArgsBefore + limitArgCount*len(limits) + takeArgsAfter + takes
}

// appendBlock appends a key's block of take.lua's arguments to args.
func (s *Store) appendBlock(args []any, limits []store.Limit, ordered bool, takes int, cost func(i int) int64) []any {
	args = append(args, len(limits))
	for _, l := range limits {
		a := s.args.get(l)
		args = append(args, a[:]...)
	}
	if ordered {
		args = append(args, 1)
	} else {
		args = append(args, 0)
	}
	args = append(args, takes)
	for i := range takes {
		args = append(args, cost(i))
	}
	return args
}
