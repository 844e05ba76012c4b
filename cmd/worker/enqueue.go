package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/weir-go/weir/pkg/queue"
)

type headerFlags http.Header

func (h headerFlags) String() string { return "" }
func (h headerFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok {
		return fmt.Errorf("a header is \"Name: value\", got %q", v)
	}
	http.Header(h).Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

// jobLine is one job of an enqueue file: JSON, one per line.
type jobLine struct {
	queue.Request
	Priority       int    `json:"priority"`
	Delay          string `json:"delay"`
	IdempotencyKey string `json:"idempotency_key"`
}

// enqueueOptions is enqueue's command line.
type enqueueOptions struct {
	redis, config, prefix string
	file                  string  // jobs as JSON lines; empty means the one job of the flags
	line                  jobLine // the one job of the flags
	body                  string
	delay, timeout        time.Duration
	wait                  bool
}

func newEnqueueFlags(out io.Writer, o *enqueueOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(out)
	o.line.Header = http.Header{}
	fs.StringVar(&o.redis, "redis", "", "Redis URL; default $WEIR_REDIS_URL")
	fs.StringVar(&o.config, "config", "", "upstream profiles (JSON); required: jobs may only name their upstreams")
	fs.StringVar(&o.prefix, "prefix", "weir", "key prefix in Redis")
	fs.StringVar(&o.file, "file", "", "enqueue the jobs of this file of JSON lines (- for stdin) instead of one from flags")
	fs.StringVar(&o.line.Upstream, "upstream", "", "the upstream (one job from flags)")
	fs.StringVar(&o.line.Method, "method", http.MethodGet, "the method")
	fs.StringVar(&o.line.Path, "path", "", "the path relative to the upstream's base URL, e.g. /v1/items?page=2")
	fs.Var(headerFlags(o.line.Header), "header", "a header, \"Name: value\" (repeatable)")
	fs.StringVar(&o.body, "body", "", "the body")
	fs.IntVar(&o.line.Priority, "priority", 0, "priority: higher first")
	fs.DurationVar(&o.delay, "delay", 0, "not before this long from now")
	fs.StringVar(&o.line.IdempotencyKey, "idempotency-key", "", "the same key returns the existing job")
	fs.BoolVar(&o.wait, "wait", false, "wait for the results and print them (JSON lines)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "with --wait, give up after this long")
	return fs
}

// runEnqueue adds the jobs of the flags or of --file, prints their ids and, with --wait, their
// results. It returns 2 for a bad command line, 1 if anything else failed, a single job included.
func runEnqueue(ctx context.Context, args []string, stdout, stderr io.Writer, stdin io.Reader) int {
	var o enqueueOptions
	if err := newEnqueueFlags(stderr, &o).Parse(args); err != nil {
		return 2
	}
	if o.config == "" {
		fmt.Fprintln(stderr, "worker enqueue: --config is required")
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "worker enqueue: %v\n", err); return 1 }
	items, err := o.jobs(stdin)
	if err != nil {
		return fail(err)
	}
	p, st, err := o.openProducer(ctx)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	tickets, errs, err := p.EnqueueBatch(ctx, items)
	if err != nil {
		return fail(err)
	}
	code := printTickets(stdout, stderr, tickets, errs)
	if !o.wait {
		return code
	}
	if err := printResults(ctx, stdout, tickets, o.timeout); err != nil {
		return fail(err)
	}
	return code
}

// jobs returns the jobs to enqueue: the one the flags describe, or those of --file.
func (o *enqueueOptions) jobs(stdin io.Reader) ([]queue.Item, error) {
	if o.file == "" {
		it, err := o.flagJob()
		if err != nil {
			return nil, err
		}
		return []queue.Item{it}, nil
	}
	if o.file == "-" {
		return readJobLines(stdin)
	}
	f, err := os.Open(o.file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readJobLines(f)
}

// flagJob is the one job the flags describe.
func (o *enqueueOptions) flagJob() (queue.Item, error) {
	line := o.line
	line.Body = []byte(o.body)
	if len(line.Header) == 0 {
		line.Header = nil
	}
	line.Delay = o.delay.String()
	return line.item()
}

// readJobLines reads jobs, one JSON object a line, skipping blank lines; an error names its line.
func readJobLines(r io.Reader) ([]queue.Item, error) {
	var items []queue.Item
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		it, err := parseJobLine(text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

func parseJobLine(text string) (queue.Item, error) {
	var jl jobLine
	if err := json.Unmarshal([]byte(text), &jl); err != nil {
		return queue.Item{}, err
	}
	return jl.item()
}

// openProducer opens the store and a producer that checks jobs against the config's upstreams.
// The caller closes the store.
func (o *enqueueOptions) openProducer(ctx context.Context) (*queue.Producer, fullStore, error) {
	cfg, err := loadConfig(o.config, func(string) string { return "set" }) // producers never read secrets
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, redisURL(o.redis), o.prefix, false)
	if err != nil {
		return nil, nil, err
	}
	p, err := queue.NewProducer(st, queue.ProducerConfig{Policy: cfg.policy(), Upstreams: cfg.rules()})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return p, st, nil
}

// printTickets prints the id of each job enqueued to stdout and the error of each one rejected to
// stderr, and returns the exit code so far: 1 if any was rejected.
func printTickets(stdout, stderr io.Writer, tickets []*queue.Ticket, errs []error) int {
	code := 0
	for i, t := range tickets {
		if errs[i] != nil {
			fmt.Fprintf(stderr, "worker enqueue: job %d: %v\n", i+1, errs[i])
			code = 1
			continue
		}
		fmt.Fprintln(stdout, t.ID)
	}
	return code
}

// printResults waits for the result of each job enqueued, all within timeout, and prints each as
// a JSON line as it comes.
func printResults(ctx context.Context, stdout io.Writer, tickets []*queue.Ticket, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	enc := json.NewEncoder(stdout)
	for _, t := range tickets {
		if t == nil { // rejected: printTickets said so
			continue
		}
		resp, err := t.Wait(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", t.ID, err)
		}
		_ = enc.Encode(struct {
			ID string `json:"id"`
			queue.Response
		}{t.ID, resp})
	}
	return nil
}

func (jl jobLine) item() (queue.Item, error) {
	var d time.Duration
	if jl.Delay != "" {
		var err error
		if d, err = time.ParseDuration(jl.Delay); err != nil {
			return queue.Item{}, fmt.Errorf("delay: %w", err)
		}
	}
	return queue.Item{Request: jl.Request, Options: queue.Options{Priority: jl.Priority, Delay: d, IdempotencyKey: jl.IdempotencyKey}}, nil
}
