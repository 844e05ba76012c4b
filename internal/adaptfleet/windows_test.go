package adaptfleet_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/weir-go/weir/internal/vendorapi"
)

// windows shows, per server window from the first, the requests served and rejected in it.
func windows(s *vendorapi.Server) string {
	var b strings.Builder
	arr := s.Arrivals()
	if len(arr) == 0 {
		return ""
	}
	type w struct{ ok, rej int }
	m := map[int64]*w{}
	lo, hi := arr[len(arr)-1].Window, arr[len(arr)-1].Window
	global := map[int64]int{}
	var g0 int64
	for _, a := range arr {
		if a.Global {
			if len(global) == 0 {
				g0 = a.Window
			}
			global[a.Window]++
			continue
		}
		if m[a.Window] == nil {
			m[a.Window] = &w{}
		}
		if a.Status == 200 {
			m[a.Window].ok++
		} else {
			m[a.Window].rej++
		}
		lo, hi = min(lo, a.Window), max(hi, a.Window)
	}
	for k := lo; k <= hi; k++ {
		if m[k] == nil {
			fmt.Fprintf(&b, " [%d:-]", k-lo)
			continue
		}
		fmt.Fprintf(&b, " [%d:%d/%d]", k-lo, m[k].ok, m[k].rej)
	}
	if len(global) > 0 {
		// Discord's global rejections, by global window from the first that had one.
		ks := slices.Sorted(maps.Keys(global))
		b.WriteString("  global rejections:")
		for _, k := range ks {
			fmt.Fprintf(&b, " [%d:%d]", k-g0, global[k])
		}
	}
	return b.String()
}
