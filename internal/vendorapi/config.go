package vendorapi

import (
	"fmt"
	"time"
)

// Config says how much a Server admits. Windows are fixed and aligned to the Unix epoch: window k
// of length W covers [k·W, (k+1)·W) of Unix time, so every window ends on a whole Unix second and
// the epoch-second resets and HTTP-dates the vendors send are exact. Fields a kind does not use
// are ignored.
type Config struct {
	// Quota is how many requests one window admits. At least 1.
	Quota int
	// Window is the length of a window: a whole number of seconds, at least 1 s.
	Window time.Duration
	// TokenQuota is how many tokens one window admits (OpenAI only, at least 1 there). A request
	// is admitted only if both Quota and TokenQuota have room for it.
	TokenQuota int64
	// GlobalQuota is how many requests one GlobalWindow admits across every route (Discord only).
	// 0 turns the global limit off.
	GlobalQuota int
	// GlobalWindow is the length of a global window (Discord only, when GlobalQuota > 0): a whole
	// number of seconds, at least 1 s, aligned to the epoch like Window.
	GlobalWindow time.Duration
	// Now is the server's clock. Nil means time.Now. It is read under the server's lock, so
	// arrivals are recorded in the order their times were read.
	Now func() time.Time
}

// validate checks c for kind, naming the offending field.
func (c Config) validate(kind Kind) error {
	if c.Quota < 1 {
		return fmt.Errorf("weir/vendorapi: Config.Quota must be ≥ 1, got %d", c.Quota)
	}
	if !wholeSeconds(c.Window) {
		return fmt.Errorf("weir/vendorapi: Config.Window must be a whole number of seconds ≥ 1s, got %v", c.Window)
	}
	switch kind {
	case OpenAI:
		if c.TokenQuota < 1 {
			return fmt.Errorf("weir/vendorapi: Config.TokenQuota must be ≥ 1 for %s, got %d", kind, c.TokenQuota)
		}
	case Discord:
		if c.GlobalQuota < 0 {
			return fmt.Errorf("weir/vendorapi: Config.GlobalQuota must be ≥ 0, got %d", c.GlobalQuota)
		}
		if c.GlobalQuota > 0 && !wholeSeconds(c.GlobalWindow) {
			return fmt.Errorf("weir/vendorapi: Config.GlobalWindow must be a whole number of seconds ≥ 1s when GlobalQuota is set, got %v", c.GlobalWindow)
		}
	}
	return nil
}

func wholeSeconds(d time.Duration) bool { return d >= time.Second && d%time.Second == 0 }
