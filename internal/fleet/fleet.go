// Package fleet starts child OS processes for tests and talks to them, so that a test can prove
// what a fleet of real processes sharing one store does.
//
// A child is the test binary itself, run again with a role: the parent calls Start, and the test
// binary holds an entry test (TestFleetChild by default) that calls Serve, which runs the role the
// parent named and does nothing in an ordinary test run. Commands go to a child as JSON lines on its
// stdin; replies come back as JSON lines on a pipe of their own (the child's file descriptor 3),
// so that whatever else the child prints (the testing package's output, logs) never mixes with
// them. A child stops on its own when its stdin closes (the parent is done, or died) or when its
// lifetime is over, whichever comes first; the parent kills any child still alive when its test
// ends.
package fleet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The environment through which a parent tells a child what to be.
const (
	// EnvRole names the role a child plays; unset in every process that is not a child.
	EnvRole     = "WEIR_FLEET_ROLE"
	envDeadline = "WEIR_FLEET_DEADLINE" // the child's end of life, Unix nanoseconds
	envIndex    = "WEIR_FLEET_INDEX"    // the child's index in its fleet
)

// replyFD is the child's descriptor of the reply pipe: the first of exec.Cmd.ExtraFiles.
const replyFD = 3

// Defaults of Spec's zero fields.
const (
	DefaultEntry    = "TestFleetChild"
	DefaultLifetime = 2 * time.Minute
)

// Spec says what children to start.
type Spec struct {
	// Role is the role each child plays: a key of the map its entry test passes to Serve.
	Role string
	// Entry is the test that calls Serve in the test binary. Default "TestFleetChild".
	Entry string
	// Lifetime bounds each child's life: it stops by then whatever its parent does. Default 2 min.
	Lifetime time.Duration
	// Env is added to each child's environment (which is otherwise the parent's), as "KEY=value".
	Env []string
}

// Msg is one reply from a child.
type Msg struct {
	// From is the index of the child that sent it.
	From int
	// Data is the JSON value it sent.
	Data json.RawMessage
}

// Decode unmarshals the message into v.
func (m Msg) Decode(v any) error {
	if err := json.Unmarshal(m.Data, v); err != nil {
		return fmt.Errorf("fleet: child %d sent %s: %w", m.From, m.Data, err)
	}
	return nil
}

// Fleet is a set of running children. Its methods are safe for concurrent use, but replies are
// meant for one reader: concurrent Recv calls share them out.
type Fleet struct {
	tb    testing.TB
	spec  Spec
	procs []*proc

	mu     sync.Mutex
	queue  []Msg
	live   int   // children that have not exited
	failed *proc // the first child that exited otherwise than cleanly
	notify chan struct{}
}

// proc is one child.
type proc struct {
	index  int
	cmd    *exec.Cmd
	out    lockedBuffer // its stdout and stderr, for failure reports
	wmu    sync.Mutex   // guards stdin
	stdin  io.WriteCloser
	closed bool          // stdin closed, under wmu
	exited chan struct{} // closed once it has exited and its replies are queued
	err    error         // its exit error, read after exited is closed
	killed bool          // by Stop or Kill, under Fleet.mu
	told   bool          // its failure was returned to the test, under Fleet.mu
}

// Start starts n children playing spec.Role and returns once they run (not once they are ready:
// that is for the role to say). They are killed, if still alive, when tb's test ends. A child's
// own test binary is os.Executable, run with -test.run for the entry test only.
func Start(tb testing.TB, n int, spec Spec) *Fleet {
	tb.Helper()
	if runtime.GOOS == "windows" {
		tb.Skip("fleet: children need an extra inherited pipe, which os/exec does not pass on Windows")
	}
	if spec.Role == "" {
		tb.Fatalf("fleet: Spec.Role is empty")
	}
	if spec.Entry == "" {
		spec.Entry = DefaultEntry
	}
	if spec.Lifetime == 0 {
		spec.Lifetime = DefaultLifetime
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatalf("fleet: finding the test binary: %v", err)
	}
	f := &Fleet{tb: tb, spec: spec, notify: make(chan struct{}, 1)}
	tb.Cleanup(f.cleanup) // before any child starts, so that none outlives a failed Start
	for i := range n {
		if err := f.start(exe, i); err != nil {
			tb.Fatalf("fleet: starting child %d (%s): %v", i, spec.Role, err)
		}
	}
	return f
}

func (f *Fleet) start(exe string, i int) error {
	deadline := time.Now().Add(f.spec.Lifetime)
	// The test binary's own timeout is a backstop behind the lifetime that Serve enforces.
	cmd := exec.Command(exe, "-test.run=^"+f.spec.Entry+"$", "-test.timeout="+(f.spec.Lifetime+30*time.Second).String())
	cmd.Env = append(os.Environ(),
		EnvRole+"="+f.spec.Role,
		envDeadline+"="+strconv.FormatInt(deadline.UnixNano(), 10),
		envIndex+"="+strconv.Itoa(i),
	)
	cmd.Env = append(cmd.Env, f.spec.Env...)
	p := &proc{index: i, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	p.stdin = stdin
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.ExtraFiles = []*os.File{w} // descriptor 3 in the child
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return err
	}
	w.Close() // the child holds the only write end: its exit ends our reads
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.live++
	f.mu.Unlock()
	go f.follow(p, r)
	return nil
}

// follow queues a child's replies until it closes the pipe, then reaps it.
func (f *Fleet) follow(p *proc, r *os.File) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		f.push(Msg{From: p.index, Data: json.RawMessage(bytes.Clone(line))})
	}
	r.Close()
	p.err = p.cmd.Wait()
	close(p.exited)
	f.mu.Lock()
	f.live--
	if p.err != nil && !p.killed && f.failed == nil {
		f.failed = p
	}
	f.mu.Unlock()
	f.wake()
}

// failure describes how p exited, and notes that the test has been told.
func (f *Fleet) failure(p *proc) error {
	f.mu.Lock()
	p.told = true
	f.mu.Unlock()
	return fmt.Errorf("fleet: child %d (%s) exited: %v; its output:\n%s", p.index, f.spec.Role, p.err, p.out.tail(8<<10))
}

func (f *Fleet) push(m Msg) {
	f.mu.Lock()
	f.queue = append(f.queue, m)
	f.mu.Unlock()
	f.wake()
}

func (f *Fleet) wake() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// Len returns how many children were started.
func (f *Fleet) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.procs)
}

// Send writes v as one JSON line to child i's stdin.
func (f *Fleet) Send(i int, v any) error {
	f.mu.Lock()
	if i < 0 || i >= len(f.procs) {
		f.mu.Unlock()
		return fmt.Errorf("fleet: no child %d", i)
	}
	p := f.procs[i]
	f.mu.Unlock()
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("fleet: encoding a command for child %d: %w", i, err)
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.closed {
		return fmt.Errorf("fleet: child %d: stdin already closed", i)
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("fleet: writing to child %d: %w", i, err)
	}
	return nil
}

// Broadcast sends v to every child.
func (f *Fleet) Broadcast(v any) error {
	for i := range f.Len() {
		if err := f.Send(i, v); err != nil {
			return err
		}
	}
	return nil
}

// Recv returns the next reply from any child, in the order they arrived. It fails when timeout
// passes first, as soon as a child has exited otherwise than cleanly (with that child's output),
// or when every child has exited and no reply is left.
func (f *Fleet) Recv(timeout time.Duration) (Msg, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		f.mu.Lock()
		if len(f.queue) > 0 {
			m := f.queue[0]
			f.queue = f.queue[1:]
			f.mu.Unlock()
			return m, nil
		}
		failed, live := f.failed, f.live
		f.mu.Unlock()
		if failed != nil {
			return Msg{}, f.failure(failed)
		}
		if live == 0 {
			return Msg{}, errors.New("fleet: every child has exited")
		}
		select {
		case <-f.notify:
		case <-timer.C:
			return Msg{}, fmt.Errorf("fleet: no reply from any child (%s) within %v", f.spec.Role, timeout)
		}
	}
}

// Stop closes every child's stdin, which asks it to finish, and waits up to timeout for all of
// them to exit; children still alive then are killed. It returns an error when a child had to be
// killed or exited otherwise than cleanly. Replies not yet received stay available to Recv.
func (f *Fleet) Stop(timeout time.Duration) error {
	f.mu.Lock()
	procs := append([]*proc(nil), f.procs...)
	f.mu.Unlock()
	for _, p := range procs {
		p.closeStdin()
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var errs []error
	late := false // once the timeout has passed, the remaining children are killed at once
	for _, p := range procs {
		if !late {
			select {
			case <-p.exited:
			case <-deadline.C:
				late = true
			}
		}
		select {
		case <-p.exited:
			f.mu.Lock()
			killed := p.killed
			f.mu.Unlock()
			if p.err != nil && !killed {
				errs = append(errs, f.failure(p))
			}
		default:
			f.kill(p)
			f.mu.Lock()
			p.told = true
			f.mu.Unlock()
			errs = append(errs, fmt.Errorf("fleet: child %d (%s) still running after %v, killed; its output:\n%s", p.index, f.spec.Role, timeout, p.out.tail(8<<10)))
		}
	}
	return errors.Join(errs...)
}

// Kill kills child i at once (SIGKILL on Unix) and waits until it is reaped. A child killed so
// is no failure: Recv and Stop go on with the others.
func (f *Fleet) Kill(i int) {
	f.mu.Lock()
	p := f.procs[i]
	f.mu.Unlock()
	f.kill(p)
}

func (f *Fleet) kill(p *proc) {
	f.mu.Lock()
	p.killed = true
	f.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Output returns what child i has printed so far on its stdout and stderr.
func (f *Fleet) Output(i int) string {
	f.mu.Lock()
	p := f.procs[i]
	f.mu.Unlock()
	return p.out.String()
}

// cleanup ends what is left when the test ends (stdin closed, then a kill), fails the test for a
// child that failed without the test being told, and shows the children's output when the test
// failed: that is where a child explains itself.
func (f *Fleet) cleanup() {
	f.mu.Lock()
	procs := append([]*proc(nil), f.procs...)
	f.mu.Unlock()
	for _, p := range procs {
		p.closeStdin()
	}
	deadline := time.After(3 * time.Second)
	late := false
	for _, p := range procs {
		if !late {
			select {
			case <-p.exited:
				continue
			case <-deadline:
				late = true
			}
		}
		select {
		case <-p.exited:
		default:
			f.kill(p)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range procs {
		if p.err != nil && !p.killed && !p.told {
			f.tb.Errorf("fleet: child %d (%s) exited: %v", p.index, f.spec.Role, p.err)
		}
	}
	if f.tb.Failed() {
		for _, p := range procs {
			if out := p.out.tail(8 << 10); out != "" {
				f.tb.Logf("fleet: child %d (%s) output:\n%s", p.index, f.spec.Role, out)
			}
		}
	}
}

func (p *proc) closeStdin() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if !p.closed {
		p.closed = true
		_ = p.stdin.Close()
	}
}

// lockedBuffer collects a child's output; os/exec copies into it from its own goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n bytes of the output.
func (b *lockedBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
