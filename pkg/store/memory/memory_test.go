package memory_test

import (
	"testing"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
	"github.com/weir-go/weir/pkg/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) store.Store { return memory.New(memory.Options{Clock: clk}) })
}
