package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		stdout     string // wanted in stdout
		stderr     string // wanted in stderr
		quietStdio bool   // stdout must stay empty
	}{
		{args: nil, code: 2, stderr: "Usage: worker", quietStdio: true},
		{args: []string{"frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, quietStdio: true},
		{args: []string{"help"}, code: 0, stdout: "demo "},
		{args: []string{"help", "demo"}, code: 0, stdout: "-rate"},
		{args: []string{"help", "run"}, code: 0, stdout: "-log-level"},
		{args: []string{"help", "enqueue"}, code: 0, stdout: "-idempotency-key"},
		{args: []string{"help", "stats"}, code: 0, stdout: "-config"},
		{args: []string{"help", "dead"}, code: 0, stdout: "-upstream"},
		{args: []string{"help", "demoapi"}, code: 0, stdout: "-listen"},
		{args: []string{"help", "frobnicate"}, code: 2, stderr: `unknown command "frobnicate"`, quietStdio: true},
		{args: []string{"demo", "-h"}, code: 0, stderr: "Usage: worker demo"},
		{args: []string{"demo", "-n", "0"}, code: 2, stderr: "-n must be ≥ 1", quietStdio: true},
		{args: []string{"demo", "-rate", "0"}, code: 2, stderr: "Requests must be > 0", quietStdio: true},
		{args: []string{"demo", "-fail", "1"}, code: 2, stderr: "-fail must be in [0, 1)", quietStdio: true},
		{args: []string{"demo", "-bogus"}, code: 2, stderr: "flag provided but not defined", quietStdio: true},
		{args: []string{"demo", "extra"}, code: 2, stderr: "unexpected arguments", quietStdio: true},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr, strings.NewReader(""))
		if code != tc.code {
			t.Errorf("worker %v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("worker %v: stdout %q, stderr %q; want %q and %q in them", tc.args, stdout.String(), stderr.String(), tc.stdout, tc.stderr)
		}
		if tc.quietStdio && stdout.Len() > 0 {
			t.Errorf("worker %v: wrote %q to stdout, want nothing", tc.args, stdout.String())
		}
	}
}
