package adaptfleet_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/adaptfleet"
	"github.com/weir-go/weir/internal/demoapi"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store/memory"
)

// TestDemoAPI runs the worker demo's job against demo APIs allowing more and less than the
// configured limit, every scenario at once, each with three clients sharing one memory store (a
// fleet whose members each learn the API's windows for themselves).
func TestDemoAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("a 12 s scenario")
	}
	scs := adaptfleet.DemoScenarios()
	if len(scs) == 0 {
		t.Skip("WEIR_ADAPT_ONLY names no demo scenario")
	}
	const members = 3
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	apis := make([]*demoapi.API, len(scs))
	var wg sync.WaitGroup
	for i, sc := range scs {
		api, err := adaptfleet.NewDemoAPI(sc)
		require.NoError(t, err)
		srv, err := demoapi.Serve(api)
		require.NoError(t, err)
		t.Cleanup(func() { _ = srv.Close() })
		apis[i] = api
		for range members {
			c, err := client.New(adaptfleet.DemoClientConfig(sc, st, log))
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			wg.Go(func() {
				if _, err := adaptfleet.Drive(ctx, c, srv.URL+"/items", sc.Work(), sc.Requests/members); err != nil {
					t.Errorf("%s: %v", sc.Name(), err)
				}
			})
		}
	}
	wg.Wait()
	for i, sc := range scs {
		v, err, missed := adaptfleet.JudgeDemo(apis[i], sc, adaptfleet.Strict())
		t.Log(v)
		if missed != nil {
			t.Logf("acceptance missed: %v", missed)
		}
		if err != nil {
			t.Error(err)
		}
	}
}
