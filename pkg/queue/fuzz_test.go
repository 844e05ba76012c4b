package queue_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
)

const (
	fuzzBase = "http://127.0.0.1:9/base"
	fuzzHost = "127.0.0.1:9"
)

var fuzzMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// fuzzProfile is what the worker's profile adds to every job, over the job's own headers.
var fuzzProfile = http.Header{"X-Api-Key": {"profile-key"}}

// FuzzValidate runs every job Validate accepts through the worker's own HTTPHandler, whose client
// hands the request to a wireRecorder instead of the network, and reads the wire back: the
// upstream's host, a clean path under the base path, the job's headers under the profile's and no
// others that steer the request.
func FuzzValidate(f *testing.F) {
	for i, c := range pathCases {
		f.Add(c.path, "Accept", "application/json", uint8(i))
	}
	for i, c := range headerCases {
		f.Add("/v1/items", c.name, c.value, uint8(i))
	}
	f.Add("/v1/items", "x-api-key", "the job's", uint8(0))
	up := fuzzUpstream(f)
	handle := queue.HTTPHandler(up)
	f.Fuzz(func(t *testing.T, p, name, value string, m uint8) {
		job := queue.Request{
			Upstream: up.Name, Method: fuzzMethods[int(m)%len(fuzzMethods)], Path: p,
			Header: http.Header{name: {value}},
		}
		if up.Rules.Validate(job) != nil {
			return
		}
		job, req, raw := workerSend(t, handle, job)
		checkRefusedByTransport(t, job, req)

		if req.URL.Scheme != "http" || req.URL.Host != fuzzHost || req.URL.User != nil || req.Host != fuzzHost {
			t.Fatalf("%+v: sent to %v, host %q", job, req.URL, req.Host)
		}
		line, _, _ := strings.Cut(raw, "\r\n")
		parts := strings.Split(line, " ")
		if len(parts) != 3 || parts[0] != job.Method || parts[2] != "HTTP/1.1" {
			t.Fatalf("%+v: request line %q", job, line)
		}
		target := parts[1]
		checkTarget(t, p, target)

		got, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
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

// fuzzUpstream is a worker's profile of the upstream at fuzzBase whose client sends through a
// wireRecorder: no retries, no breaker. The client is closed when tb ends.
func fuzzUpstream(tb testing.TB) *queue.Upstream {
	tb.Helper()
	base, err := url.Parse(fuzzBase)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := client.New(client.Config{
		Name:      "fuzz",
		Transport: wireRecorder{},
		Retry:     client.RetryConfig{MaxRetries: client.NoRetries},
		Breaker:   breaker.Config{Disabled: true},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
	})
	return &queue.Upstream{Name: "api", BaseURL: base, Client: c, Header: fuzzProfile}
}

// workerSend runs job through the worker's handler as a stored job (its JSON) under lease "1",
// and returns the job as the worker decoded it, the one request its client sent and that
// request's wire form.
func workerSend(tb testing.TB, handle queue.Handler, job queue.Request) (queue.Request, *http.Request, string) {
	tb.Helper()
	payload, err := json.Marshal(job)
	if err != nil {
		tb.Fatal(err)
	}
	// JSON keeps the path and method as they are, and may change a header value: invalid UTF-8
	// becomes U+FFFD. The worker sends what the store holds.
	stored, err := queue.DecodeRequest(payload)
	if err != nil || stored.Path != job.Path || stored.Method != job.Method {
		tb.Fatalf("%+v: stored as %s, read back as %+v (%v)", job, payload, stored, err)
	}
	var sent []wireRecord
	ctx := context.WithValue(context.Background(), wireKey{}, &sent)
	if _, err := handle(ctx, store.Lease{Job: store.Job{ID: "1", Payload: payload}}); !errors.Is(err, errRecorded) {
		tb.Fatalf("%+v: the worker did not send it: %v", job, err)
	}
	if len(sent) != 1 {
		tb.Fatalf("%+v: the worker sent %d requests, want 1", job, len(sent))
	}
	if sent[0].err != nil {
		tb.Fatalf("%+v: writing the request: %v", job, sent[0].err)
	}
	return stored, sent[0].req, sent[0].wire
}

// errRecorded is every wireRecorder's answer: it sends nothing.
var errRecorded = errors.New("recorded, not sent")

type wireKey struct{}

// wireRecord is a request a wireRecorder was given, and its HTTP/1.1 wire form.
type wireRecord struct {
	req  *http.Request
	wire string
	err  error
}

// wireRecorder is a RoundTripper that writes each request as net/http would send it, appends it to
// the *[]wireRecord its context carries under wireKey{}, and fails: nothing is dialled, and no
// redirect follows.
type wireRecorder struct{}

func (wireRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var wire bytes.Buffer
	err := req.Write(&wire) // closes the body, as a RoundTripper must
	if sent, ok := req.Context().Value(wireKey{}).(*[]wireRecord); ok {
		*sent = append(*sent, wireRecord{req: req, wire: wire.String(), err: err})
	}
	return nil, errRecorded
}

var errNoDial = errors.New("no dial")

// noDial checks a request as net/http's transport does before it dials, and goes no further.
var noDial = &http.Transport{
	DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errNoDial },
}

// checkRefusedByTransport asserts that net/http's own transport would send req, which the
// wireRecorder's req.Write does not check as strictly.
func checkRefusedByTransport(tb testing.TB, job queue.Request, req *http.Request) {
	tb.Helper()
	r := req.Clone(context.Background()) // req's context ended with its call
	r.Body, r.GetBody, r.ContentLength = http.NoBody, nil, 0
	resp, err := noDial.RoundTrip(r)
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

// dotsAndSpaces are '.', ' ' and the characters NFKC makes a space: what IIS and Windows trim
// from the end of a segment, once normalised.
const dotsAndSpaces = ". \u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"

// trimsAway reports whether a decoded segment is a dot segment, or turns into one or into nothing
// once a server cuts its ";params" and trims its dots and spaces.
func trimsAway(seg string) bool {
	name, _, _ := strings.Cut(seg, ";")
	return seg != "" && strings.Trim(name, dotsAndSpaces) == ""
}

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
			if trimsAway(seg) {
				tb.Fatalf("path %q: %q decodes to %q, whose segment %q trims to a dot segment or nothing", p, target, d, seg)
			}
		}
	}
	if clean := path.Clean(once); once != clean && once != clean+"/" {
		tb.Fatalf("path %q: %q decodes to %q, not clean", p, target, once)
	}
	for _, c := range []string{"/", ".", "?", "#", ";"} {
		if strings.Count(once, c) != strings.Count(twice, c) {
			tb.Fatalf("path %q: %q decodes twice to a new %q: %q", p, target, c, twice)
		}
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

// checkHeaders asserts the wire carries the profile's header, the job's where the profile sets
// none, and beside them only what net/http and the worker add.
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
		case mine[k], fuzzProfile[k] != nil, k == "User-Agent", k == "Idempotency-Key":
		case k == "Content-Length" && slices.Equal(vs, []string{"0"}):
		default:
			tb.Fatalf("%+v: the wire carries %s: %q in %q", job, k, vs, raw)
		}
	}
	if values != lines {
		tb.Fatalf("%+v: %d header lines on the wire, %d values read back from %q", job, lines, values, raw)
	}
	for k, vs := range fuzzProfile {
		if g := got[k]; !slices.Equal(g, vs) {
			tb.Fatalf("%+v: the profile's header %s read back as %q, want %q", job, k, g, vs)
		}
	}
	for k, vs := range job.Header {
		k = http.CanonicalHeaderKey(k)
		if fuzzProfile[k] != nil {
			continue // the profile's wins
		}
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
