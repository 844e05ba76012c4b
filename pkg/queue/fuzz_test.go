package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weir-go/weir/pkg/queue"
)

const (
	fuzzBase = "http://127.0.0.1:9/base"
	fuzzHost = "127.0.0.1:9"
)

var fuzzMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// FuzzValidate sends every job Validate accepts through net/http the way the worker does, and reads
// the wire back: the upstream's host, a clean path under the base path, the job's headers and no
// others that steer the request.
func FuzzValidate(f *testing.F) {
	for i, c := range pathCases {
		f.Add(c.path, "Accept", "application/json", uint8(i))
	}
	for i, c := range headerCases {
		f.Add("/v1/items", c.name, c.value, uint8(i))
	}
	f.Fuzz(func(t *testing.T, p, name, value string, m uint8) {
		job := queue.Request{
			Upstream: "api", Method: fuzzMethods[int(m)%len(fuzzMethods)], Path: p,
			Header: http.Header{name: {value}},
		}
		if (queue.Rules{}).Validate(job) != nil {
			return
		}
		checkRefusedByTransport(t, job)

		req := asWorker(t, job)
		if req.URL.Scheme != "http" || req.URL.Host != fuzzHost || req.URL.User != nil || req.Host != fuzzHost {
			t.Fatalf("%+v: sent to %v, host %q", job, req.URL, req.Host)
		}
		var wire bytes.Buffer
		if err := req.Write(&wire); err != nil {
			t.Fatalf("%+v: writing the request: %v", job, err)
		}
		raw := wire.String()
		line, _, _ := strings.Cut(raw, "\r\n")
		parts := strings.Split(line, " ")
		if len(parts) != 3 || parts[0] != job.Method || parts[2] != "HTTP/1.1" {
			t.Fatalf("%+v: request line %q", job, line)
		}
		target := parts[1]
		checkTarget(t, p, target)

		got, err := http.ReadRequest(bufio.NewReader(&wire))
		if err != nil {
			t.Fatalf("%+v: reading back %q: %v", job, raw, err)
		}
		if got.Host != fuzzHost || got.URL.Host != "" || got.URL.Scheme != "" || got.RequestURI != target {
			t.Fatalf("%+v: read back host %q, URL %v, target %q from %q", job, got.Host, got.URL, got.RequestURI, raw)
		}
		if got.ContentLength != 0 || len(got.TransferEncoding) != 0 || got.Close {
			t.Fatalf("%+v: read back length %d, encoding %q, close %v from %q", job, got.ContentLength, got.TransferEncoding, got.Close, raw)
		}
		checkHeaders(t, job, got.Header, raw)
	})
}

// asWorker builds the job's request as HTTPHandler does.
func asWorker(tb testing.TB, job queue.Request) *http.Request {
	tb.Helper()
	base, err := url.Parse(fuzzBase)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), job.Method, queue.JoinURL(base, job.Path).String(), bytes.NewReader(job.Body))
	if err != nil {
		tb.Fatalf("%+v: building the request: %v", job, err)
	}
	for k, vs := range job.Header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if req.Header.Get("Idempotency-Key") == "" {
		req.Header.Set("Idempotency-Key", "weir-1")
	}
	return req
}

var errNoDial = errors.New("no dial")

// noDial checks a request as net/http's transport does before it dials, and goes no further.
var noDial = &http.Transport{
	DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errNoDial },
}

func checkRefusedByTransport(tb testing.TB, job queue.Request) {
	tb.Helper()
	resp, err := noDial.RoundTrip(asWorker(tb, job))
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, errNoDial) {
		tb.Fatalf("%+v: net/http refuses it: %v", job, err)
	}
}

// targetBytes are the bytes a request-target may hold unescaped (RFC 3986 pchar, "/" and "?").
const targetBytes = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/?%"

// lookalikes normalise to '.', '/', '\', '%' or ';' (NFKC), or are drawn as a slash.
const lookalikes = "\u037e\u2024\u2025\u2026\u2044\u2215\u2216\u29f5\u29f8\u29f9\ufe14\ufe19\ufe30\ufe52\ufe54\ufe68\ufe6a\uff05\uff0e\uff0f\uff1b\uff3c"

// checkTarget asserts the request-target is the job's path under the base path, in a form that
// one or two decodings cannot turn into another path.
func checkTarget(tb testing.TB, p, target string) {
	tb.Helper()
	pathPart, query, _ := strings.Cut(p, "?")
	want := "/base" + pathPart
	if query != "" {
		want += "?" + query
	}
	if target != want {
		tb.Fatalf("path %q: request-target %q, want %q", p, target, want)
	}
	for i := 0; i < len(target); i++ {
		if inQuery := i > len("/base")+len(pathPart); inQuery && (target[i] == '[' || target[i] == ']') {
			continue // raw brackets are allowed in a query
		}
		if !strings.Contains(targetBytes, target[i:i+1]) {
			tb.Fatalf("path %q: request-target %q holds %q", p, target, target[i:i+1])
		}
	}
	wirePath, _, _ := strings.Cut(target, "?")
	once, err := url.PathUnescape(wirePath)
	if err != nil {
		tb.Fatalf("path %q: request-target %q does not decode: %v", p, target, err)
	}
	if !strings.HasPrefix(once, "/base/") {
		tb.Fatalf("path %q: %q decodes to %q, not under /base/", p, target, once)
	}
	twice := unescapeSome(once)
	for _, d := range []string{once, twice} {
		if !utf8.ValidString(d) || strings.ContainsFunc(d, func(r rune) bool {
			return r < 0x20 || r == 0x7f || r == '\\' || strings.ContainsRune(lookalikes, r)
		}) {
			tb.Fatalf("path %q: %q decodes to %q", p, target, d)
		}
		for seg := range strings.SplitSeq(d, "/") {
			if name, _, _ := strings.Cut(seg, ";"); name == "." || name == ".." {
				tb.Fatalf("path %q: %q decodes to %q, with a dot segment", p, target, d)
			}
		}
	}
	if clean := path.Clean(once); once != clean && once != clean+"/" {
		tb.Fatalf("path %q: %q decodes to %q, not clean", p, target, once)
	}
	if strings.Count(once, "/") != strings.Count(twice, "/") || strings.Count(once, ".") != strings.Count(twice, ".") {
		tb.Fatalf("path %q: %q decodes twice to new slashes or dots: %q", p, target, twice)
	}
}

// unescapeSome decodes each well-formed %XX and keeps anything else, as a lenient second decoding would.
func unescapeSome(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if d, err := url.PathUnescape(s[i : i+3]); err == nil {
				b.WriteString(d)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// checkHeaders asserts the wire carries the job's header as sent, and beside it only what net/http
// and the worker add.
func checkHeaders(tb testing.TB, job queue.Request, got http.Header, raw string) {
	tb.Helper()
	lines := strings.Count(raw, "\r\n") - 2 // the request line and the blank line
	values := 1                             // Host, which ReadRequest takes out of the header
	mine := map[string]bool{}
	for k := range job.Header {
		mine[http.CanonicalHeaderKey(k)] = true
	}
	for k, vs := range got {
		values += len(vs)
		switch {
		case steers(k):
			tb.Fatalf("%+v: the wire carries %s: %q", job, k, vs)
		case mine[k], k == "User-Agent", k == "Idempotency-Key":
		case k == "Content-Length" && slices.Equal(vs, []string{"0"}):
		default:
			tb.Fatalf("%+v: the wire carries %s: %q in %q", job, k, vs, raw)
		}
	}
	if values != lines {
		tb.Fatalf("%+v: %d header lines on the wire, %d values read back from %q", job, lines, values, raw)
	}
	for k, vs := range job.Header {
		k = http.CanonicalHeaderKey(k)
		want := make([]string, len(vs))
		for i, v := range vs {
			want[i] = strings.Trim(v, " \t")
		}
		switch {
		case k == "User-Agent" && slices.Equal(vs, []string{""}):
			want = nil // an empty User-Agent tells net/http to send none
		case k == "Idempotency-Key" && (len(vs) == 0 || vs[0] == ""):
			want = []string{"weir-1"} // the worker sets its own
		}
		if g := got[k]; !slices.Equal(g, want) {
			tb.Fatalf("%+v: header %s read back as %q, want %q", job, k, g, want)
		}
	}
}

// steers reports whether a header sent by a job would change the connection, the framing, or the
// host, path or method a server or proxy acts on.
func steers(k string) bool {
	for _, prefix := range []string{"Proxy-", "X-Forwarded-"} {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return slices.Contains([]string{
		"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings", "Expect",
		"Forwarded", "X-Original-Url", "X-Rewrite-Url", "X-Http-Method-Override", "X-Http-Method", "X-Method-Override",
	}, k)
}
