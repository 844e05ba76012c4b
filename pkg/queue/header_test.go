package queue_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/weir-go/weir/pkg/queue"
)

// headerCases are the job headers Validate must accept or refuse; FuzzValidate starts from them.
var headerCases = []struct {
	name, value string
	ok          bool
}{
	{"Accept", "application/json", true},
	{"Content-Type", "application/json; charset=utf-8", true},
	{"User-Agent", "weir-test/1", true},
	{"User-Agent", "", true}, // net/http then sends none
	{"User-Agent", " ", true},
	{"Idempotency-Key", "k-1", true},
	{"Idempotency-Key", "", true}, // the worker then sets its own
	{"X-Note", "a\tb", true},
	{"X-Note", " padded ", true},
	{"X-Note", "", true},
	{"X-Note", "caf\xc3\xa9 \xff", true}, // obs-text: net/http sends it
	{"x-lower", "1", true},
	{"X-Token_!#$%&'*+.^`|~9", "1", true},

	{"X-Note", "a\x01b", false},
	{"X-Note", "a\x7fb", false},
	{"X-Note", "a\x00b", false},
	{"X-Note", "a\rb", false},
	{"X-Note", "a\nb", false},
	{"X-Note", "a\x1bb", false},
	{"X-Note", "a\vb", false},
	{"X-Note", "a\fb", false},
	{"", "1", false},
	{"X Note", "1", false},
	{"X-Note:", "1", false},
	{"X\tNote", "1", false},
	{"X\x7fNote", "1", false},
	{"X-Caf\u00e9", "1", false},
	{"X(1)", "1", false},
	{"X{1}", "1", false},
	{"X/1", "1", false},
	{":path", "/admin", false},
	{"Host", "evil.example", false},
	{"host", "evil.example", false},
	{"Content-Length", "0", false},
	{"Transfer-Encoding", "chunked", false},
	{"Trailer", "X-Note", false},
	{"Te", "trailers", false},
	{"Connection", "X-Api-Key", false},
	{"Keep-Alive", "timeout=5", false},
	{"Upgrade", "websocket", false},
	{"Http2-Settings", "AAMAAABkAAQAAP__", false},
	{"Expect", "100-continue", false},
	{"Proxy-Connection", "keep-alive", false},
	{"Proxy-Authorization", "Basic x", false},
	{"Proxy-Anything", "1", false},
	{"Forwarded", "host=evil.example", false},
	{"X-Forwarded-Host", "evil.example", false},
	{"X-Forwarded-Proto", "http", false},
	{"X-Original-Url", "/admin", false},
	{"X-Rewrite-Url", "/admin", false},
	{"X-Http-Method-Override", "TRACE", false},
}

func TestValidateHeader(t *testing.T) {
	for _, c := range headerCases {
		req := queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/v1", Header: http.Header{c.name: {c.value}}}
		err := queue.Rules{}.Validate(req)
		switch {
		case c.ok && err != nil:
			t.Errorf("%q: %q refused: %v", c.name, c.value, err)
		case !c.ok && err == nil:
			t.Errorf("%q: %q accepted", c.name, c.value)
		case err != nil && !errors.Is(err, queue.ErrRejected):
			t.Errorf("%q: %v does not wrap ErrRejected", c.name, err)
		}
	}
}
