package fleet

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/weir-go/weir/pkg/store"
)

// The headers in which a sender stamps its requests for an Upstream, each in Unix nanoseconds on
// the wall clock, which every process on one machine shares (and which Redis TIME reads too).
const (
	// AskedHeader is when the store was asked for the token that admitted the request.
	AskedHeader = "X-Fleet-Asked"
	// GrantedHeader is when the store's answer granting it came back. The store decided in
	// between: an observer outside the store can place the decision no closer.
	GrantedHeader = "X-Fleet-Granted"
	// SentHeader is when the request left the client.
	SentHeader = "X-Fleet-Sent"
	// GrantHeader names the call the token was granted to, unique across processes: two
	// arrivals naming one call were one token spent twice (or one request sent twice).
	GrantHeader = "X-Fleet-Grant"
)

type grantKey struct{}

// grant is where a Take that admits notes its bracket, for the call whose context carries it.
type grant struct {
	id             string
	asked, granted atomic.Int64
}

var grants atomic.Int64 // how many WithGrant calls this process has made

// WithGrant returns a context for one call, in which a store wrapped by StampGrants notes when the
// call's token was asked for and granted, and Stamp then finds it.
func WithGrant(ctx context.Context) context.Context {
	id := strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(grants.Add(1), 10)
	return context.WithValue(ctx, grantKey{}, &grant{id: id})
}

// StampGrants wraps st so that every Take that admits notes, in the grant that its context
// carries (see WithGrant), the instants just before it asked st and just after st answered. A
// client passes the caller's context to Take, so the grant is the call's own.
func StampGrants(st store.Store) store.Store { return grantStamper{st} }

type grantStamper struct{ store.Store }

func (s grantStamper) Take(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	asked := time.Now().UnixNano()
	d, err := s.Store.Take(ctx, key, limits, n)
	if err == nil && d.Allowed {
		if g, ok := ctx.Value(grantKey{}).(*grant); ok {
			g.asked.Store(asked)
			g.granted.Store(time.Now().UnixNano())
		}
	}
	return d, err
}

// TakeOrdered notes each admitted caller's bracket, finding the callers' contexts as the waiting
// line passes them (store.WithCallers): one call decides for several callers.
func (s grantStamper) TakeOrdered(ctx context.Context, key string, limits []store.Limit, costs []int64) ([]store.Decision, error) {
	asked := time.Now().UnixNano()
	ds, err := s.Store.TakeOrdered(ctx, key, limits, costs)
	granted := time.Now().UnixNano()
	callers := store.Callers(ctx)
	for i, d := range ds {
		if !d.Allowed || i >= len(callers) {
			continue
		}
		if g, ok := callers[i].Value(grantKey{}).(*grant); ok {
			g.asked.Store(asked)
			g.granted.Store(granted)
		}
	}
	return ds, err
}

// Stamp returns a RoundTripper that stamps SentHeader on each request, and AskedHeader,
// GrantedHeader and GrantHeader when the request's context carries a grant that was noted, then
// hands the request to next.
func Stamp(next http.RoundTripper) http.RoundTripper { return stamper{next} }

type stamper struct{ next http.RoundTripper }

func (s stamper) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context()) // a RoundTripper must not change the caller's request
	if g, ok := r.Context().Value(grantKey{}).(*grant); ok && g.granted.Load() != 0 {
		r.Header.Set(AskedHeader, strconv.FormatInt(g.asked.Load(), 10))
		r.Header.Set(GrantedHeader, strconv.FormatInt(g.granted.Load(), 10))
		r.Header.Set(GrantHeader, g.id)
	}
	r.Header.Set(SentHeader, strconv.FormatInt(time.Now().UnixNano(), 10))
	return s.next.RoundTrip(r)
}

// stampOf reads one of the headers, the zero time when it is absent or malformed.
func stampOf(h http.Header, name string) time.Time {
	ns, err := strconv.ParseInt(h.Get(name), 10, 64)
	if err != nil || ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
