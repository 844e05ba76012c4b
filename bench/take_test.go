package bench

import (
	"context"
	"testing"

	"golang.org/x/time/rate"

	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// alwaysAdmits is a limit no benchmark can exhaust (a billion a second, with a burst to match),
// so both sides measure the cost of a decision, never a refusal. It is within Limit.Validate's
// bounds for exact integer arithmetic.
var alwaysAdmits = store.PerSecond(1_000_000_000)

func newWeirTake(b *testing.B) func() bool {
	st := memory.New(memory.Options{})
	b.Cleanup(func() { st.Close() })
	limits := []store.Limit{alwaysAdmits}
	ctx := context.Background()
	return func() bool {
		d, err := st.Take(ctx, "bench", limits, 1)
		return err == nil && d.Allowed
	}
}

func newRateAllow(*testing.B) func() bool {
	l := rate.NewLimiter(rate.Limit(alwaysAdmits.Requests), int(alwaysAdmits.EffectiveBurst()))
	return l.Allow
}

var takers = []struct {
	name string
	make func(*testing.B) func() bool
}{
	{"weir-memory", newWeirTake},
	{"x-time-rate", newRateAllow},
}

// BenchmarkTake is one caller deciding on one key, again and again.
func BenchmarkTake(b *testing.B) {
	for _, tk := range takers {
		b.Run(tk.name, func(b *testing.B) {
			take := tk.make(b)
			b.ReportAllocs()
			for b.Loop() {
				if !take() {
					b.Fatal("refused")
				}
			}
		})
	}
}

// BenchmarkTakeParallel is every P deciding on the same key at once: the contended case.
func BenchmarkTakeParallel(b *testing.B) {
	for _, tk := range takers {
		b.Run(tk.name, func(b *testing.B) {
			take := tk.make(b)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !take() {
						b.Error("refused")
						return
					}
				}
			})
		})
	}
}
