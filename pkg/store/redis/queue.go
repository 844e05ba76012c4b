package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

var _ store.Queues = (*Store)(nil)

const (
	// reapBatch bounds the expired leases one script call returns; Reap calls again while a
	// call returns a full batch.
	reapBatch = 100
	// waitSlice is how long one BLPOP of WaitReady blocks: the shortest timeout go-redis sends
	// (whole seconds), and how long a wait abandoned by its caller may linger.
	waitSlice = time.Second
	// inlinePayload is the largest payload kept in the job's meta entry, which the scripts copy
	// whenever they rewrite it (on every dequeue); a larger one goes to the payload hash, at the
	// cost of a command more to write, read and delete it.
	inlinePayload = 8 << 10
)

// Enqueue implements store.Queues.
func (s *Store) Enqueue(ctx context.Context, name string, p store.QueuePolicy, nj store.NewJob) (string, bool, error) {
	p = p.WithDefaults()
	if err := contract.ValidateJob(p, nj); err != nil {
		return "", false, err
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return "", false, err
	}
	c := s.enqueueStep(name, p, nj)
	v, err := s.queueStep(ctx, name, c)
	return s.enqueueReply(ctx, name, c, v, err)
}

// enqueueStep is the step that asks queue_enqueue.lua to add a job to queue name, alone or with
// other jobs: its reply is the job's outcome, an error reply about the job its error. A job with
// an idempotency key, or a payload too large for its meta entry, goes in a call of its own.
func (s *Store) enqueueStep(name string, p store.QueuePolicy, nj store.NewJob) *queueCall {
	c := &queueCall{kind: callEnqueue, alone: nj.IdempotencyKey != "" || len(nj.Payload) > inlinePayload}
	// queue_enqueue.lua's keys for one job and the job's arguments: its six, then with an
	// idempotency key the key's two (see the script's header).
	id, where := nj.ID, "i"
	if len(nj.Payload) > inlinePayload {
		where = "x"
	}
	if id == "" {
		id, c.assigned = s.newID(), true
	}
	c.keys = s.queueKeysOf(name).jobs
	c.argv = [8]any{id, nj.Priority, ceilMicros(nj.Delay), p.MaxLen, nj.Payload, where}
	c.args = c.argv[:6]
	if nj.IdempotencyKey != "" {
		c.argv[6], c.argv[7] = p.IdempotencyTTL.Microseconds(), s.keepMillis(p.IdempotencyTTL)
		c.args = c.argv[:8]
		c.keys = with(c.keys, s.idemKey(name, nj.IdempotencyKey))
	}
	return c
}

// enqueueReply reads queue_enqueue.lua's answer about the job of step c: its outcome, or the
// error of the call or of the job.
func (s *Store) enqueueReply(ctx context.Context, name string, c *queueCall, v any, err error) (string, bool, error) {
	id := c.args[0].(string)
	if err != nil {
		switch code, rest := replyCode(err); code {
		case "QUEUEFULL":
			return "", false, fmt.Errorf("%w: queue %q holds %s jobs", store.ErrQueueFull, name, rest)
		case "DUPID":
			return "", false, fmt.Errorf("%w: queue %q: job id %q already in use", store.ErrInvalid, name, id)
		}
		return "", false, s.wrap(ctx, err)
	}
	switch v := v.(type) {
	case string: // added, alone
		return v, false, nil
	case int64: // added, with other jobs
		if v == 0 {
			return id, false, nil
		}
	case []any: // the idempotency key's job
		if len(v) == 1 {
			if id, ok := v[0].(string); ok {
				return id, true, nil
			}
		}
	}
	return "", false, unexpected(v)
}

// newID assigns a job an id: how many ids the store has assigned, in base 36, "-", and a tag
// drawn at random once per store. The count keeps a store's ids apart, the tag (62 random bits)
// those of different stores and processes.
func (s *Store) newID() string {
	qs := queueStateOf(s)
	var b [32]byte
	id := append(strconv.AppendUint(b[:0], qs.ids.Add(1), 36), '-')
	return string(append(id, qs.idTag...))
}

// ceilMicros rounds d up to whole µs: a lease or a delay never ends early.
func ceilMicros(d time.Duration) int64 { return int64((d + time.Microsecond - 1) / time.Microsecond) }

// Dequeue implements store.Queues.
func (s *Store) Dequeue(ctx context.Context, name string, lease time.Duration) (store.Lease, bool, error) {
	if err := contract.ValidateLease(lease); err != nil {
		return store.Lease{}, false, err
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return store.Lease{}, false, err
	}
	return s.dequeueFrom(ctx, name, lease, nil)
}

// dequeueFrom finishes a Dequeue: first is the reply of a lease already asked for (nil: none
// yet), and more are asked for while one answers that a full batch of due jobs was promoted.
func (s *Store) dequeueFrom(ctx context.Context, name string, lease time.Duration, first any) (store.Lease, bool, error) {
	v, promoted := first, false
	for {
		if v == nil {
			var err error
			if v, err = s.runLease(ctx, name, ceilMicros(lease), promoted); err != nil {
				return store.Lease{}, false, s.wrap(ctx, err)
			}
		}
		if more, ok := v.(int64); !ok || more != 1 {
			return parseLease(v)
		}
		v, promoted = nil, true // a full batch of due jobs: promote the rest before choosing
	}
}

// parseLease reads queue_dequeue.lua's answer for a lease: {} or {id, meta, payload,
// deadline_us}.
func parseLease(v any) (store.Lease, bool, error) {
	arr, ok := v.([]any)
	if !ok || (len(arr) != 0 && len(arr) != 4) {
		return store.Lease{}, false, unexpected(v)
	}
	if len(arr) == 0 {
		return store.Lease{}, false, nil
	}
	var f [4]string
	for i, x := range arr {
		if f[i], ok = x.(string); !ok {
			return store.Lease{}, false, unexpected(v)
		}
	}
	m, ok := parseMeta(f[1], f[2])
	deadline, err := strconv.ParseInt(f[3], 10, 64)
	if !ok || m.token < 0 || err != nil {
		return store.Lease{}, false, unexpected(v)
	}
	return store.Lease{Job: m.job(f[0]), Token: m.token, Deadline: time.UnixMicro(deadline)}, true, nil
}

// meta is a job's entry in the meta hash (see queue_enqueue.lua).
type meta struct {
	attempt  int
	token    int64 // -1 unless in flight
	priority int
	enqueued int64 // µs
	lastErr  string
	payload  string
}

func (m meta) job(id string) store.Job {
	return store.Job{ID: id, Priority: m.priority, Payload: bytesOf(m.payload), Attempt: m.attempt,
		EnqueuedAt: time.UnixMicro(m.enqueued), LastError: m.lastErr}
}

// parseMeta reads a meta entry, "<attempt, 10 digits>|<token, 19 digits or 19 "-">|<"i" or "x">|
// <priority>|<seq>|<enqueued_us>|<length of the last error>|<last error>[<payload>]"; payload
// is the job's payload when the entry does not hold it ("x").
func parseMeta(s, payload string) (meta, bool) {
	if len(s) < 34 || s[10] != '|' || s[30] != '|' || s[32] != '|' {
		return meta{}, false
	}
	var m meta
	var err error
	if m.attempt, err = strconv.Atoi(s[:10]); err != nil {
		return meta{}, false
	}
	m.token = -1
	if s[11] != '-' {
		if m.token, err = strconv.ParseInt(s[11:30], 10, 64); err != nil {
			return meta{}, false
		}
	}
	prio, rest, ok1 := strings.Cut(s[33:], "|")
	_, rest, ok2 := strings.Cut(rest, "|")
	enq, rest, ok3 := strings.Cut(rest, "|")
	n, rest, ok4 := strings.Cut(rest, "|")
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return meta{}, false
	}
	if m.priority, err = strconv.Atoi(prio); err != nil {
		return meta{}, false
	}
	if m.enqueued, err = strconv.ParseInt(enq, 10, 64); err != nil {
		return meta{}, false
	}
	k, err := strconv.Atoi(n)
	if err != nil || k < 0 || k > len(rest) {
		return meta{}, false
	}
	m.lastErr = rest[:k]
	switch s[31] {
	case 'i':
		m.payload = rest[k:]
	case 'x':
		m.payload = payload
	default:
		return meta{}, false
	}
	return m, true
}

// Extend implements store.Queues.
func (s *Store) Extend(ctx context.Context, name, id string, token int64, lease time.Duration) (time.Time, error) {
	if err := contract.ValidateLease(lease); err != nil {
		return time.Time{}, err
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return time.Time{}, err
	}
	v, err := s.runQueue(ctx, name, lua.QueueExtend, s.queueKeysOf(name).extend, s.nowArg(), id, tokenArg(token), ceilMicros(lease))
	if err != nil {
		return time.Time{}, s.leaseErr(ctx, err, id, token)
	}
	f, err := fields([]any{v}, 1)
	if err != nil {
		return time.Time{}, err
	}
	n, err := parseInts(f[0])
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(n[0]), nil
}

// Ack implements store.Queues.
func (s *Store) Ack(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, result []byte) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return err
	}
	v, err := s.queueStep(ctx, name, s.ackStep(name, p, id, token, result))
	return s.ackReply(ctx, id, token, v, err)
}

// ackStep is the step that asks queue_dequeue.lua to ack a job of queue name: its reply is the
// ack's code.
func (s *Store) ackStep(name string, p store.QueuePolicy, id string, token int64, result []byte) *queueCall {
	return &queueCall{kind: callAck, keys: s.queueKeysOf(name).lease,
		ack:       [5]any{id, tokenArg(token), result, p.ResultTTL.Microseconds(), s.keepMillis(p.ResultTTL)},
		resultKey: s.resultKey(name, id)}
}

// ackReply reads an ack's code, or the error of its call.
func (s *Store) ackReply(ctx context.Context, id string, token int64, v any, err error) error {
	if err != nil {
		return s.wrap(ctx, err)
	}
	switch v {
	case int64(0), int64(1): // acked, or a repeat of the ack that did
		return nil
	case int64(2):
		return fmt.Errorf("%w: job %q, token %d", store.ErrLeaseLost, id, token)
	}
	return unexpected(v)
}

// AckDequeue implements store.AckDequeuer: the ack and the lease go in one script call, one round
// trip for both (a second only when the call promoted a full batch of due jobs).
func (s *Store) AckDequeue(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, result []byte, lease time.Duration) (store.Lease, bool, error) {
	fail := func(err error) (store.Lease, bool, error) { return store.Lease{}, false, &store.AckError{Err: err} }
	p, err := contract.AckDequeuePolicy(p, lease)
	if err != nil {
		return fail(err)
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return fail(err)
	}
	ack := s.ackStep(name, p, id, token, result)
	next := &queueCall{kind: callLease, keys: ack.keys, lease: ceilMicros(lease)}
	if err := s.queueSteps(ctx, name, ack, next); err != nil {
		return fail(s.wrap(ctx, err))
	}
	l, ok, err := store.Lease{}, false, s.wrap(ctx, next.err)
	if next.err == nil {
		l, ok, err = s.dequeueFrom(ctx, name, lease, next.v)
	}
	if ackErr := s.ackReply(ctx, id, token, ack.v, ack.err); ackErr != nil {
		// The ack's failure is the one reported: a dequeue that failed as well left l and ok empty.
		return l, ok, &store.AckError{Err: ackErr}
	}
	return l, ok, err
}

// Retry implements store.Queues.
func (s *Store) Retry(ctx context.Context, name, id string, token int64, at time.Time, lastErr string) error {
	return s.fail(ctx, name, id, token, "retry", lastErr, contract.UnixMicroUp(at), store.MaxDelay.Microseconds())
}

// Bury implements store.Queues.
func (s *Store) Bury(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, reason string) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	return s.fail(ctx, name, id, token, "bury", reason, p.ResultTTL.Microseconds(), s.keepMillis(p.ResultTTL), p.MaxDead)
}

// fail runs queue_finish.lua to retry or bury a job; msg is the last error or the reason, and
// more the script's arguments from ARGV[6] on.
func (s *Store) fail(ctx context.Context, name, id string, token int64, op, msg string, more ...any) error {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return err
	}
	keys := with(s.queueKeysOf(name).fail)
	keys[3] = s.resultKey(name, id)
	args := append([]any{s.nowArg(), op, id, tokenArg(token), msg}, more...)
	_, err := s.runQueue(ctx, name, lua.QueueFinish, keys, args...)
	return s.leaseErr(ctx, err, id, token)
}

// tokenArg is a token as the meta hash holds it: 19 digits. A negative token, which no lease
// has, stays as it is and matches none.
func tokenArg(token int64) string {
	const zeros = "0000000000000000000"
	d := strconv.FormatInt(token, 10)
	if token < 0 || len(d) >= len(zeros) {
		return d
	}
	return zeros[len(d):] + d
}

// keepMillis is how long Redis keeps a key that the scripts expire after ttl: ttl rounded up to
// whole ms. Under a clock override (tests) the key lives at least ten minutes of real time: the
// expiry stored beside it, read against the override's time, decides; Redis only clears it away.
func (s *Store) keepMillis(ttl time.Duration) int64 {
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	if s.now != nil {
		ms = max(ms, 600_000)
	}
	return ms
}

// leaseErr translates a script's LEASELOST reply into store.ErrLeaseLost.
func (s *Store) leaseErr(ctx context.Context, err error, id string, token int64) error {
	if code, _ := replyCode(err); code == "LEASELOST" {
		return fmt.Errorf("%w: job %q, token %d", store.ErrLeaseLost, id, token)
	}
	return s.wrap(ctx, err)
}

// Reap implements store.Queues.
func (s *Store) Reap(ctx context.Context, name string) (int, error) {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return 0, err
	}
	keys := s.queueKeysOf(name).reap
	total := 0
	for {
		v, err := s.runQueue(ctx, name, lua.QueueReap, keys, s.nowArg(), reapBatch)
		if err != nil {
			return total, s.wrap(ctx, err)
		}
		n, ok := v.(int64)
		if !ok {
			return total, unexpected(v)
		}
		total += int(n)
		if n < reapBatch {
			return total, nil
		}
	}
}

// Result implements store.Queues.
func (s *Store) Result(ctx context.Context, name, id string) (store.Result, error) {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return store.Result{}, err
	}
	v, err := s.runQueue(ctx, name, lua.QueueResult, []string{s.resultKey(name, id)}, s.nowArg())
	if err != nil {
		return store.Result{}, s.wrap(ctx, err)
	}
	f, err := fields(v, 0)
	if err != nil {
		return store.Result{}, err
	}
	if len(f) == 0 {
		return store.Result{}, fmt.Errorf("%w: no result for job %q", store.ErrNotFound, id)
	}
	r, ok := parseResult(id, f[0])
	if len(f) != 1 || !ok {
		return store.Result{}, unexpected(v)
	}
	return r, nil
}

// parseResult reads a result string, "<dead: 0 or 1>|<expiry in µs>|<attempts>|<token>|<length of
// the reason>|<reason><body>".
func parseResult(id, s string) (store.Result, bool) {
	dead, rest, ok1 := strings.Cut(s, "|")
	_, rest, ok2 := strings.Cut(rest, "|")
	a, rest, ok3 := strings.Cut(rest, "|")
	_, rest, ok4 := strings.Cut(rest, "|")
	n, rest, ok5 := strings.Cut(rest, "|")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return store.Result{}, false
	}
	attempts, err1 := strconv.Atoi(a)
	k, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || k < 0 || k > len(rest) {
		return store.Result{}, false
	}
	return store.Result{ID: id, Dead: dead == "1", Body: bytesOf(rest[k:]), Reason: rest[:k], Attempts: attempts}, true
}

// QueueStats implements store.Queues.
func (s *Store) QueueStats(ctx context.Context, name string) (store.QueueStats, error) {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return store.QueueStats{}, err
	}
	v, err := s.runQueue(ctx, name, lua.QueueStats, s.queueKeysOf(name).stats)
	if err != nil {
		return store.QueueStats{}, s.wrap(ctx, err)
	}
	f, err := fields(v, 3)
	if err != nil {
		return store.QueueStats{}, err
	}
	if len(f)%2 != 1 {
		return store.QueueStats{}, unexpected(v)
	}
	n, err := parseInts(f...)
	if err != nil {
		return store.QueueStats{}, err
	}
	st := store.QueueStats{Ready: map[int]int{}, InFlight: int(n[0]), Delayed: int(n[1]), Dead: int(n[2])}
	for i := 3; i < len(n); i += 2 {
		if n[i+1] > 0 {
			st.Ready[int(n[i])] = int(n[i+1])
		}
	}
	return st, nil
}

// Dead implements store.Queues.
func (s *Store) Dead(ctx context.Context, name string, n int) ([]store.Job, error) {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return nil, err
	}
	out := []store.Job{}
	if n <= 0 {
		return out, nil
	}
	v, err := s.runQueue(ctx, name, lua.QueueDead, s.deadKeys(name, ""), "list", n)
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	f, err := fields(v, 0)
	if err != nil {
		return nil, err
	}
	if len(f)%3 != 0 {
		return nil, unexpected(v)
	}
	for i := 0; i < len(f); i += 3 {
		m, ok := parseMeta(f[i+1], f[i+2])
		if !ok {
			return nil, unexpected(v)
		}
		out = append(out, m.job(f[i]))
	}
	return out, nil
}

// Requeue implements store.Queues. The job counts against MaxLen again: into a full queue it
// stays dead, with ErrQueueFull.
func (s *Store) Requeue(ctx context.Context, name string, p store.QueuePolicy, id string) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return err
	}
	_, err := s.runQueue(ctx, name, lua.QueueDead, s.deadKeys(name, id), "requeue", id, p.MaxLen)
	switch code, rest := replyCode(err); code {
	case "NOTFOUND":
		return fmt.Errorf("%w: no dead job %q", store.ErrNotFound, id)
	case "QUEUEFULL":
		return fmt.Errorf("%w: queue %q holds %s jobs: dead job %q stays dead", store.ErrQueueFull, name, rest, id)
	}
	return s.wrap(ctx, err)
}

// deadKeys is queue_dead.lua's keys, with the result key of job id.
func (s *Store) deadKeys(name, id string) []string {
	keys := with(s.queueKeysOf(name).dead)
	keys[5] = s.resultKey(name, id)
	return keys
}

// WaitReady implements store.Queues without polling: it returns at once when a job is ready, else
// it blocks on the queue's wake list, where every enqueue, retry, reap and requeue leaves a marker
// for one idle worker. It returns as soon as ctx ends or the timeout passes. A wait holds a pooled
// connection of its own, which an abandoned wait keeps up to a second. docs/store.md tells how.
func (s *Store) WaitReady(ctx context.Context, name string, timeout time.Duration) error {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return err
	}
	octx, cancel := s.opContext(ctx)
	n, err := s.rdb.ZCard(octx, s.queueKey(name, qReady)).Result()
	cancel()
	if err != nil {
		return s.wrap(ctx, err)
	}
	if n > 0 || timeout <= 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	woke, gone := make(chan error), make(chan struct{})
	go s.awaitWake(s.queueKey(name, qWake), woke, gone)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-woke:
		return s.wrap(ctx, err)
	case <-t.C:
		close(gone)
		return nil
	case <-ctx.Done():
		close(gone)
		return ctx.Err()
	}
}

// awaitWake pops a marker from the wake list at key for a caller of WaitReady and hands it over
// on woke, or gives up once the caller has gone.
func (s *Store) awaitWake(key string, woke chan<- error, gone <-chan struct{}) {
	defer s.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), waitSlice+s.timeout)
		err := s.rdb.BLPop(ctx, waitSlice, key).Err()
		cancel()
		if errors.Is(err, goredis.Nil) { // the slice passed without a marker
			if !s.closed.Load() {
				select {
				case <-gone:
					return
				default:
					continue
				}
			}
			err = nil // closed: let the caller go
		}
		select {
		case woke <- err:
		case <-gone:
			if err == nil { // popped after the caller left: the marker is someone else's
				ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
				_ = s.rdb.LPush(ctx, key, "1").Err()
				cancel()
			}
		}
		return
	}
}

// replyCode returns the error code of a Redis error reply (its first word) and the rest of the
// message; "" for any other error.
func replyCode(err error) (code, rest string) {
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return "", ""
	}
	code, rest, _ = strings.Cut(rerr.Error(), " ")
	return code, rest
}

// fields reads a script's array reply of strings (integers read as decimal strings).
func fields(v any, want int) ([]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < want {
		return nil, unexpected(v)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		switch x := x.(type) {
		case string:
			out[i] = x
		case int64:
			out[i] = strconv.FormatInt(x, 10)
		default:
			return nil, unexpected(v)
		}
	}
	return out, nil
}

func parseInts(f ...string) ([]int64, error) {
	out := make([]int64, len(f))
	for i, x := range f {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("weir/store/redis: unexpected number %q in a script reply", x)
		}
		out[i] = n
	}
	return out, nil
}

// bytesOf returns s as bytes; empty is nil, as the memory store keeps it.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func unexpected(v any) error {
	return fmt.Errorf("weir/store/redis: unexpected script reply %v", v)
}
