package redis

import (
	"sync"
	"sync/atomic"
)

// The keys of one queue all carry the hash tag {q:<name>}, so that a queue lives in one Cluster
// slot and every script about it runs on one node. The scripts' headers say what each holds
// (queue_enqueue.lua: a job's entry in the meta hash; queue_dequeue.lua: a result).
//
// Layout history: a queue's keys once included "depth" (ready jobs by priority, now counted from
// the ready set), "tokens" and "lasterr" (now parts of each job's meta entry, which also holds a
// payload of up to 8 KiB), and results were hashes (now strings). The scripts still read what was
// written before: such jobs are handed out, payload and all (their last error is lost), old
// results can be read; a lease held across the change is lost, and its job runs again once
// reaped.
const (
	qReady    = "ready"    // sorted set: score -priority, member <"0" reaped | "1"><seq>:<id>
	qMeta     = "meta"     // hash: id -> the job: attempt, token, priority, seq, enqueue time, last error, payload
	qPayload  = "payload"  // hash: id -> payload, when larger than inlinePayload
	qDelayed  = "delayed"  // sorted set: id by due time (µs)
	qInflight = "inflight" // sorted set: id by lease deadline (µs)
	qDead     = "dead"     // sorted set: id by order of burial
	qCounters = "ctr"      // hash: seq, token, dead
	qWake     = "wake"     // list of markers that idle workers BLPOP (16 at most)
)

// queueKey names one of queue's keys.
func (s *Store) queueKey(queue, part string) string {
	return s.prefix + ":{q:" + queue + "}:" + part
}

// idemKey names the string that maps an idempotency key of queue to its job's id.
func (s *Store) idemKey(queue, key string) string { return s.queueKey(queue, "idem:"+key) }

// resultKey names the string that holds a finished job's result.
func (s *Store) resultKey(queue, id string) string { return s.queueKey(queue, "result:"+id) }

// queueKeySet is one queue's key lists, as the scripts take them. The lists are shared by every
// call and never written to: a call that needs a key of its own (a job's result, an idempotency
// key) gets a copy with it appended.
type queueKeySet struct {
	// jobs is queue_enqueue.lua's: ready, meta, payload, delayed, in flight, counters, wake.
	jobs []string
	// lease is queue_dequeue.lua's: meta, payload, in flight, meta again in the place of an
	// ack's result key, ready, delayed, counters, wake.
	lease []string
	// fail is queue_finish.lua's for retry and bury, less the result key (KEYS[4]), which the
	// call puts in: meta, payload, in flight, -, ready, delayed, dead, counters, wake.
	fail []string
	// extend is queue_extend.lua's: in flight, meta.
	extend []string
	// reap is queue_reap.lua's: ready, meta, in flight, wake.
	reap []string
	// stats is queue_stats.lua's: ready, in flight, delayed, dead.
	stats []string
	// dead is queue_dead.lua's less the result key (KEYS[6]), which the call puts in: dead,
	// meta, payload, ready, wake, -, delayed, in flight.
	dead []string
}

// keyCacheMax bounds the queues whose keys a store keeps: a program that uses more queues than
// that builds the keys of the others for each call.
const keyCacheMax = 1024

// keyCache holds a store's queueKeySets.
type keyCache struct {
	m sync.Map // queue name -> *queueKeySet
	n atomic.Int32
}

// queueKeysOf returns the key lists of queue.
func (s *Store) queueKeysOf(queue string) *queueKeySet {
	c := &queueStateOf(s).keys
	if v, ok := c.m.Load(queue); ok {
		return v.(*queueKeySet)
	}
	k := func(part string) string { return s.queueKey(queue, part) }
	ready, meta, payload, delayed := k(qReady), k(qMeta), k(qPayload), k(qDelayed)
	inflight, dead, ctr, wake := k(qInflight), k(qDead), k(qCounters), k(qWake)
	ks := &queueKeySet{
		jobs:   []string{ready, meta, payload, delayed, inflight, ctr, wake},
		lease:  []string{meta, payload, inflight, meta, ready, delayed, ctr, wake},
		fail:   []string{meta, payload, inflight, "", ready, delayed, dead, ctr, wake},
		extend: []string{inflight, meta},
		reap:   []string{ready, meta, inflight, wake},
		stats:  []string{ready, inflight, delayed, dead},
		dead:   []string{dead, meta, payload, ready, wake, "", delayed, inflight},
	}
	if c.n.Load() < keyCacheMax {
		if v, loaded := c.m.LoadOrStore(queue, ks); loaded {
			return v.(*queueKeySet)
		}
		c.n.Add(1)
	}
	return ks
}

// with returns keys followed by more, in a slice of its own.
func with(keys []string, more ...string) []string {
	out := make([]string, len(keys), len(keys)+len(more))
	copy(out, keys)
	return append(out, more...)
}
