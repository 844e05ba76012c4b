// Package slowlink is a test helper: a loopback TCP proxy that delays a server's replies, so that
// tests can make a real Redis slow without standing in for it.
package slowlink

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Link is a loopback TCP proxy in front of a Redis server that holds every byte of the
// server's replies for a delay before passing it on, in order: a slow server or network, as the
// store sees it. Requests pass at once. It is safe for concurrent use.
type Link struct {
	ln    net.Listener
	to    string
	delay atomic.Int64 // ns
	mu    sync.Mutex
	conns []net.Conn
	quit  chan struct{} // closed by close: held replies are dropped
	wg    sync.WaitGroup
}

// New starts a link to the server at addr, closed when the test ends.
func New(tb testing.TB, addr string, delay time.Duration) *Link {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("slowlink: %v", err)
	}
	l := &Link{ln: ln, to: addr, quit: make(chan struct{})}
	l.delay.Store(int64(delay))
	l.wg.Go(l.accept)
	tb.Cleanup(l.close)
	return l
}

// Addr is the address clients dial.
func (l *Link) Addr() string { return l.ln.Addr().String() }

// SetDelay changes how long replies are held from now on.
func (l *Link) SetDelay(d time.Duration) { l.delay.Store(int64(d)) }

func (l *Link) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", l.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c, u)
		l.mu.Unlock()
		l.wg.Go(func() {
			_, _ = io.Copy(u, c)
			_ = u.Close()
		})
		l.wg.Go(func() { l.hold(c, u) })
	}
}

// hold passes what the server u writes on to the client c, each chunk delay after it arrived.
func (l *Link) hold(c, u net.Conn) {
	type chunk struct {
		due time.Time
		b   []byte
	}
	chunks := make(chan chunk, 4096)
	l.wg.Go(func() {
		defer close(chunks)
		for {
			b := make([]byte, 32<<10)
			n, err := u.Read(b)
			if n > 0 {
				chunks <- chunk{time.Now().Add(time.Duration(l.delay.Load())), b[:n]}
			}
			if err != nil {
				return
			}
		}
	})
	for k := range chunks {
		select {
		case <-time.After(time.Until(k.due)):
		case <-l.quit:
		}
		if _, err := c.Write(k.b); err != nil {
			break
		}
	}
	_ = c.Close()
	_ = u.Close()
	for range chunks { // the reader stops once u is closed
	}
}

func (l *Link) close() {
	close(l.quit)
	_ = l.ln.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
