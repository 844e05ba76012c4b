package adaptfleet_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/adaptfleet"
	"github.com/weir-go/weir/internal/vendorapi"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store/memory"
)

// TestOneProcess runs every scenario with three clients sharing one memory store: the fleet's
// behaviour without the network to the store.
func TestOneProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("a 30 s scenario")
	}
	const members = 3
	st := memory.New(memory.Options{})
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	scs := adaptfleet.Scenarios()
	servers := make([]*vendorapi.Server, len(scs))
	for i, sc := range scs {
		srv, err := vendorapi.New(sc.Kind, sc.Config)
		require.NoError(t, err)
		servers[i] = srv
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		for range members {
			c, err := client.New(adaptfleet.ClientConfig(sc, st, log))
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			wg.Go(func() {
				_, err := adaptfleet.Drive(ctx, c, hs.URL+"/v1/thing", sc, sc.Requests/members)
				if err != nil {
					t.Errorf("%s: %v", sc.Kind, err)
				}
			})
		}
	}
	wg.Wait()
	for i, sc := range scs {
		v, err, missed := adaptfleet.Judge(servers[i], sc, adaptfleet.Strict())
		t.Log(v, windows(servers[i]))
		if missed != nil {
			t.Logf("acceptance missed: %v", missed)
		}
		if err != nil {
			t.Error(err)
		}
	}
}
