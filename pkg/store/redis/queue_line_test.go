package redis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

// TestQueueCombinedOutcomes runs many workers on one queue, so that their dequeues and acks share
// pipelines and script calls, and mixes in what a combined call must keep apart: stale tokens
// (lease lost), repeated acks (a no-op), retries and burials. Every job must come out exactly as
// the calls of one caller at a time would have left it.
func TestQueueCombinedOutcomes(t *testing.T) {
	e := newQenv(t)
	const jobs, workers = 240, 12
	p := store.QueuePolicy{ResultTTL: time.Hour}
	big := bytes.Repeat([]byte("b"), 9<<10) // kept in the payload hash, not in the meta entry
	payload := func(i int) []byte {
		if i%5 == 0 {
			return append([]byte(fmt.Sprintf("%04d", i)), big...)
		}
		return []byte(fmt.Sprintf("%04d", i))
	}
	for i := range jobs {
		e.put(t, p, store.NewJob{ID: fmt.Sprintf("j%04d", i), Payload: payload(i)})
	}

	var (
		mu      sync.Mutex
		errs    []error
		acked   = map[string]int{} // id -> attempts when acked
		buried  = map[string]string{}
		retried = map[string]bool{}
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for range workers {
		wg.Go(func() {
			for {
				l, ok, err := e.s.Dequeue(e.ctx, e.q, time.Minute)
				if err != nil {
					fail(err)
					return
				}
				if !ok {
					return
				}
				var i int
				if _, err := fmt.Sscanf(l.ID, "j%04d", &i); err != nil {
					fail(err)
					return
				}
				if !bytes.Equal(l.Payload, payload(i)) {
					fail(fmt.Errorf("job %s: payload of %d bytes, want %d", l.ID, len(l.Payload), len(payload(i))))
				}
				// A token that is not this lease's loses, combined or not.
				if err := e.s.Ack(e.ctx, e.q, p, l.ID, l.Token+1000, nil); !errors.Is(err, store.ErrLeaseLost) {
					fail(fmt.Errorf("job %s: ack under a wrong token: %v", l.ID, err))
				}
				switch {
				case i%7 == 0 && l.Attempt == 1:
					reason := fmt.Sprintf("try again | %d\nline two", i)
					if err := e.s.Retry(e.ctx, e.q, l.ID, l.Token, time.Time{}, reason); err != nil {
						fail(err)
					}
					mu.Lock()
					retried[l.ID] = true
					mu.Unlock()
					continue
				case i%11 == 0:
					if err := e.s.Bury(e.ctx, e.q, p, l.ID, l.Token, "no|good"); err != nil {
						fail(err)
					}
					mu.Lock()
					buried[l.ID] = "no|good"
					mu.Unlock()
					continue
				}
				if i%7 == 0 && l.LastError != fmt.Sprintf("try again | %d\nline two", i) {
					fail(fmt.Errorf("job %s: last error %q", l.ID, l.LastError))
				}
				body := []byte("done " + l.ID)
				if err := e.s.Ack(e.ctx, e.q, p, l.ID, l.Token, body); err != nil {
					fail(err)
					continue
				}
				// The same ack again is no error, and changes nothing.
				if err := e.s.Ack(e.ctx, e.q, p, l.ID, l.Token, []byte("other")); err != nil {
					fail(fmt.Errorf("job %s: repeated ack: %v", l.ID, err))
				}
				mu.Lock()
				acked[l.ID] = l.Attempt
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs, "%v", errors.Join(errs...))
	require.Len(t, acked, jobs-len(buried))
	for i := range jobs {
		id := fmt.Sprintf("j%04d", i)
		r, err := e.s.Result(e.ctx, e.q, id)
		require.NoError(t, err, id)
		if reason, ok := buried[id]; ok {
			assert.True(t, r.Dead, id)
			assert.Equal(t, reason, r.Reason, id)
			continue
		}
		assert.False(t, r.Dead, id)
		assert.Equal(t, "done "+id, string(r.Body), id)
		assert.Equal(t, acked[id], r.Attempts, id)
		want := 1
		if retried[id] {
			want = 2
		}
		assert.Equal(t, want, r.Attempts, id)
	}
	st := e.stats(t)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}, Dead: len(buried)}, st)
	dead, err := e.s.Dead(e.ctx, e.q, jobs)
	require.NoError(t, err)
	require.Len(t, dead, len(buried))
	for _, j := range dead {
		var i int
		_, err := fmt.Sscanf(j.ID, "j%04d", &i)
		require.NoError(t, err)
		assert.Equal(t, payload(i), j.Payload, j.ID)
		assert.Equal(t, "no|good", j.LastError, j.ID)
	}
}

// TestQueueLargePayloads sends payloads on both sides of the size kept in the meta entry through
// every step that rewrites the entry: dequeue, retry, reap, burial, the dead list and requeue.
func TestQueueLargePayloads(t *testing.T) {
	for _, size := range []int{0, 1, 8 << 10, 8<<10 + 1, 100 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := newQenv(t)
			p := store.QueuePolicy{}
			want := bytes.Repeat([]byte{0, '|', '\n', 'x'}, size/4+1)[:size]
			id := e.put(t, p, store.NewJob{Payload: want, Priority: 3})
			l := e.take(t, time.Minute)
			require.Equal(t, id, l.ID)
			assert.Equal(t, bytesOrNil(want), l.Payload)
			require.NoError(t, e.s.Retry(e.ctx, e.q, l.ID, l.Token, time.Time{}, "a|b"))
			l = e.take(t, time.Second)
			assert.Equal(t, bytesOrNil(want), l.Payload)
			assert.Equal(t, "a|b", l.LastError)
			e.clk.Advance(time.Second)
			n, err := e.s.Reap(e.ctx, e.q)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			l = e.take(t, time.Minute)
			assert.Equal(t, bytesOrNil(want), l.Payload)
			assert.Equal(t, 3, l.Attempt)
			assert.Equal(t, 3, l.Priority)
			require.NoError(t, e.s.Bury(e.ctx, e.q, p, l.ID, l.Token, strings.Repeat("r", 300)))
			dead, err := e.s.Dead(e.ctx, e.q, 10)
			require.NoError(t, err)
			require.Len(t, dead, 1)
			assert.Equal(t, bytesOrNil(want), dead[0].Payload)
			require.NoError(t, e.s.Requeue(e.ctx, e.q, p, l.ID))
			l = e.take(t, time.Minute)
			assert.Equal(t, bytesOrNil(want), l.Payload)
			assert.Equal(t, 1, l.Attempt)
			assert.Equal(t, strings.Repeat("r", 300), l.LastError)
			require.NoError(t, e.s.Ack(e.ctx, e.q, p, l.ID, l.Token, want))
			r, err := e.s.Result(e.ctx, e.q, l.ID)
			require.NoError(t, err)
			assert.Equal(t, bytesOrNil(want), r.Body)
			assert.Equal(t, 1, r.Attempts)
			assert.Equal(t, store.QueueStats{Ready: map[int]int{}}, e.stats(t))
		})
	}
}

func bytesOrNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// TestQueueWaitingCallerLeaves cancels callers while a queue's calls are on their way, many at a
// time, and requires each to return with its own context's error, and the queue to stay usable.
func TestQueueWaitingCallerLeaves(t *testing.T) {
	e := newQenv(t)
	for range 50 {
		e.put(t, store.QueuePolicy{}, store.NewJob{})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := range 40 {
		wg.Go(func() {
			for i := range 10 {
				ctx, cancel := context.WithCancel(e.ctx)
				if (g+i)%3 == 0 {
					cancel()
				}
				_, err := e.s.QueueStats(ctx, e.q)
				cancel()
				if err != nil && !errors.Is(err, context.Canceled) {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := e.stats(t)
	assert.Equal(t, 50, st.Ready[0])
}

// TestQueueManyAcksAtOnce acks more held jobs at once than one script call takes (32), mixed with
// acks under stale tokens and repeats, so that one pipeline carries several calls of many acks
// each: every ack must get its own outcome and every acked job its own result.
func TestQueueManyAcksAtOnce(t *testing.T) {
	e := newQenv(t)
	const jobs = 90
	p := store.QueuePolicy{ResultTTL: time.Hour}
	leases := make([]store.Lease, jobs)
	for i := range jobs {
		e.put(t, p, store.NewJob{ID: fmt.Sprintf("m%03d", i)})
	}
	for i := range jobs {
		leases[i] = e.take(t, time.Minute)
	}
	start := make(chan struct{})
	errs := make([]error, 3*jobs)
	var wg sync.WaitGroup
	for i, l := range leases {
		wg.Go(func() {
			<-start
			errs[3*i] = e.s.Ack(e.ctx, e.q, p, l.ID, l.Token, []byte("body "+l.ID))
		})
		wg.Go(func() {
			<-start
			errs[3*i+1] = e.s.Ack(e.ctx, e.q, p, l.ID, l.Token+1, nil)
		})
		if i%3 == 0 {
			wg.Go(func() {
				<-start
				errs[3*i+2] = e.s.Ack(e.ctx, e.q, p, l.ID, l.Token, []byte("body "+l.ID))
			})
		}
	}
	close(start)
	wg.Wait()
	for i, l := range leases {
		assert.NoError(t, errs[3*i], l.ID)
		assert.ErrorIs(t, errs[3*i+1], store.ErrLeaseLost, l.ID)
		assert.NoError(t, errs[3*i+2], "%s: a repeated ack", l.ID)
		r, err := e.s.Result(e.ctx, e.q, l.ID)
		require.NoError(t, err, l.ID)
		assert.Equal(t, "body "+l.ID, string(r.Body), l.ID)
		assert.Equal(t, 1, r.Attempts, l.ID)
	}
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}}, e.stats(t))
}

// TestQueueCombinedEnqueues enqueues from many callers at once, so that their jobs share script
// calls, with more distinct ids than the queue's bound and ids repeated: the outcomes must be
// those of the same calls one at a time, in some order: exactly MaxLen jobs added, each id at
// most once, every other call refused as the queue being full or the id being taken.
func TestQueueCombinedEnqueues(t *testing.T) {
	e := newQenv(t)
	const ids, repeats, maxLen = 60, 3, 50
	p := store.QueuePolicy{MaxLen: maxLen}
	type outcome struct {
		id  string
		err error
	}
	out := make([]outcome, ids*repeats)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			<-start
			id := fmt.Sprintf("e%02d", i%ids)
			nj := store.NewJob{ID: id, Priority: i % 3, Payload: []byte(id)}
			if i%4 == 0 {
				nj.Delay = time.Hour
			}
			got, existed, err := e.s.Enqueue(e.ctx, e.q, p, nj)
			if err == nil && (got != id || existed) {
				err = fmt.Errorf("enqueue %s: got %q, existed %v", id, got, existed)
			}
			out[i] = outcome{id, err}
		})
	}
	close(start)
	wg.Wait()
	added := map[string]int{}
	for _, o := range out {
		switch {
		case o.err == nil:
			added[o.id]++
		case errors.Is(o.err, store.ErrQueueFull), errors.Is(o.err, store.ErrInvalid):
		default:
			t.Errorf("%s: %v", o.id, o.err)
		}
	}
	assert.Len(t, added, maxLen)
	for id, n := range added {
		assert.Equal(t, 1, n, "%s added more than once", id)
	}
	st := e.stats(t)
	ready := 0
	for _, n := range st.Ready {
		ready += n
	}
	assert.Equal(t, maxLen, ready+st.Delayed)
	for range ready {
		l := e.take(t, time.Minute)
		assert.Equal(t, l.ID, string(l.Payload))
		assert.Contains(t, added, l.ID)
	}
	e.none(t)
}

// TestQueueCombinedAssignedIDs enqueues jobs without ids from many callers at once, so that jobs
// whose ids the store assigns share script calls (and the all-added reply): every job is added
// once, under the id its caller got, with its payload, priority and delay.
func TestQueueCombinedAssignedIDs(t *testing.T) {
	e := newQenv(t)
	const jobs = 200
	p := store.QueuePolicy{}
	ids := make([]string, jobs)
	errs := make([]error, jobs)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			<-start
			nj := store.NewJob{Priority: i % 3, Payload: []byte(fmt.Sprint(i))}
			if i%5 == 0 {
				nj.Delay = time.Hour
			}
			ids[i], _, errs[i] = e.s.Enqueue(e.ctx, e.q, p, nj)
		})
	}
	close(start)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	byID := map[string]int{}
	for i, id := range ids {
		byID[id] = i
	}
	require.Len(t, byID, jobs, "every job has an id of its own")
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 53, 1: 54, 2: 53}, Delayed: 40}, e.stats(t))
	last := 2
	for range jobs - 40 {
		l := e.take(t, time.Minute)
		i, ok := byID[l.ID]
		require.True(t, ok, l.ID)
		assert.Equal(t, fmt.Sprint(i), string(l.Payload))
		assert.Equal(t, i%3, l.Priority)
		assert.LessOrEqual(t, l.Priority, last, "priority order")
		last = l.Priority
	}
	e.none(t)
}
