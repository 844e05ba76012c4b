package store

import (
	"time"
)

// Bounds of what callers pass, checked where a call enters a store: every name makes keys of its
// own, and every time a store computes from a duration stays exact (Lua numbers are doubles) and
// acceptable to Redis.
const (
	// MaxNameLen bounds, in bytes, a name that becomes part of a key: a queue name, a limiter
	// key, a breaker name, a job id chosen by the caller, an idempotency key.
	MaxNameLen = 256
	// MaxDelay bounds a job's Delay; a Retry or a Block reaching further counts as MaxDelay from
	// now. About 10 years.
	MaxDelay = 10 * 365 * 24 * time.Hour
	// MaxTTL bounds QueuePolicy's ResultTTL and IdempotencyTTL. About 10 years.
	MaxTTL = 10 * 365 * 24 * time.Hour
	// MaxLease bounds a lease (Dequeue, Extend): a longer job extends its lease as it goes.
	MaxLease = 24 * time.Hour
)
