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

func runEnqueue(ctx context.Context, args []string, stdout, stderr io.Writer, stdin io.Reader) int {
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		redisFlag, config, prefix, file, body string
		line                                  jobLine
		delay, timeout                        time.Duration
		wait                                  bool
	)
	line.Header = http.Header{}
	fs.StringVar(&redisFlag, "redis", "", "Redis URL; default $WEIR_REDIS_URL")
	fs.StringVar(&config, "config", "", "upstream profiles (JSON); required: jobs may only name their upstreams")
	fs.StringVar(&prefix, "prefix", "weir", "key prefix in Redis")
	fs.StringVar(&file, "file", "", "enqueue the jobs of this file of JSON lines (- for stdin) instead of one from flags")
	fs.StringVar(&line.Upstream, "upstream", "", "the upstream (one job from flags)")
	fs.StringVar(&line.Method, "method", http.MethodGet, "the method")
	fs.StringVar(&line.Path, "path", "", "the path relative to the upstream's base URL, e.g. /v1/items?page=2")
	fs.Var(headerFlags(line.Header), "header", "a header, \"Name: value\" (repeatable)")
	fs.StringVar(&body, "body", "", "the body")
	fs.IntVar(&line.Priority, "priority", 0, "priority: higher first")
	fs.DurationVar(&delay, "delay", 0, "not before this long from now")
	fs.StringVar(&line.IdempotencyKey, "idempotency-key", "", "the same key returns the existing job")
	fs.BoolVar(&wait, "wait", false, "wait for the results and print them (JSON lines)")
	fs.DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait, give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if config == "" {
		fmt.Fprintln(stderr, "worker enqueue: --config is required")
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "worker enqueue: %v\n", err); return 1 }
	var items []queue.Item
	if file == "" {
		line.Body = []byte(body)
		if len(line.Header) == 0 {
			line.Header = nil
		}
		line.Delay = delay.String()
		it, err := line.item()
		if err != nil {
			return fail(err)
		}
		items = append(items, it)
	} else {
		var r io.Reader = stdin
		if file != "-" {
			f, err := os.Open(file)
			if err != nil {
				return fail(err)
			}
			defer f.Close()
			r = f
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		for n := 1; sc.Scan(); n++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			var jl jobLine
			if err := json.Unmarshal([]byte(text), &jl); err != nil {
				return fail(fmt.Errorf("line %d: %w", n, err))
			}
			it, err := jl.item()
			if err != nil {
				return fail(fmt.Errorf("line %d: %w", n, err))
			}
			items = append(items, it)
		}
		if err := sc.Err(); err != nil {
			return fail(err)
		}
	}

	cfg, err := loadConfig(config, func(string) string { return "set" }) // producers never read secrets
	if err != nil {
		return fail(err)
	}
	st, err := openStore(ctx, redisURL(redisFlag), prefix, false)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	p, err := queue.NewProducer(st, queue.ProducerConfig{Policy: cfg.policy(), Upstreams: cfg.rules()})
	if err != nil {
		return fail(err)
	}
	tickets, errs, err := p.EnqueueBatch(ctx, items)
	if err != nil {
		return fail(err)
	}
	code := 0
	for i, t := range tickets {
		if errs[i] != nil {
			fmt.Fprintf(stderr, "worker enqueue: job %d: %v\n", i+1, errs[i])
			code = 1
			continue
		}
		fmt.Fprintln(stdout, t.ID)
	}
	if !wait {
		return code
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	enc := json.NewEncoder(stdout)
	for _, t := range tickets {
		if t == nil {
			continue
		}
		resp, err := t.Wait(wctx)
		if err != nil {
			return fail(fmt.Errorf("waiting for %s: %w", t.ID, err))
		}
		_ = enc.Encode(struct {
			ID string `json:"id"`
			queue.Response
		}{t.ID, resp})
	}
	return code
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
