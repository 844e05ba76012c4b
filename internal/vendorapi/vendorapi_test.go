package vendorapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-go/weir/pkg/clock"
)

// epoch is 2026-01-01T00:00:00Z, the start of a window for every window length these tests use.
var epoch = time.Unix(1767225600, 0).UTC()

// fixture is a Server on a real loopback port, with a fake clock and a real client.
type fixture struct {
	tb     testing.TB
	clk    *clock.Fake
	srv    *Server
	url    string
	client *http.Client
}

// serve starts kind with cfg on loopback, its clock reading at; the server stops when tb ends.
func serve(tb testing.TB, kind Kind, cfg Config, at time.Time) *fixture {
	tb.Helper()
	clk := clock.NewFake(at)
	cfg.Now = clk.Now
	srv, err := New(kind, cfg)
	if err != nil {
		tb.Fatalf("New(%s): %v", kind, err)
	}
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return &fixture{tb: tb, clk: clk, srv: srv, url: hs.URL, client: hs.Client()}
}

// reply is one answer as the client received it.
type reply struct {
	status int
	header http.Header
	body   string
}

func (f *fixture) get(path string) reply {
	f.tb.Helper()
	return f.do(http.MethodGet, path, "")
}

func (f *fixture) post(path, body string) reply {
	f.tb.Helper()
	return f.do(http.MethodPost, path, body)
}

func (f *fixture) do(method, path, body string) reply {
	f.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.tb.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.tb.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// at moves the fake clock to epoch+d.
func (f *fixture) at(d time.Duration) { f.clk.Set(epoch.Add(d)) }

// wantHeaders checks that each named header has exactly the given value ("" meaning absent).
func wantHeaders(tb testing.TB, what string, h http.Header, want map[string]string) {
	tb.Helper()
	for name, v := range want {
		got, present := h[http.CanonicalHeaderKey(name)]
		switch {
		case v == "" && present:
			tb.Errorf("%s: %s = %q, want it absent", what, name, got)
		case v != "" && (len(got) != 1 || got[0] != v):
			tb.Errorf("%s: %s = %q, want %q", what, name, got, v)
		}
	}
}

// onlyDefaultHeaders checks that a response carries nothing beyond what net/http always adds and
// the allowed extras.
func onlyDefaultHeaders(tb testing.TB, what string, h http.Header, extra ...string) {
	tb.Helper()
	allowed := append([]string{"Date", "Content-Length", "Content-Type"}, extra...)
	for name := range h {
		if !slices.Contains(allowed, name) {
			tb.Errorf("%s: unexpected header %s: %q", what, name, h[name])
		}
	}
}

func TestEveryKindRejectsOverQuotaAndAdmitsInTheNextWindow(t *testing.T) {
	for _, kind := range Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			f := serve(t, kind, Config{Quota: 2, Window: 10 * time.Second, TokenQuota: 100, GlobalQuota: 50, GlobalWindow: time.Second}, epoch.Add(3*time.Second))
			reject := http.StatusTooManyRequests
			if kind == GitHub {
				reject = http.StatusForbidden
			}
			want := []int{http.StatusOK, http.StatusOK, reject, reject}
			for i, w := range want {
				if r := f.get("/v1/items"); r.status != w {
					t.Fatalf("request %d: status %d, want %d (body %q)", i+1, r.status, w, r.body)
				}
			}
			f.at(10 * time.Second)
			r := f.get("/v1/items")
			if r.status != http.StatusOK || r.body != `{"ok":true,"n":5}` {
				t.Fatalf("first request of the next window: %d %q, want 200 {\"ok\":true,\"n\":5}", r.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
			got := f.srv.Arrivals()
			if len(got) != 5 {
				t.Fatalf("%d arrivals recorded, want 5", len(got))
			}
			for i, a := range got[:4] {
				if a.Status != want[i] || a.Window != 176722560 || a.Path != "/v1/items" || a.Cost != 1 || a.Global {
					t.Errorf("arrival %d = %+v, want status %d in window 176722560", i+1, a, want[i])
				}
			}
			if last := got[4]; last.Window != 176722561 || !last.At.Equal(epoch.Add(10*time.Second)) {
				t.Errorf("last arrival = %+v, want window 176722561 at %v", last, epoch.Add(10*time.Second))
			}
		})
	}
}

func TestConcurrentRequestsNeverExceedTheQuota(t *testing.T) {
	f := serve(t, GitHub, Config{Quota: 25, Window: time.Second}, epoch)
	const workers, each = 6, 15
	var wg sync.WaitGroup
	statuses := make(chan int, workers*each)
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				resp, err := f.client.Get(f.url + "/x")
				if err != nil {
					errs <- err
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses <- resp.StatusCode
			}
		})
	}
	wg.Wait()
	close(statuses)
	close(errs)
	for err := range errs {
		t.Fatalf("GET: %v", err)
	}
	ok := 0
	for s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 25 {
		t.Errorf("%d requests admitted, want exactly the quota of 25", ok)
	}
	if r := f.srv.Report(); r.Served != 25 || r.Rejected != workers*each-25 {
		t.Errorf("Report: served %d, rejected %d; want 25 and %d", r.Served, r.Rejected, workers*each-25)
	}
}

func TestAClockSteppingBackFreesNoQuota(t *testing.T) {
	f := serve(t, X, Config{Quota: 1, Window: time.Second}, epoch.Add(1500*time.Millisecond))
	if r := f.get("/"); r.status != http.StatusOK {
		t.Fatalf("first request: %d, want 200", r.status)
	}
	f.at(900 * time.Millisecond) // back into the previous window
	r := f.get("/")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("after the clock stepped back: %d, want 429", r.status)
	}
	wantHeaders(t, "after the step back", r.header, map[string]string{"x-rate-limit-reset": "1767225602"})
}
