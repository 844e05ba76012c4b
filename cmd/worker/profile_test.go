package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad profile fails at start, naming the field at fault.
func TestConfigErrorsNameTheField(t *testing.T) {
	env := map[string]string{"KEY": "k", "BAD": "a\x01b"}
	getenv := func(k string) string { return env[k] }
	up := func(extra string) string {
		return `{"upstreams": [{"name": "api", "base_url": "http://127.0.0.1:1"` + extra + `}]}`
	}
	for _, c := range []struct{ file, field string }{
		{up(`, "redirects": {"origins": ["ftp://x"]}`), "upstreams[0].redirects.origins"},
		{up(`, "redirects": {"origins": ["https://cdn.example.com/path"]}`), "upstreams[0].redirects.origins"},
		{up(`, "redirects": {"none": true, "origins": ["https://cdn.example.com"]}`), "upstreams[0].redirects"},
		{up(`, "result_headers": ["Content Type"]`), "upstreams[0].result_headers[0]"},
		{up(`, "headers": {"X-Key": "${BAD}"}`), "upstreams[0].headers.X-Key"},
		{up(`, "headers": {"X Key": "${KEY}"}`), "upstreams[0].headers"},
		{`{"queue": {"max_result": -1}, ` + up("")[1:], "queue.max_result"},
		{`{"queue": {"max_result": 20}, ` + up("")[1:], "queue.max_result"},
		{`{"queue": {"max_attempts": -1}, ` + up("")[1:], "queue.max_attempts"},
		{`{"queue": {"result_ttl": "-1s"}, ` + up("")[1:], "ResultTTL"},
		{`{"queue": {"idempotency_ttl": "2562047h"}, ` + up("")[1:], "IdempotencyTTL"},
		{`{"queue": {"result_ttl": "2562047h"}, ` + up("")[1:], "ResultTTL"},
	} {
		path := filepath.Join(t.TempDir(), "c.json")
		if err := os.WriteFile(path, []byte(c.file), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := loadConfig(path, getenv)
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %v, want one naming %s", c.file, err, c.field)
		}
	}
	path := filepath.Join(t.TempDir(), "c.json")
	good := up(`, "headers": {"X-Api-Key": "${KEY}"}, "secret_headers": ["X-Other"], "redirects": {"origins": ["https://cdn.example.com"]}, "result_headers": ["X-RateLimit-*"]`)
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	// Every header the profile sets is redacted like a declared secret.
	sens := strings.Join(cfg.Upstreams[0].sensitiveHeaders(), ",")
	if !strings.Contains(sens, "X-Api-Key") || !strings.Contains(sens, "X-Other") {
		t.Errorf("sensitive headers %q, want the profile's own and its secret ones", sens)
	}
}

// Flags at the edge of their range fail at start too: a lease past store.MaxLease would
// otherwise overflow in the store's arithmetic.
func TestRunRefusesAnOverlongLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, []byte(`{"upstreams": [{"name": "api", "base_url": "http://127.0.0.1:1"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, lease := range []string{"2562047h", "25h", "1ms"} {
		var stdout, stderr bytes.Buffer
		code := runWorker(context.Background(), []string{"--config", path, "--lease", lease}, &stdout, &stderr)
		if code == 0 || !strings.Contains(stderr.String(), "Lease must be in") {
			t.Errorf("--lease %s: exit %d, stderr %q; want a failure naming Lease", lease, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := runWorker(context.Background(), []string{"--config", path, "--log-level", "loud"}, &stdout, &stderr); code != 2 ||
		!strings.Contains(stderr.String(), "--log-level") {
		t.Errorf("--log-level loud: exit %d, stderr %q", code, stderr.String())
	}
}
