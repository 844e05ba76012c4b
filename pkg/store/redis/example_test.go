package redis_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

func ExampleOpen() {
	mr, err := miniredis.Run() // a real server's URL in production: redis://user:pass@host:6379/0
	if err != nil {
		panic(err)
	}
	defer mr.Close()

	ctx := context.Background()
	s, err := weirredis.Open(ctx, "redis://"+mr.Addr(), weirredis.Options{Prefix: "myapp"})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	// Every process that opens the same Redis shares this limit.
	limits := []store.Limit{store.PerSecond(2)}
	for range 3 {
		d, err := s.Take(ctx, "partner-api", limits, 1)
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Allowed, d.Remaining)
	}
	// Output:
	// true 1
	// true 0
	// false 0
}
