package main

import (
	"context"
	"fmt"
	"os"

	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
	"github.com/weir-go/weir/pkg/store/redis"
)

// fullStore is what the worker needs of a store: limits, breakers and queues.
type fullStore interface {
	store.Store
	store.Queues
	store.Learner
}

// redisURL is --redis, or WEIR_REDIS_URL when the flag is empty.
func redisURL(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("WEIR_REDIS_URL")
}

// openStore opens the Redis store at url, or returns an in-memory store when url is empty and
// memoryOK.
func openStore(ctx context.Context, url, prefix string, memoryOK bool) (fullStore, error) {
	if url == "" {
		if !memoryOK {
			return nil, errNeedRedis
		}
		return memory.New(memory.Options{}), nil
	}
	rs, err := redis.Open(ctx, url, redis.Options{Prefix: prefix})
	if err != nil {
		return nil, err
	}
	fs, ok := any(rs).(fullStore)
	if !ok {
		_ = rs.Close()
		return nil, fmt.Errorf("the Redis store does not hold queues in this build")
	}
	return fs, nil
}
