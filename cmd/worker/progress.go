package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress shows how many calls have finished. On a terminal it redraws one bar in place; anywhere
// else it prints a plain line at every tenth, because logs keep every byte and a redrawn bar would
// only fill them with escape codes. It is safe for concurrent use.
type progress struct {
	out      io.Writer
	total    int
	terminal bool
	waiting  func() int // calls waiting for a token (or jobs queued) right now
	what     string     // what waiting counts: "waiting for a token", "queued"
	start    time.Time

	mu       sync.Mutex
	done     int
	tenths   int // the last tenth printed, in plain mode
	stop     chan struct{}
	redrawer sync.WaitGroup
}

// redrawEvery is how often the terminal bar is redrawn.
const redrawEvery = 100 * time.Millisecond

const barWidth = 30

func newProgress(out io.Writer, total int, terminal bool, what string, waiting func() int) *progress {
	p := &progress{out: out, total: total, terminal: terminal, waiting: waiting, what: what, start: time.Now(), stop: make(chan struct{})}
	if terminal {
		p.redrawer.Go(p.redraw)
	}
	return p
}

// finished counts one finished call.
func (p *progress) finished() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.terminal {
		return
	}
	if t := p.done * 10 / p.total; t > p.tenths {
		p.tenths = t
		fmt.Fprintf(p.out, "  %3d%%  %*d/%d finished after %4.1fs, %d %s\n",
			t*10, len(fmt.Sprint(p.total)), p.done, p.total, time.Since(p.start).Seconds(), p.waiting(), p.what)
	}
}

func (p *progress) redraw() {
	t := time.NewTicker(redrawEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawBar()
			p.mu.Unlock()
		}
	}
}

// drawBar rewrites the current line: carriage return, the bar, then erase to the end of the line.
func (p *progress) drawBar() {
	filled := p.done * barWidth / p.total
	fmt.Fprintf(p.out, "\r  [%s%s] %d/%d %3d%%  %.1fs  %d %s\x1b[K",
		strings.Repeat("█", filled), strings.Repeat("░", barWidth-filled),
		p.done, p.total, p.done*100/p.total, time.Since(p.start).Seconds(), p.waiting(), p.what)
}

// close draws the final state and ends the line.
func (p *progress) close() {
	close(p.stop)
	p.redrawer.Wait()
	if p.terminal {
		p.mu.Lock()
		p.drawBar()
		fmt.Fprintln(p.out)
		p.mu.Unlock()
	}
}
