package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/weir-go/weir/pkg/queue"
)

func runDead(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var redisFlag, config, prefix, upstream string
	var n int
	fs.StringVar(&redisFlag, "redis", "", "Redis URL; default $WEIR_REDIS_URL")
	fs.StringVar(&config, "config", "", "upstream profiles (JSON); required")
	fs.StringVar(&prefix, "prefix", "weir", "key prefix in Redis")
	fs.StringVar(&upstream, "upstream", "", "the upstream whose dead jobs to show; required")
	fs.IntVar(&n, "n", 20, "list at most this many")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: worker dead [flags] list\n       worker dead [flags] requeue ID...\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rest := fs.Args()
	if config == "" || upstream == "" || len(rest) == 0 || (rest[0] != "list" && rest[0] != "requeue") {
		fs.Usage()
		return 2
	}
	fail := func(err error) int { fmt.Fprintf(stderr, "worker dead: %v\n", err); return 1 }
	cfg, err := loadConfig(config, func(string) string { return "set" })
	if err != nil {
		return fail(err)
	}
	st, err := openStore(ctx, redisURL(redisFlag), prefix, false)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	if rest[0] == "list" {
		jobs, err := st.Dead(ctx, upstream, n)
		if err != nil {
			return fail(err)
		}
		enc := json.NewEncoder(stdout)
		for _, j := range jobs {
			req, _ := queue.DecodeRequest(j.Payload)
			_ = enc.Encode(map[string]any{"id": j.ID, "priority": j.Priority, "attempts": j.Attempt,
				"reason": j.LastError, "method": req.Method, "path": req.Path})
		}
		return 0
	}
	code := 0
	for _, id := range rest[1:] {
		if err := st.Requeue(ctx, upstream, cfg.policy(), id); err != nil {
			fmt.Fprintf(stderr, "worker dead: requeue %s: %v\n", id, err)
			code = 1
			continue
		}
		fmt.Fprintln(stdout, id)
	}
	return code
}
