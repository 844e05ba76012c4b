package redis

// The keys of one queue all carry the hash tag {q:<name>}, so that a queue lives in one Cluster
// slot and every script about it runs on one node. The scripts' headers say what each holds.
const (
	qReady    = "ready"    // sorted set: score -priority, member <"0" reaped | "1"><seq>:<id>
	qMeta     = "meta"     // hash: id -> "<priority>|<seq>|<attempt>|<enqueued_us>"
	qPayload  = "payload"  // hash: id -> payload
	qLastErr  = "lasterr"  // hash: id -> last error or burial reason
	qDelayed  = "delayed"  // sorted set: id by due time (µs)
	qInflight = "inflight" // sorted set: id by lease deadline (µs)
	qTokens   = "tokens"   // hash: id -> fencing token, for jobs in flight
	qDepth    = "depth"    // hash: priority -> ready jobs
	qDead     = "dead"     // sorted set: id by order of burial
	qCounters = "ctr"      // hash: seq, token, dead
	qWake     = "wake"     // list of markers that idle workers BLPOP
)

// queueKey names one of queue's keys.
func (s *Store) queueKey(queue, part string) string {
	return s.prefix + ":{q:" + queue + "}:" + part
}

// idemKey names the string that maps an idempotency key of queue to its job's id.
func (s *Store) idemKey(queue, key string) string { return s.queueKey(queue, "idem:"+key) }

// resultKey names the hash that holds a finished job's result.
func (s *Store) resultKey(queue, id string) string { return s.queueKey(queue, "result:"+id) }

// queueKeys names the given parts of queue's keys, in order.
func (s *Store) queueKeys(queue string, parts ...string) []string {
	keys := make([]string, len(parts))
	for i, p := range parts {
		keys[i] = s.queueKey(queue, p)
	}
	return keys
}
