package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Role is what a child does. ctx ends when the parent closes the child's stdin (its cause is then
// io.EOF) or when the child's lifetime is over (ErrLifetime); a role should return soon after.
// A role that returns an error fails the child, and the parent's Recv reports it.
type Role func(ctx context.Context, l *Link) error

// ErrLifetime is the cause of a child's context once its lifetime (Spec.Lifetime) is over.
var ErrLifetime = errors.New("fleet: child lifetime over")

// IsChild reports whether this process is a child started by Start.
func IsChild() bool { return os.Getenv(EnvRole) != "" }

// Serve runs, in a child, the role its parent named, and fails tb if it fails. In a process that
// is not a child it returns at once, so that the entry test passes doing nothing in an ordinary
// run (it does not skip: CI treats a skipped Redis test as a failure). Call it from the entry
// test, and nothing else there.
func Serve(tb testing.TB, roles map[string]Role) {
	tb.Helper()
	name := os.Getenv(EnvRole)
	if name == "" {
		tb.Log("fleet: nothing to do outside a child process started by fleet.Start")
		return
	}
	role, ok := roles[name]
	if !ok {
		tb.Fatalf("fleet: unknown role %q", name)
	}
	ns, err := strconv.ParseInt(os.Getenv(envDeadline), 10, 64)
	if err != nil {
		tb.Fatalf("fleet: bad %s: %v", envDeadline, err)
	}
	index, err := strconv.Atoi(os.Getenv(envIndex))
	if err != nil {
		tb.Fatalf("fleet: bad %s: %v", envIndex, err)
	}
	out := os.NewFile(replyFD, "fleet-replies")
	if out == nil {
		tb.Fatalf("fleet: no reply pipe on descriptor %d", replyFD)
	}
	defer out.Close()

	life, cancelLife := context.WithDeadlineCause(context.Background(), time.Unix(0, ns), ErrLifetime)
	defer cancelLife()
	ctx, cancel := context.WithCancelCause(life)
	defer cancel(nil)

	l := &Link{index: index, in: make(chan json.RawMessage), out: out}
	go l.read(ctx, cancel)
	if err := role(ctx, l); err != nil {
		tb.Fatalf("fleet: child %d, role %s: %v", index, name, err)
	}
}

// Link is a child's end of the conversation with its parent. It is safe for concurrent use.
type Link struct {
	index int
	in    chan json.RawMessage // commands, closed at the end of stdin

	mu  sync.Mutex
	out *os.File
}

// Index returns the child's index in its fleet (0 for the first started).
func (l *Link) Index() int { return l.index }

// read passes stdin's lines on as commands; the end of stdin ends the child's context.
func (l *Link) read(ctx context.Context, cancel context.CancelCauseFunc) {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := append(json.RawMessage(nil), sc.Bytes()...)
		if len(line) == 0 {
			continue
		}
		select {
		case l.in <- line:
		case <-ctx.Done():
			return
		}
	}
	close(l.in)
	cancel(io.EOF) // the parent has finished with us, or died
}

// Recv waits for the parent's next command and decodes it into v. It returns an error wrapping
// io.EOF once the parent has closed stdin and every command has been received, or the context's
// cause when it ends first.
func (l *Link) Recv(ctx context.Context, v any) error {
	select {
	case line, ok := <-l.in:
		if !ok {
			return fmt.Errorf("fleet: parent closed stdin: %w", io.EOF)
		}
		if err := json.Unmarshal(line, v); err != nil {
			return fmt.Errorf("fleet: bad command %s: %w", line, err)
		}
		return nil
	case <-ctx.Done():
		// A command and the end of stdin may be ready together: commands come first.
		select {
		case line, ok := <-l.in:
			if ok {
				if err := json.Unmarshal(line, v); err != nil {
					return fmt.Errorf("fleet: bad command %s: %w", line, err)
				}
				return nil
			}
		default:
		}
		return fmt.Errorf("fleet: %w", context.Cause(ctx))
	}
}

// Send writes v to the parent as one JSON line.
func (l *Link) Send(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("fleet: encoding a reply: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.out.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("fleet: writing a reply: %w", err)
	}
	return nil
}
