package store

import (
	"context"
	"errors"
	"time"
)

var (
	// ErrInvalid is wrapped by every error about bad input: a limit, a policy, a key, a cost.
	ErrInvalid = errors.New("weir/store: invalid argument")
	// ErrNeverAllowed means a cost exceeds a limit's burst, so no amount of waiting will admit it.
	ErrNeverAllowed = errors.New("weir/store: cost exceeds burst, never allowed")
	// ErrUnavailable means the store could not be reached or did not answer in time.
	ErrUnavailable = errors.New("weir/store: store unavailable")
	// ErrClosed is returned by calls on a closed store.
	ErrClosed = errors.New("weir/store: store closed")
)

// CallerEnded reports whether ctx has ended or its deadline has passed. A store call that ran out
// of time at the caller's deadline (a read's timeout, a combined call under the same deadline)
// may return before the context's own timer has fired: that failure is still the caller's
// deadline, not the store's. Stores judge their errors by it, and so does the client.
func CallerEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}
