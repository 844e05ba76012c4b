package redis

import "sync/atomic"

var DebugBatches, DebugBatched, DebugAlone atomic.Int64
