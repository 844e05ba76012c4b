package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/fleet"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// TestFleetChild is the entry of the children these tests start; it skips in an ordinary run.
func TestFleetChild(t *testing.T) {
	fleet.Serve(t, map[string]fleet.Role{
		"echo": echo,
		"fail": func(ctx context.Context, l *fleet.Link) error {
			fmt.Fprintln(os.Stderr, "about to fail")
			return errors.New("failing on purpose")
		},
		"deaf": func(ctx context.Context, l *fleet.Link) error {
			// Never reads a command: it ends when its context does.
			<-ctx.Done()
			_ = l.Send(map[string]string{"cause": context.Cause(ctx).Error()})
			if errors.Is(context.Cause(ctx), io.EOF) {
				return nil
			}
			return context.Cause(ctx)
		},
	})
}

type echoMsg struct {
	Index int
	Text  string
}

// echo answers every command with itself and the child's index, until stdin ends.
func echo(ctx context.Context, l *fleet.Link) error {
	for {
		var m echoMsg
		if err := l.Recv(ctx, &m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		m.Index = l.Index()
		if err := l.Send(m); err != nil {
			return err
		}
	}
}

func TestEcho(t *testing.T) {
	f := fleet.Start(t, 3, fleet.Spec{Role: "echo", Lifetime: time.Minute})
	require.NoError(t, f.Broadcast(echoMsg{Text: "hello"}))
	require.NoError(t, f.Send(1, echoMsg{Text: "only one"}))
	seen := map[string]int{}
	for range 4 {
		m, err := f.Recv(10 * time.Second)
		require.NoError(t, err)
		var e echoMsg
		require.NoError(t, m.Decode(&e))
		require.Equal(t, m.From, e.Index, "the child's index travels with its reply")
		seen[fmt.Sprintf("%d:%s", e.Index, e.Text)]++
	}
	require.Equal(t, map[string]int{"0:hello": 1, "1:hello": 1, "2:hello": 1, "1:only one": 1}, seen)
	require.NoError(t, f.Stop(10*time.Second), "closing stdin ends every child cleanly")
	_, err := f.Recv(time.Second)
	require.ErrorContains(t, err, "every child has exited")
}

func TestChildFailureReachesParent(t *testing.T) {
	f := fleet.Start(t, 1, fleet.Spec{Role: "fail", Lifetime: time.Minute})
	_, err := f.Recv(20 * time.Second)
	require.Error(t, err)
	require.ErrorContains(t, err, "failing on purpose", "the child's own words come with the error")
	require.ErrorContains(t, err, "about to fail")
	require.Error(t, f.Stop(time.Second))
}

func TestChildEndsWithStdin(t *testing.T) {
	f := fleet.Start(t, 1, fleet.Spec{Role: "deaf", Lifetime: time.Minute})
	require.NoError(t, f.Stop(10*time.Second))
	m, err := f.Recv(time.Second)
	require.NoError(t, err)
	require.Contains(t, string(m.Data), "EOF")
}

func TestChildEndsWithLifetime(t *testing.T) {
	f := fleet.Start(t, 1, fleet.Spec{Role: "deaf", Lifetime: time.Second})
	m, err := f.Recv(20 * time.Second)
	require.NoError(t, err)
	require.Contains(t, string(m.Data), fleet.ErrLifetime.Error())
	_, err = f.Recv(20 * time.Second)
	require.ErrorContains(t, err, "lifetime over", "outliving its lifetime is a failure")
}

func TestKill(t *testing.T) {
	f := fleet.Start(t, 2, fleet.Spec{Role: "echo", Lifetime: time.Minute})
	f.Kill(0)
	require.Error(t, f.Send(0, echoMsg{Text: "gone"}), "a killed child takes no more commands")
	require.NoError(t, f.Send(1, echoMsg{Text: "still here"}))
	m, err := f.Recv(10 * time.Second)
	require.NoError(t, err, "a child killed on purpose is no failure")
	require.Equal(t, 1, m.From)
	require.NoError(t, f.Stop(10*time.Second))
}

func TestWorstIntervalMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now()
	for trial := range 300 {
		l := store.Limit{Requests: 1 + rng.Int64N(50), Per: time.Duration(1+rng.IntN(1000)) * time.Millisecond, Burst: 1 + rng.Int64N(10)}
		n := 1 + rng.IntN(60)
		arrivals := make([]time.Time, n)
		for i := range arrivals {
			arrivals[i] = base.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
		}
		got := fleet.WorstInterval(arrivals, l)
		s := fleet.Sorted(arrivals)
		want := float64(1) - float64(l.EffectiveBurst())
		for i := range s {
			for j := i; j < len(s); j++ {
				want = max(want, float64(j-i+1)-fleet.Allowed(l, s[j].Sub(s[i])))
			}
		}
		require.InDelta(t, want, got.Excess(), 1e-9, "trial %d, %s, %d arrivals", trial, l, n)
		require.Equal(t, got.Last-got.First+1, got.Count)
		require.Equal(t, s[got.Last].Sub(s[got.First]), got.Span)
	}
}

func TestWorstIntervalOfAnExactBucket(t *testing.T) {
	l := store.PerSecond(10).WithBurst(3)
	base := time.Now()
	var arrivals []time.Time
	for range 3 {
		arrivals = append(arrivals, base) // the full bucket at once
	}
	for k := 1; k <= 20; k++ {
		arrivals = append(arrivals, base.Add(time.Duration(k)*100*time.Millisecond))
	}
	require.InDelta(t, 0, fleet.WorstInterval(arrivals, l).Excess(), 1e-9, "a perfect GCRA schedule meets the bound exactly")

	// One token too many: every interval from the start that holds it is one over, and the
	// first of those found is [0, 1.1 s] (15 arrivals where 3 + 11 are allowed).
	arrivals = append(arrivals, base.Add(1050*time.Millisecond))
	iv := fleet.WorstInterval(arrivals, l)
	require.InDelta(t, 1, iv.Excess(), 1e-9)
	require.Equal(t, 0, iv.First)
	require.Equal(t, 15, iv.Count)
	require.Equal(t, 1100*time.Millisecond, iv.Span)
	require.Empty(t, fleet.WorstInterval(nil, l).Count)
}

func TestUpstreamHoldsAndCounts(t *testing.T) {
	u := fleet.NewUpstream(t)
	resp, err := http.Get(u.WarmURL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Zero(t, u.Count(), "warm-up requests are not recorded")

	u.SetStatus(http.StatusInternalServerError)
	u.Hold()
	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 {
		wg.Go(func() {
			resp, err := http.Get(u.URL)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	require.Equal(t, 2, u.WaitCount(2, 10*time.Second))
	select {
	case c := <-codes:
		t.Fatalf("a held request answered %d", c)
	case <-time.After(50 * time.Millisecond):
	}
	u.SetStatus(http.StatusOK)
	u.Release()
	wg.Wait()
	require.Equal(t, http.StatusOK, <-codes)
	require.Equal(t, http.StatusOK, <-codes)
	require.Len(t, u.Arrivals(), 2)
	require.Equal(t, 2, u.WaitCount(5, 10*time.Millisecond), "WaitCount gives up with what it has")
	require.True(t, strings.HasSuffix(u.URL, "/api"))
}

// gcra returns the decision times of a saturated GCRA bucket for l from base: Burst at once,
// then one every Per/Requests.
func gcra(l store.Limit, base time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	step := l.Per / time.Duration(l.Requests)
	for i := range out {
		k := max(0, int64(i)-l.EffectiveBurst()+1)
		out[i] = base.Add(time.Duration(k) * step)
	}
	return out
}

func TestWorstDecisionsMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Now()
	for trial := range 300 {
		l := store.Limit{Requests: 1 + rng.Int64N(50), Per: time.Duration(1+rng.IntN(1000)) * time.Millisecond, Burst: 1 + rng.Int64N(10)}
		n := 1 + rng.IntN(40)
		bs := make([]fleet.Bracket, n)
		for i := range bs {
			a := base.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			bs[i] = fleet.Bracket{Asked: a, Granted: a.Add(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))}
		}
		got := fleet.WorstDecisions(bs, l)
		want := math.Inf(-1)
		for _, x := range bs {
			for _, y := range bs {
				if y.Granted.Before(x.Asked) {
					continue
				}
				count := 0
				for _, b := range bs {
					if !b.Asked.Before(x.Asked) && !b.Granted.After(y.Granted) {
						count++
					}
				}
				if count == 0 {
					continue // an empty window is never a breach, and WorstDecisions skips them
				}
				want = max(want, float64(count)-fleet.Allowed(l, y.Granted.Sub(x.Asked)+time.Microsecond))
			}
		}
		require.InDelta(t, want, got.Excess(), 1e-9, "trial %d, %s, %d brackets", trial, l, n)
	}
}

func TestWorstArrivalsMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	base := time.Now()
	for trial := range 300 {
		l := store.Limit{Requests: 1 + rng.Int64N(50), Per: time.Duration(1+rng.IntN(1000)) * time.Millisecond, Burst: 1 + rng.Int64N(10)}
		n := 1 + rng.IntN(40)
		as := make([]fleet.Arrival, n)
		for i := range as {
			asked := base.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			granted := asked.Add(time.Duration(rng.Int64N(int64(5 * time.Millisecond))))
			as[i] = fleet.Arrival{Asked: asked, Granted: granted, At: granted.Add(time.Duration(rng.Int64N(int64(30 * time.Millisecond))))}
		}
		got := fleet.WorstArrivals(as, l)
		slices.SortFunc(as, func(a, b fleet.Arrival) int { return a.At.Compare(b.At) })
		want := math.Inf(-1)
		for i := range as {
			for j := i; j < n; j++ {
				lo, hi := as[i].Asked, as[i].Granted
				for _, a := range as[i : j+1] {
					if a.Asked.Before(lo) {
						lo = a.Asked
					}
					if a.Granted.After(hi) {
						hi = a.Granted
					}
				}
				span := max(as[j].At.Sub(as[i].At), hi.Sub(lo)+time.Microsecond)
				want = max(want, float64(j-i+1)-fleet.Allowed(l, span))
			}
		}
		require.InDelta(t, want, got.Excess(), 1e-9, "trial %d, %s, %d arrivals", trial, l, n)
	}
}

// A correct limiter passes the stamped checks however the requests are delayed on their way,
// where the bare arrival check sees a breach; one token too many fails them all.
func TestStampedChecksSeeThroughDelays(t *testing.T) {
	l := store.PerSecond(200).WithBurst(20)
	rng := rand.New(rand.NewPCG(7, 8))
	base := time.Now()
	decided := gcra(l, base, 1000)
	arrivals := make([]fleet.Arrival, len(decided))
	for i, d := range decided {
		delay := time.Duration(rng.Int64N(int64(time.Millisecond)))
		if i < 40 {
			// The first burst and what follows go out on cold connections and arrive late:
			// every interval from the first arrival, where the bound is tight, looks too full.
			delay += 15 * time.Millisecond
		}
		if rng.IntN(50) == 0 {
			delay += 80 * time.Millisecond // a stall
		}
		arrivals[i] = fleet.Arrival{Asked: d.Add(-200 * time.Microsecond), Granted: d.Add(300 * time.Microsecond), At: d.Add(delay)}
	}
	require.Greater(t, fleet.WorstInterval(fleet.Times(arrivals), l).Excess(), 2.0, "stalls make the bare arrivals look like a breach")
	require.LessOrEqual(t, fleet.WorstArrivals(arrivals, l).Excess(), 0.0)
	require.LessOrEqual(t, fleet.WorstDecisions(fleet.Brackets(arrivals), l).Excess(), 0.0)

	// One more token, in the middle of the run, decided along with another.
	extra := arrivals[500]
	extra.At = extra.At.Add(time.Microsecond)
	arrivals = append(arrivals, extra)
	require.Greater(t, fleet.WorstArrivals(arrivals, l).Excess(), 0.5)
	require.Greater(t, fleet.WorstDecisions(fleet.Brackets(arrivals), l).Excess(), 0.5)
}

// The stamps travel from a real client to the upstream: the client hands the caller's context to
// the store's Take and to the transport, which is what StampGrants and Stamp rely on.
func TestStampsReachTheUpstream(t *testing.T) {
	u := fleet.NewUpstream(t)
	c, err := client.New(client.Config{
		Name:      "stamps",
		Store:     fleet.StampGrants(memory.New(memory.Options{})),
		Limits:    []store.Limit{store.PerSecond(1000)},
		Transport: fleet.Stamp(http.DefaultTransport),
	})
	require.NoError(t, err)
	defer c.Close()
	for range 3 {
		before := time.Now()
		resp, err := c.Get(fleet.WithGrant(context.Background()), u.URL)
		require.NoError(t, err)
		resp.Body.Close()
		a := u.Arrivals()[u.Count()-1]
		require.False(t, a.Asked.Before(before.Truncate(0)), "%+v", a)
		require.False(t, a.Granted.Before(a.Asked), "%+v", a)
		require.False(t, a.Sent.Before(a.Granted), "%+v", a)
		require.False(t, a.At.Truncate(0).Before(a.Sent), "%+v", a)
		require.NotEmpty(t, a.Grant)
	}
	ids := map[string]bool{}
	for _, a := range u.Arrivals() {
		require.False(t, ids[a.Grant], "grant ids are unique")
		ids[a.Grant] = true
	}
	// Without a grant in the context only the send time is stamped.
	resp, err := c.Get(context.Background(), u.URL)
	require.NoError(t, err)
	resp.Body.Close()
	a := u.Arrivals()[u.Count()-1]
	require.True(t, a.Asked.IsZero() && a.Granted.IsZero(), "%+v", a)
	require.False(t, a.Sent.IsZero())
	require.Len(t, fleet.Times(u.Arrivals()), 4)
}
