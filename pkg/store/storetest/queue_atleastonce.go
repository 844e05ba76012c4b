package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueAtLeastOnceTests = []queueTest{
	{"ExpiredLeaseRedelivered", testRedelivered},
	{"KilledWorkers", testKilledWorkers},
	{"RandomOperations", testQueueRandom},
}

func testRedelivered(t *testing.T, h *qharness) {
	q := h.queue("redelivered")
	id := h.put(t, q, 0, "job")
	for attempt := 1; attempt <= 5; attempt++ {
		l := h.dequeueFor(t, q, 10*time.Second)
		require.Equal(t, id, l.ID)
		require.Equal(t, attempt, l.Attempt)
		h.clk.Advance(10*time.Second + time.Millisecond) // the worker died holding it
		require.Equal(t, 1, h.reap(t, q))
	}
	l := h.dequeue(t, q)
	require.Equal(t, 6, l.Attempt)
	h.ack(t, q, l, []byte("finally"))
	require.Equal(t, 6, h.result(t, q, id).Attempts)
}

// testKilledWorkers runs rounds in which workers take jobs and some of them die before
// finishing: after the leases run out and a reap, every job is eventually acked, none twice.
func testKilledWorkers(t *testing.T, h *qharness) {
	q, p := h.queue("killed"), store.QueuePolicy{}
	const n = 120
	ids := map[string]bool{}
	for i := range n {
		ids[h.put(t, q, i%4, fmt.Sprint(i))] = true
	}
	acked := map[string]int{}
	rng := rand.New(rand.NewPCG(propertySeed, 11))
	for round := 0; len(acked) < n; round++ {
		require.Less(t, round, 50, "jobs never finish: %d of %d acked", len(acked), n)
		for {
			l, ok, err := h.s.Dequeue(h.ctx, q, 5*time.Second)
			require.NoError(t, err)
			if !ok {
				break
			}
			require.True(t, ids[l.ID], "unknown job %q", l.ID)
			require.Zero(t, acked[l.ID], "job %q delivered after it was acked", l.ID)
			if rng.IntN(3) == 0 {
				continue // this worker is killed: the job stays in flight until its lease runs out
			}
			require.NoError(t, h.s.Ack(h.ctx, q, p, l.ID, l.Token, nil))
			acked[l.ID]++
		}
		h.clk.Advance(5*time.Second + time.Millisecond)
		h.reap(t, q)
	}
	for id := range ids {
		require.Equal(t, 1, acked[id], "job %q", id)
		require.False(t, h.result(t, q, id).Dead)
	}
	h.requireStats(t, q, store.QueueStats{})
}

// testQueueRandom drives random operations through a queue and checks every answer against a
// model of where each job is. Strict priority is checked at every Dequeue; at the end every job
// is drained, and each one must have been finished exactly once: nothing is lost.
func testQueueRandom(t *testing.T, h *qharness) {
	for seed := uint64(propertySeed); seed < propertySeed+3; seed++ {
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			m := &queueModel{h: h, q: h.queue(fmt.Sprint("random-", seed)), rng: rand.New(rand.NewPCG(seed, seed)),
				jobs: map[string]*mjob{}, idem: map[string]string{}}
			for step := range 600 {
				m.step(t, step)
				m.checkStats(t)
			}
			m.drain(t)
		})
	}
}

type mstate int

const (
	mReady mstate = iota
	mDelayed
	mInFlight
	mDead
	mDone
)

type mjob struct {
	id, payload string
	prio        int
	state       mstate
	due         time.Time // while delayed
	token       int64     // while in flight
	deadline    time.Time // while in flight
	attempts    int
	stale       []int64 // tokens that no longer hold the job
	ackToken    int64   // the token that acked it
	reason      string  // why it was buried
}

type queueModel struct {
	h     *qharness
	q     string
	rng   *rand.Rand
	jobs  map[string]*mjob
	order []string          // ids in enqueue order: deterministic picks
	dead  []string          // dead ids, oldest first
	idem  map[string]string // idempotency key -> id
	n     int
}

const (
	modelMaxLen = 40
	// modelLease ends half-way between whole seconds, and the model moves the clock by whole
	// seconds: no lease ever runs out exactly at the instant a Reap looks.
	modelLease = 10*time.Second + 500*time.Millisecond
)

var modelPolicy = store.QueuePolicy{MaxLen: modelMaxLen}

func (m *queueModel) in(s mstate) []*mjob {
	var out []*mjob
	for _, id := range m.order {
		if j := m.jobs[id]; j.state == s {
			out = append(out, j)
		}
	}
	return out
}

func (m *queueModel) pick(s mstate) *mjob {
	js := m.in(s)
	if len(js) == 0 {
		return nil
	}
	return js[m.rng.IntN(len(js))]
}

func (m *queueModel) live() int {
	return len(m.in(mReady)) + len(m.in(mDelayed)) + len(m.in(mInFlight))
}

func (m *queueModel) step(t *testing.T, step int) {
	h, now := m.h, m.h.clk.Now()
	switch r := m.rng.IntN(100); {
	case r < 20:
		m.enqueue(t)
	case r < 45:
		m.dequeue(t)
	case r < 57:
		if j := m.pick(mInFlight); j != nil {
			require.NoError(t, h.s.Ack(h.ctx, m.q, modelPolicy, j.id, j.token, []byte("r:"+j.id)), "step %d: Ack", step)
			j.state, j.ackToken, j.stale = mDone, j.token, append(j.stale, j.token)
			requireBytes(t, []byte("r:"+j.id), h.result(t, m.q, j.id).Body, "result")
		}
	case r < 65:
		if j := m.pick(mInFlight); j != nil {
			at := now.Add(time.Duration(m.rng.IntN(14)-3) * time.Second)
			require.NoError(t, h.s.Retry(h.ctx, m.q, j.id, j.token, at, "e"), "step %d: Retry", step)
			j.stale = append(j.stale, j.token)
			if at.After(now) {
				j.state, j.due = mDelayed, at
			} else {
				j.state = mReady
			}
		}
	case r < 69:
		if j := m.pick(mInFlight); j != nil {
			j.reason = fmt.Sprint("buried at step ", step)
			require.NoError(t, h.s.Bury(h.ctx, m.q, modelPolicy, j.id, j.token, j.reason), "step %d: Bury", step)
			j.state, j.stale = mDead, append(j.stale, j.token)
			m.dead = append(m.dead, j.id)
		}
	case r < 72:
		m.requeue(t, step)
	case r < 78:
		want := 0
		for _, j := range m.in(mInFlight) {
			if j.deadline.Before(now) {
				j.state, j.stale = mReady, append(j.stale, j.token)
				want++
			}
		}
		require.Equal(t, want, h.reap(t, m.q), "step %d: Reap at +%v", step, h.elapsed())
	case r < 83:
		if j := m.pick(mInFlight); j != nil {
			until, err := h.s.Extend(h.ctx, m.q, j.id, j.token, modelLease)
			require.NoError(t, err, "step %d: Extend", step)
			j.deadline = now.Add(modelLease)
			requireSameTime(t, j.deadline, until, "Extend")
		}
	case r < 88:
		m.stale(t, step)
	case r < 97:
		h.clk.Advance(time.Duration(1+m.rng.IntN(8)) * time.Second)
	default:
		m.checkResultsAndDead(t)
	}
}

func (m *queueModel) enqueue(t *testing.T) {
	h := m.h
	m.n++
	nj := store.NewJob{Priority: m.rng.IntN(4), Payload: fmt.Appendf(nil, "job-%d-\x00%c", m.n, rune(m.rng.IntN(256)))}
	if m.rng.IntN(10) == 0 {
		nj.ID = fmt.Sprint("given-", m.n)
	}
	if m.rng.IntN(3) == 0 {
		nj.Delay = time.Duration(m.rng.IntN(20)) * time.Second
	}
	if m.rng.IntN(5) == 0 {
		nj.IdempotencyKey = fmt.Sprint("key-", m.rng.IntN(10))
	}
	id, existed, err := h.s.Enqueue(h.ctx, m.q, modelPolicy, nj)
	if prev, ok := m.idem[nj.IdempotencyKey]; ok {
		require.NoError(t, err)
		require.True(t, existed)
		require.Equal(t, prev, id)
		return
	}
	if m.live() >= modelMaxLen {
		require.ErrorIs(t, err, store.ErrQueueFull, "%d jobs held", m.live())
		return
	}
	require.NoError(t, err)
	require.False(t, existed)
	require.NotContains(t, m.jobs, id, "id %q reused", id)
	if nj.ID != "" {
		require.Equal(t, nj.ID, id)
	}
	j := &mjob{id: id, payload: string(nj.Payload), prio: nj.Priority}
	if nj.Delay > 0 {
		j.state, j.due = mDelayed, h.clk.Now().Add(nj.Delay)
	}
	m.jobs[id] = j
	m.order = append(m.order, id)
	if nj.IdempotencyKey != "" {
		m.idem[nj.IdempotencyKey] = id
	}
}

func (m *queueModel) dequeue(t *testing.T) {
	h, now := m.h, m.h.clk.Now()
	for _, j := range m.in(mDelayed) {
		if !j.due.After(now) {
			j.state = mReady
		}
	}
	best := -1
	for _, j := range m.in(mReady) {
		best = max(best, j.prio)
	}
	l, ok, err := h.s.Dequeue(h.ctx, m.q, modelLease)
	require.NoError(t, err)
	if best < 0 {
		require.False(t, ok, "Dequeue handed out %q with nothing ready", l.ID)
		return
	}
	require.True(t, ok, "Dequeue found nothing with jobs of priority %d ready", best)
	j := m.jobs[l.ID]
	require.NotNil(t, j, "Dequeue handed out unknown job %q", l.ID)
	require.Equal(t, mReady, j.state, "Dequeue handed out job %q, which is not ready", l.ID)
	require.Equal(t, best, l.Priority, "strict priority")
	require.Equal(t, j.prio, l.Priority)
	requireBytes(t, []byte(j.payload), l.Payload, "payload")
	require.Equal(t, j.attempts+1, l.Attempt)
	require.NotContains(t, j.stale, l.Token, "token reused")
	requireSameTime(t, now.Add(modelLease), l.Deadline, "Deadline")
	j.state, j.token, j.deadline, j.attempts = mInFlight, l.Token, l.Deadline, l.Attempt
}

func (m *queueModel) requeue(t *testing.T, step int) {
	h := m.h
	j := m.pick(mDead)
	if j != nil && m.live() >= modelMaxLen {
		// A full queue: the job stays dead.
		require.ErrorIs(t, h.s.Requeue(h.ctx, m.q, modelPolicy, j.id), store.ErrQueueFull, "step %d: Requeue", step)
		return
	}
	if j == nil {
		// Requeue of a job that is not dead.
		if o := m.pick(mReady); o != nil {
			require.ErrorIs(t, h.s.Requeue(h.ctx, m.q, modelPolicy, o.id), store.ErrNotFound)
		}
		return
	}
	require.NoError(t, h.s.Requeue(h.ctx, m.q, modelPolicy, j.id), "step %d: Requeue", step)
	j.state, j.attempts = mReady, 0
	m.dead = slices.DeleteFunc(m.dead, func(id string) bool { return id == j.id })
}

// stale presents a token that no longer holds its job.
func (m *queueModel) stale(t *testing.T, step int) {
	h := m.h
	var cands []*mjob
	for _, id := range m.order {
		if j := m.jobs[id]; len(j.stale) > 0 {
			cands = append(cands, j)
		}
	}
	if len(cands) == 0 {
		return
	}
	j := cands[m.rng.IntN(len(cands))]
	tok := j.stale[m.rng.IntN(len(j.stale))]
	what := fmt.Sprintf("step %d: stale token %d of job %q", step, tok, j.id)
	switch m.rng.IntN(4) {
	case 0:
		err := h.s.Ack(h.ctx, m.q, modelPolicy, j.id, tok, []byte("stale"))
		if j.state == mDone && tok == j.ackToken {
			require.NoError(t, err, "%s: a repeated Ack", what)
		} else {
			requireLeaseLost(t, err, what+": Ack")
		}
	case 1:
		_, err := h.s.Extend(h.ctx, m.q, j.id, tok, modelLease)
		requireLeaseLost(t, err, what+": Extend")
	case 2:
		requireLeaseLost(t, h.s.Retry(h.ctx, m.q, j.id, tok, h.clk.Now(), "stale"), what+": Retry")
	case 3:
		requireLeaseLost(t, h.s.Bury(h.ctx, m.q, modelPolicy, j.id, tok, "stale"), what+": Bury")
	}
}

// checkStats requires the store's stats to match the model. A delayed job that is due may or
// may not have been promoted yet, so only the sum of ready and delayed is exact.
func (m *queueModel) checkStats(t *testing.T) {
	st := m.h.stats(t, m.q)
	now := m.h.clk.Now()
	ready, due := map[int]int{}, map[int]int{}
	delayed := 0
	for _, j := range m.in(mReady) {
		ready[j.prio]++
	}
	for _, j := range m.in(mDelayed) {
		delayed++
		if !j.due.After(now) {
			due[j.prio]++
		}
	}
	require.Equal(t, len(m.in(mInFlight)), st.InFlight, "InFlight")
	require.Equal(t, len(m.dead), st.Dead, "Dead")
	total := 0
	for prio := range 4 {
		got := st.Ready[prio]
		total += got
		require.GreaterOrEqual(t, got, ready[prio], "Ready[%d]", prio)
		require.LessOrEqual(t, got, ready[prio]+due[prio], "Ready[%d]", prio)
	}
	for prio := range st.Ready {
		require.True(t, prio >= 0 && prio < 4, "Ready holds priority %d, which no job has", prio)
	}
	require.Equal(t, len(m.in(mReady))+delayed, total+st.Delayed, "Ready + Delayed")
}

func (m *queueModel) checkResultsAndDead(t *testing.T) {
	h := m.h
	for _, id := range m.order {
		j := m.jobs[id]
		switch j.state {
		case mDone:
			r := h.result(t, m.q, id)
			require.False(t, r.Dead)
			requireBytes(t, []byte("r:"+id), r.Body, "result")
			require.Equal(t, j.attempts, r.Attempts)
		case mDead:
			r := h.result(t, m.q, id)
			require.True(t, r.Dead)
			require.Equal(t, j.reason, r.Reason)
			require.Equal(t, j.attempts, r.Attempts)
		default:
			h.noResult(t, m.q, id)
		}
	}
	dead, err := h.s.Dead(h.ctx, m.q, len(m.dead)+10)
	require.NoError(t, err)
	ids := []string{}
	for _, j := range dead {
		ids = append(ids, j.ID)
	}
	require.Equal(t, append([]string{}, m.dead...), ids, "dead jobs, oldest first")
}

// drain finishes every job: requeues the dead, waits out every delay and lease, and acks
// whatever comes. Every job must then be finished exactly once.
func (m *queueModel) drain(t *testing.T) {
	h := m.h
	m.checkResultsAndDead(t)
	// Every dead job back at once: past the model's bound, which Requeue honours.
	lifted := modelPolicy
	lifted.MaxLen = modelMaxLen + len(m.dead)
	for _, id := range slices.Clone(m.dead) {
		require.NoError(t, h.s.Requeue(h.ctx, m.q, lifted, id))
		m.jobs[id].state = mReady
	}
	m.dead = nil
	h.clk.Advance(time.Hour)
	h.reap(t, m.q)
	for range len(m.jobs) + 1 {
		l, ok, err := h.s.Dequeue(h.ctx, m.q, modelLease)
		require.NoError(t, err)
		if !ok {
			break
		}
		j := m.jobs[l.ID]
		require.NotNil(t, j, "unknown job %q", l.ID)
		require.NotEqual(t, mDone, j.state, "job %q delivered after it was acked", l.ID)
		require.NoError(t, h.s.Ack(h.ctx, m.q, modelPolicy, l.ID, l.Token, []byte("r:"+l.ID)))
		j.state, j.attempts = mDone, l.Attempt
	}
	for _, id := range m.order {
		require.Equal(t, mDone, m.jobs[id].state, "job %q was lost", id)
	}
	h.requireStats(t, m.q, store.QueueStats{})
	m.checkResultsAndDead(t)
}
