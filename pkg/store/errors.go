package store

import (
	"errors"
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
