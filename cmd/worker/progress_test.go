package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressPrintsPlainLinesAtEachTenth(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, 25, false, "waiting for a token", func() int { return 3 })
	for range 25 {
		p.finished()
	}
	p.close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 10 {
		t.Fatalf("%d lines, want one per tenth:\n%s", len(lines), out.String())
	}
	if !strings.Contains(lines[0], "10%   3/25 finished") || !strings.Contains(lines[9], "100%  25/25 finished") {
		t.Errorf("first and last lines:\n%s\n%s", lines[0], lines[9])
	}
	if strings.ContainsAny(out.String(), "\x1b\r") {
		t.Errorf("plain progress holds escape codes: %q", out.String())
	}
}

func TestProgressRedrawsOneLineOnATerminal(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, 4, true, "waiting for a token", func() int { return 0 })
	for range 4 {
		p.finished()
	}
	p.close()
	s := out.String()
	if !strings.HasPrefix(s, "\r  [") || !strings.HasSuffix(s, "\x1b[K\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("terminal progress = %q, want redraws of one line, ended once", s)
	}
	if !strings.Contains(s, "4/4 100%") {
		t.Errorf("final bar lacks 4/4 100%%: %q", s)
	}
}
