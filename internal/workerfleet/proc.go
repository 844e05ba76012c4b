package workerfleet

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build builds the worker, the main package in dir (relative to the test's working directory:
// "." for the package under test), into a directory removed when tb's test ends, and returns the
// binary's path. It uses the go command on the PATH (go test puts $GOROOT/bin first there) and the
// environment's build flags: without -race unless GOFLAGS asks for it, since the children need
// not be slow to prove anything.
func Build(tb testing.TB, dir string) string {
	tb.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("workerfleet: no go command on the PATH: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "worker")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("workerfleet: go build -o %s . in %s: %v\n%s", bin, dir, err, out)
	}
	tb.Logf("workerfleet: built the worker from %s in %v", dir, time.Since(began).Round(time.Millisecond))
	return bin
}

// Proc is one running process. Its methods are safe for concurrent use.
type Proc struct {
	Name string

	cmd      *exec.Cmd
	stdout   syncBuffer
	stderr   syncBuffer
	done     chan struct{}
	err      error     // cmd.Wait's, read after done
	exitedAt time.Time // read after done
}

// Start starts bin with args, its environment the test's plus env ("KEY=value"). The process is
// killed when ctx ends, and when tb's test ends if it is still alive then; its output is logged
// if the test failed.
func Start(tb testing.TB, ctx context.Context, name, bin string, env []string, args ...string) *Proc {
	tb.Helper()
	p := &Proc{Name: name, done: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("workerfleet: starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("workerfleet: %s output:\n%s", name, p.Output())
		}
	})
	return p
}

// WaitReady waits for the process to print "listening on ADDR" (as `worker run --listen` does),
// then for http://ADDR/readyz to answer 200: the worker has read its configuration and reached
// its store. It fails the test if the process exits first or ctx ends.
func (p *Proc) WaitReady(tb testing.TB, ctx context.Context) {
	tb.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if addr, ok := p.listenAddr(); ok {
			resp, err := hc.Get("http://" + addr + "/readyz")
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		select {
		case <-p.done:
			tb.Fatalf("workerfleet: %s exited before it was ready: %v; its output:\n%s", p.Name, p.err, p.Output())
		case <-ctx.Done():
			tb.Fatalf("workerfleet: %s not ready in time; its output:\n%s", p.Name, p.Output())
		case <-tick.C:
		}
	}
}

func (p *Proc) listenAddr() (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(p.stdout.String()))
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			return strings.TrimSpace(addr), true
		}
	}
	return "", false
}

// Signal sends sig to the process.
func (p *Proc) Signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		tb.Fatalf("workerfleet: signalling %s: %v", p.Name, err)
	}
}

// Kill sends SIGKILL and returns once the process has been reaped.
func (p *Proc) Kill(tb testing.TB) {
	tb.Helper()
	p.Signal(tb, syscall.SIGKILL)
	<-p.done
}

// Wait waits up to timeout, or until ctx ends, for the process to exit, and returns how it
// exited: nil for exit code 0.
func (p *Proc) Wait(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return p.err
	case <-t.C:
		return fmt.Errorf("%s still running after %v", p.Name, timeout)
	case <-ctx.Done():
		return fmt.Errorf("%s still running when the test's time ran out", p.Name)
	}
}

// ExitedAt returns when the process was seen to exit; the zero time while it runs.
func (p *Proc) ExitedAt() time.Time {
	select {
	case <-p.done:
		return p.exitedAt
	default:
		return time.Time{}
	}
}

// Output returns the last 8 KiB of what the process printed, stdout then stderr.
func (p *Proc) Output() string {
	out := "stdout:\n" + p.stdout.String() + "stderr:\n" + p.stderr.String()
	if len(out) > 8<<10 {
		out = "…" + out[len(out)-8<<10:]
	}
	return out
}

// syncBuffer collects a process's output; os/exec writes to it from its own goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
