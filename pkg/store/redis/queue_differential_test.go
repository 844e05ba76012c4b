package redis_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// queueDiffSeeds are the queue differential test's fixed seeds; a failure names its seed and
// step, and the same seed replays the same sequence.
var queueDiffSeeds = []uint64{1, 2, 3, 4, 5, 6}

// queueDiffSteps is how many operations each seed drives.
const queueDiffSteps = 500

// TestQueueDifferential drives random sequences of queue operations through the memory store and
// the Redis store at the same instants of one fake clock, and requires the same answer from
// both every time: leases, tokens, deadlines, results, stats and dead lists field for field,
// errors by class. Ids the stores assign differ by design; the test pairs them up as they are
// handed out.
//
// ClockOverride passes the fake clock to the Redis store; RedisTime leaves it on Redis TIME,
// served by a miniredis whose time and TTLs follow the fake clock.
func TestQueueDifferential(t *testing.T) {
	eachDiffSetup(t, queueDiffSeeds, queueStart, func(t *testing.T, seed uint64, clk *clock.Fake, s *weirredis.Store, setTime func(time.Time)) {
		runQueueDifferential(t, seed, clk, s, setTime)
	})
}

// qdiff is one differential run.
type qdiff struct {
	t        *testing.T
	rng      *rand.Rand
	clk      *clock.Fake
	mem, red store.Queues
	advanced func(time.Time)
	seed     uint64
	step     int
	history  []string
	counts   map[string]int

	ids    []idPair             // every job id seen, memory's and Redis's
	done   []idPair             // jobs acked or buried, most recent last
	toMem  map[string]string    // Redis id -> memory id
	leases map[string][]leasePr // by queue: every lease handed out, stale ones too
}

type idPair struct{ q, mem, red string }

type leasePr struct{ mem, red store.Lease }

var qdiffQueues = []string{"alpha", "beta"}

func runQueueDifferential(t *testing.T, seed uint64, clk *clock.Fake, red store.Queues, advanced func(time.Time)) {
	mem := memory.New(memory.Options{Clock: clk})
	t.Cleanup(func() { _ = mem.Close() })
	d := &qdiff{t: t, rng: rand.New(rand.NewPCG(seed, 0x9e7e)), clk: clk, mem: mem, red: red, advanced: advanced,
		seed: seed, counts: map[string]int{}, toMem: map[string]string{}, leases: map[string][]leasePr{}}
	for d.step = range queueDiffSteps {
		switch x := d.rng.IntN(100); {
		case x < 20:
			d.enqueue()
		case x < 36:
			d.dequeue()
		case x < 41:
			d.extend()
		case x < 53:
			d.ack()
		case x < 60:
			d.retry()
		case x < 66:
			d.bury()
		case x < 71:
			d.reap()
		case x < 76:
			d.stats()
		case x < 79:
			d.dead()
		case x < 84:
			d.requeue()
		case x < 89:
			d.result()
		default:
			d.advance()
		}
	}
	t.Logf("seed %d: operations %v", seed, d.counts)
}

func (d *qdiff) note(format string, args ...any) {
	d.history = append(d.history, fmt.Sprintf("#%d +%v ", d.step, d.clk.Now().Sub(queueStart))+fmt.Sprintf(format, args...))
	if len(d.history) > 40 {
		d.history = d.history[1:]
	}
}

func (d *qdiff) fail(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("seed %d, step %d: %s\nthe last operations:\n  %s", d.seed, d.step,
		fmt.Sprintf(format, args...), strings.Join(d.history, "\n  "))
}

// qErrClass names the sentinel an error wraps, so that the stores' messages may differ.
func qErrClass(err error) string {
	for _, s := range []error{store.ErrInvalid, store.ErrQueueFull, store.ErrLeaseLost, store.ErrNotFound,
		store.ErrUnavailable, store.ErrClosed} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "nil"
}

// sameErr requires both errors to be of one class, and reports whether there was none.
func (d *qdiff) sameErr(op string, merr, rerr error) bool {
	d.t.Helper()
	mc, rc := qErrClass(merr), qErrClass(rerr)
	if mc != rc {
		d.fail("%s: memory error %v, redis error %v", op, merr, rerr)
	}
	if strings.HasPrefix(rc, "other") {
		d.fail("%s: unexpected error %v", op, rerr)
	}
	name, _, _ := strings.Cut(op, "(")
	d.counts[name+": "+strings.TrimPrefix(rc, "weir/store: ")]++
	return rerr == nil
}

func (d *qdiff) queue() string { return qdiffQueues[d.rng.IntN(len(qdiffQueues))] }

// policy is small, so that the bounds are reached.
func (d *qdiff) policy() store.QueuePolicy {
	return store.QueuePolicy{MaxLen: 8 + d.rng.IntN(3), MaxPayload: 16, ResultTTL: time.Duration(3+d.rng.IntN(6)) * time.Second,
		IdempotencyTTL: 3 * time.Second, MaxDead: 2 + d.rng.IntN(2)}
}

// memID translates an id the Redis store handed out into the memory store's.
func (d *qdiff) memID(red string) string {
	if m, ok := d.toMem[red]; ok {
		return m
	}
	return red
}

func (d *qdiff) sameJob(op string, m, r store.Job) {
	d.t.Helper()
	if d.memID(r.ID) != m.ID || r.Priority != m.Priority || !bytes.Equal(r.Payload, m.Payload) ||
		r.Attempt != m.Attempt || !r.EnqueuedAt.Equal(m.EnqueuedAt) || r.LastError != m.LastError {
		d.fail("%s: memory job %+v, redis job %+v", op, m, r)
	}
}

func (d *qdiff) enqueue() {
	q, p := d.queue(), d.policy()
	nj := store.NewJob{Priority: []int{0, 1, 1, 4, store.MaxPriority}[d.rng.IntN(5)]}
	if d.rng.IntN(3) > 0 {
		nj.ID = fmt.Sprintf("j%d", d.rng.IntN(24))
	}
	nj.Payload = make([]byte, d.rng.IntN(19))
	for i := range nj.Payload {
		nj.Payload[i] = byte(d.rng.IntN(256))
	}
	if d.rng.IntN(4) == 0 {
		nj.Delay = time.Duration(d.rng.Int64N(int64(3 * time.Second)))
	}
	if d.rng.IntN(3) == 0 {
		nj.IdempotencyKey = fmt.Sprintf("k%d", d.rng.IntN(4))
	}
	op := fmt.Sprintf("Enqueue(%q, %+v)", q, nj)
	mid, mex, merr := d.mem.Enqueue(d.t.Context(), q, p, nj)
	rid, rex, rerr := d.red.Enqueue(d.t.Context(), q, p, nj)
	d.note("%s = %q, %v, %v", op, rid, rex, rerr)
	if !d.sameErr(op, merr, rerr) {
		return
	}
	if mex != rex {
		d.fail("%s: memory existed %v, redis existed %v", op, mex, rex)
	}
	if nj.ID == "" && !rex {
		d.toMem[rid] = mid
		d.ids = append(d.ids, idPair{q, mid, rid})
		return
	}
	if d.memID(rid) != mid {
		d.fail("%s: memory id %q, redis id %q", op, mid, rid)
	}
	if !rex {
		d.ids = append(d.ids, idPair{q, mid, rid})
	}
}

func (d *qdiff) dequeue() {
	q := d.queue()
	lease := []time.Duration{500 * time.Millisecond, time.Second, 2500 * time.Millisecond}[d.rng.IntN(3)]
	op := fmt.Sprintf("Dequeue(%q, %v)", q, lease)
	ml, mok, merr := d.mem.Dequeue(d.t.Context(), q, lease)
	rl, rok, rerr := d.red.Dequeue(d.t.Context(), q, lease)
	d.note("%s = %q token %d, %v, %v", op, rl.ID, rl.Token, rok, rerr)
	if !d.sameErr(op, merr, rerr) {
		return
	}
	if mok != rok {
		d.fail("%s: memory ok %v, redis ok %v", op, mok, rok)
	}
	if !rok {
		return
	}
	d.sameJob(op, ml.Job, rl.Job)
	if ml.Token != rl.Token || !ml.Deadline.Equal(rl.Deadline) {
		d.fail("%s: memory token %d deadline %v, redis token %d deadline %v", op, ml.Token, ml.Deadline, rl.Token, rl.Deadline)
	}
	d.leases[q] = append(d.leases[q], leasePr{ml, rl})
}

// lease picks a lease of q handed out before, most likely a recent one, sometimes with a
// token that was never issued; ok is false when q has none.
func (d *qdiff) lease(q string) (leasePr, bool) {
	ls := d.leases[q]
	if len(ls) == 0 {
		return leasePr{}, false
	}
	i := len(ls) - 1 - min(d.rng.IntN(4), len(ls)-1)
	if d.rng.IntN(5) == 0 {
		i = d.rng.IntN(len(ls))
	}
	l := ls[i]
	if d.rng.IntN(10) == 0 {
		l.mem.Token += 1000
		l.red.Token += 1000
	}
	return l, true
}

func (d *qdiff) extend() {
	q := d.queue()
	l, ok := d.lease(q)
	if !ok {
		return
	}
	lease := time.Duration(1+d.rng.IntN(3)) * time.Second
	op := fmt.Sprintf("Extend(%q, %q, %d, %v)", q, l.red.ID, l.red.Token, lease)
	mdl, merr := d.mem.Extend(d.t.Context(), q, l.mem.ID, l.mem.Token, lease)
	rdl, rerr := d.red.Extend(d.t.Context(), q, l.red.ID, l.red.Token, lease)
	d.note("%s = %v, %v", op, rdl, rerr)
	if d.sameErr(op, merr, rerr) && !mdl.Equal(rdl) {
		d.fail("%s: memory deadline %v, redis deadline %v", op, mdl, rdl)
	}
}

func (d *qdiff) ack() {
	q := d.queue()
	l, ok := d.lease(q)
	if !ok {
		return
	}
	p := d.policy()
	body := []byte(fmt.Sprintf("r%d", d.step))
	op := fmt.Sprintf("Ack(%q, %q, %d)", q, l.red.ID, l.red.Token)
	merr := d.mem.Ack(d.t.Context(), q, p, l.mem.ID, l.mem.Token, body)
	rerr := d.red.Ack(d.t.Context(), q, p, l.red.ID, l.red.Token, body)
	d.note("%s = %v", op, rerr)
	if d.sameErr(op, merr, rerr) {
		d.done = append(d.done, idPair{q, l.mem.ID, l.red.ID})
	}
}

func (d *qdiff) retry() {
	q := d.queue()
	l, ok := d.lease(q)
	if !ok {
		return
	}
	at := d.clk.Now().Add(time.Duration(d.rng.Int64N(int64(4*time.Second))) - time.Second)
	msg := []string{"", "HTTP 503", "timeout"}[d.rng.IntN(3)]
	op := fmt.Sprintf("Retry(%q, %q, %d, +%v, %q)", q, l.red.ID, l.red.Token, at.Sub(queueStart), msg)
	merr := d.mem.Retry(d.t.Context(), q, l.mem.ID, l.mem.Token, at, msg)
	rerr := d.red.Retry(d.t.Context(), q, l.red.ID, l.red.Token, at, msg)
	d.note("%s = %v", op, rerr)
	d.sameErr(op, merr, rerr)
}

func (d *qdiff) bury() {
	q := d.queue()
	l, ok := d.lease(q)
	if !ok {
		return
	}
	p := d.policy()
	reason := fmt.Sprintf("gave up at %d", d.step)
	op := fmt.Sprintf("Bury(%q, %q, %d, MaxDead %d)", q, l.red.ID, l.red.Token, p.MaxDead)
	merr := d.mem.Bury(d.t.Context(), q, p, l.mem.ID, l.mem.Token, reason)
	rerr := d.red.Bury(d.t.Context(), q, p, l.red.ID, l.red.Token, reason)
	d.note("%s = %v", op, rerr)
	if d.sameErr(op, merr, rerr) {
		d.done = append(d.done, idPair{q, l.mem.ID, l.red.ID})
	}
}

func (d *qdiff) reap() {
	q := d.queue()
	op := fmt.Sprintf("Reap(%q)", q)
	mn, merr := d.mem.Reap(d.t.Context(), q)
	rn, rerr := d.red.Reap(d.t.Context(), q)
	d.note("%s = %d, %v", op, rn, rerr)
	if d.sameErr(op, merr, rerr) && mn != rn {
		d.fail("%s: memory %d, redis %d", op, mn, rn)
	}
}

func (d *qdiff) stats() {
	q := d.queue()
	op := fmt.Sprintf("QueueStats(%q)", q)
	ms, merr := d.mem.QueueStats(d.t.Context(), q)
	rs, rerr := d.red.QueueStats(d.t.Context(), q)
	d.note("%s = %+v, %v", op, rs, rerr)
	if !d.sameErr(op, merr, rerr) {
		return
	}
	same := ms.InFlight == rs.InFlight && ms.Delayed == rs.Delayed && ms.Dead == rs.Dead && len(ms.Ready) == len(rs.Ready)
	for p, n := range ms.Ready {
		same = same && rs.Ready[p] == n
	}
	if !same {
		d.fail("%s: memory %+v, redis %+v", op, ms, rs)
	}
}

func (d *qdiff) dead() {
	q, n := d.queue(), d.rng.IntN(5)
	op := fmt.Sprintf("Dead(%q, %d)", q, n)
	mj, merr := d.mem.Dead(d.t.Context(), q, n)
	rj, rerr := d.red.Dead(d.t.Context(), q, n)
	d.note("%s = %d jobs, %v", op, len(rj), rerr)
	if !d.sameErr(op, merr, rerr) {
		return
	}
	if len(mj) != len(rj) {
		d.fail("%s: memory %d jobs, redis %d jobs", op, len(mj), len(rj))
	}
	for i := range mj {
		d.sameJob(op, mj[i], rj[i])
	}
}

// pick returns a job id of q seen before, most likely one finished lately, or an unknown one.
func (d *qdiff) pick(q string) idPair {
	from := d.ids
	if d.rng.IntN(3) > 0 {
		from = d.done
	}
	var of []idPair
	for _, p := range from {
		if p.q == q {
			of = append(of, p)
		}
	}
	if len(of) == 0 || d.rng.IntN(10) == 0 {
		return idPair{q, "nobody", "nobody"}
	}
	if d.rng.IntN(4) > 0 { // mostly recent jobs, whose results and dead records still exist
		return of[len(of)-1-min(d.rng.IntN(4), len(of)-1)]
	}
	return of[d.rng.IntN(len(of))]
}

func (d *qdiff) requeue() {
	q := d.queue()
	id := d.pick(q)
	p := d.policy()
	op := fmt.Sprintf("Requeue(%q, %q, MaxLen %d)", q, id.red, p.MaxLen)
	merr := d.mem.Requeue(d.t.Context(), q, p, id.mem)
	rerr := d.red.Requeue(d.t.Context(), q, p, id.red)
	d.note("%s = %v", op, rerr)
	d.sameErr(op, merr, rerr)
}

func (d *qdiff) result() {
	q := d.queue()
	id := d.pick(q)
	op := fmt.Sprintf("Result(%q, %q)", q, id.red)
	mr, merr := d.mem.Result(d.t.Context(), q, id.mem)
	rr, rerr := d.red.Result(d.t.Context(), q, id.red)
	d.note("%s = %+v, %v", op, rr, rerr)
	if !d.sameErr(op, merr, rerr) {
		return
	}
	if d.memID(rr.ID) != mr.ID || rr.Dead != mr.Dead || !bytes.Equal(rr.Body, mr.Body) || rr.Reason != mr.Reason ||
		rr.Attempts != mr.Attempts {
		d.fail("%s: memory %+v, redis %+v", op, mr, rr)
	}
}

func (d *qdiff) advance() {
	var by time.Duration
	switch x := d.rng.IntN(10); {
	case x < 3:
		by = time.Duration(d.rng.IntN(1000)) * time.Microsecond
	case x < 9:
		by = time.Duration(d.rng.Int64N(int64(1500 * time.Millisecond)))
	default:
		by = time.Duration(3+d.rng.IntN(3)) * time.Second
	}
	d.clk.Advance(by)
	if d.advanced != nil {
		d.advanced(d.clk.Now())
	}
	d.note("advance %v", by)
}
