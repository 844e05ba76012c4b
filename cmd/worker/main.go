// Command worker is Weir's binary. Today it has one subcommand, demo, which sends a burst of
// prioritised requests through one client to a local API with a rate limit of its own, and shows
// that the client stays under it. The queue-draining subcommands (run, enqueue, stats, dead) come
// with the queue.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code: 0 on success, 1 when the command
// failed, 2 for a bad command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "demo":
		return runDemo(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "demo" {
			newDemoFlags(stdout, &demoOptions{}).Usage()
			return 0
		}
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "worker: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: worker <command> [flags]

Commands:
  demo    send prioritised requests through one Weir client to a local rate-limited API
  help    show this help, or "help demo" for the demo's flags
`)
}
