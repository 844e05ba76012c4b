// Command worker is Weir's binary: run drains the shared queues of the configured upstreams,
// each job under the upstream's shared limits and breaker; enqueue, stats and dead manage the
// queues; demo shows the client at work against a local rate-limited API.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Stdin)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code: 0 on success, 1 when the command
// failed, 2 for a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, stdin io.Reader) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "run":
		return runWorker(ctx, args[1:], stdout, stderr)
	case "enqueue":
		return runEnqueue(ctx, args[1:], stdout, stderr, stdin)
	case "stats":
		return runStats(ctx, args[1:], stdout, stderr)
	case "dead":
		return runDead(ctx, args[1:], stdout, stderr)
	case "demoapi":
		return runDemoAPI(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			return help(ctx, args[1], stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "worker: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// commands are the commands that "worker help NAME" explains.
var commands = []string{"run", "enqueue", "stats", "dead", "demo", "demoapi"}

// help prints a command's usage and flags to stdout, as "worker NAME -h" prints them.
func help(ctx context.Context, name string, stdout, stderr io.Writer) int {
	if !slices.Contains(commands, name) {
		fmt.Fprintf(stderr, "worker help: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	run(ctx, []string{name, "-h"}, stdout, stdout, strings.NewReader(""))
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: worker <command> [flags]

Commands:
  run      drain the queues of the configured upstreams (--config FILE [--redis URL])
  enqueue  add jobs, from flags or JSON lines; --wait prints their results
  stats    per upstream: queue depth by priority, in flight, delayed, dead, breaker, tokens
  dead     list or requeue dead jobs
  demo     send prioritised requests through one Weir client to a local rate-limited API
  demoapi  serve the demo's rate-limited API alone (for docker-compose.yml)
  help     show this help, or "help COMMAND" for a command's flags

Each command prints its flags with -h.
`)
}
