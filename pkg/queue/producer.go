package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// Options are one job's scheduling.
type Options struct {
	Priority       int           // higher first; 0 to store.MaxPriority
	Delay          time.Duration // not before then
	IdempotencyKey string        // the same key returns the existing job
}

// Producer enqueues requests. It is safe for concurrent use.
type Producer struct {
	st     store.Queues
	policy store.QueuePolicy
	rules  map[string]Rules // by upstream; a request for an upstream not listed is rejected
	clock  clock.Clock
	poll   time.Duration
}

// ProducerConfig configures a Producer.
type ProducerConfig struct {
	// Policy bounds the queues (length, payload size, result and idempotency TTLs).
	Policy store.QueuePolicy
	// Upstreams are the upstreams jobs may name, with the rules each one's jobs must follow.
	Upstreams map[string]Rules
	// Clock is used by Ticket.Wait's polling; nil means the system clock.
	Clock clock.Clock
	// MaxPoll caps the interval at which Ticket.Wait asks for a result; it starts at 20 ms and
	// doubles up to this. Default 1 s.
	MaxPoll time.Duration
}

// NewProducer validates cfg and returns a producer on st.
func NewProducer(st store.Queues, cfg ProducerConfig) (*Producer, error) {
	p := cfg.Policy.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("weir/queue: ProducerConfig.Policy: %w", err)
	}
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("weir/queue: ProducerConfig.Upstreams must name at least one upstream")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.MaxPoll == 0 {
		cfg.MaxPoll = time.Second
	}
	if cfg.MaxPoll < 0 {
		return nil, fmt.Errorf("weir/queue: ProducerConfig.MaxPoll must be > 0, got %v", cfg.MaxPoll)
	}
	return &Producer{st: st, policy: p, rules: cfg.Upstreams, clock: cfg.Clock, poll: cfg.MaxPoll}, nil
}

// Item is one job of a batch.
type Item struct {
	Request Request
	Options Options
}

// Enqueue validates req and adds it to its upstream's queue.
func (p *Producer) Enqueue(ctx context.Context, req Request, o Options) (*Ticket, error) {
	nj, err := p.prepare(req, o)
	if err != nil {
		return nil, err
	}
	id, existed, err := p.st.Enqueue(ctx, req.Upstream, p.policy, nj)
	if err != nil {
		return nil, err
	}
	return &Ticket{ID: id, Existed: existed, Upstream: req.Upstream, p: p}, nil
}

// EnqueueBatch validates every item first (nothing is enqueued if one is rejected), then adds
// them, pipelined when the store can. The tickets are in the items' order; an item that failed
// to enqueue (a full queue) has a nil ticket and its error in errs.
func (p *Producer) EnqueueBatch(ctx context.Context, items []Item) (tickets []*Ticket, errs []error, err error) {
	jobs := make([]store.NewJob, len(items))
	for i, it := range items {
		if jobs[i], err = p.prepare(it.Request, it.Options); err != nil {
			return nil, nil, fmt.Errorf("item %d: %w", i, err)
		}
	}
	tickets, errs = make([]*Ticket, len(items)), make([]error, len(items))
	// Group by upstream: one queue per upstream, one pipeline per queue.
	byQueue := map[string][]int{}
	for i, it := range items {
		byQueue[it.Request.Upstream] = append(byQueue[it.Request.Upstream], i)
	}
	for q, idx := range byQueue {
		batch := make([]store.NewJob, len(idx))
		for k, i := range idx {
			batch[k] = jobs[i]
		}
		var res []store.EnqueueResult
		if be, ok := p.st.(store.BatchEnqueuer); ok {
			if res, err = be.EnqueueBatch(ctx, q, p.policy, batch); err != nil {
				return nil, nil, err
			}
		} else {
			res = make([]store.EnqueueResult, len(batch))
			for k, nj := range batch {
				res[k].ID, res[k].Existed, res[k].Err = p.st.Enqueue(ctx, q, p.policy, nj)
				if ctx.Err() != nil {
					return nil, nil, ctx.Err()
				}
			}
		}
		for k, i := range idx {
			if res[k].Err != nil {
				errs[i] = res[k].Err
				continue
			}
			tickets[i] = &Ticket{ID: res[k].ID, Existed: res[k].Existed, Upstream: q, p: p}
		}
	}
	return tickets, errs, nil
}

func (p *Producer) prepare(req Request, o Options) (store.NewJob, error) {
	rules, ok := p.rules[req.Upstream]
	if !ok {
		return store.NewJob{}, fmt.Errorf("%w: upstream %q is not configured", ErrRejected, req.Upstream)
	}
	if err := rules.Validate(req); err != nil {
		return store.NewJob{}, err
	}
	payload, err := encode(req)
	if err != nil {
		return store.NewJob{}, fmt.Errorf("weir/queue: encoding job: %w", err)
	}
	if len(payload) > p.policy.MaxPayload {
		return store.NewJob{}, fmt.Errorf("%w: payload of %d bytes exceeds %d", ErrRejected, len(payload), p.policy.MaxPayload)
	}
	if o.Priority < 0 || o.Priority > store.MaxPriority {
		return store.NewJob{}, fmt.Errorf("%w: priority must be in [0, %d], got %d", ErrRejected, store.MaxPriority, o.Priority)
	}
	if o.Delay < 0 || o.Delay > store.MaxDelay {
		return store.NewJob{}, fmt.Errorf("%w: delay must be in [0, %v], got %v", ErrRejected, store.MaxDelay, o.Delay)
	}
	if o.IdempotencyKey != "" {
		if err := contract.ValidateName("idempotency key", o.IdempotencyKey); err != nil {
			return store.NewJob{}, fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	return store.NewJob{Priority: o.Priority, Payload: payload, Delay: o.Delay, IdempotencyKey: o.IdempotencyKey}, nil
}

// Ticket is an enqueued job.
type Ticket struct {
	ID       string
	Existed  bool // the idempotency key was seen before: this is the earlier job
	Upstream string
	p        *Producer
}

// Wait returns the job's result once a worker has finished it, polling the store with a backoff
// from 20 ms to the producer's MaxPoll, until ctx is done.
func (t *Ticket) Wait(ctx context.Context) (Response, error) {
	delay := min(20*time.Millisecond, t.p.poll)
	for {
		r, err := t.p.st.Result(ctx, t.Upstream, t.ID)
		if err == nil {
			return decodeResult(r)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Response{}, err
		}
		tm := t.p.clock.NewTimer(delay)
		select {
		case <-ctx.Done():
			tm.Stop()
			return Response{}, ctx.Err()
		case <-tm.C():
		}
		delay = min(2*delay, t.p.poll)
	}
}

func decodeResult(r store.Result) (Response, error) {
	var resp Response
	if r.Dead {
		return Response{Dead: true, Error: r.Reason, Attempts: r.Attempts}, nil
	}
	if err := json.Unmarshal(r.Body, &resp); err != nil {
		return Response{}, fmt.Errorf("weir/queue: decoding result of %s: %w", r.ID, err)
	}
	resp.Attempts = r.Attempts
	return resp, nil
}
