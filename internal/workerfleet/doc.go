// Package workerfleet runs the worker binary as OS processes for tests and records what they send
// to a loopback upstream, so that a test can prove what a fleet of real workers sharing one Redis
// does: no job lost to a kill -9, one shared limit, strict priority, a clean SIGTERM.
//
// It differs from internal/fleet, which re-runs the test binary as children that take commands:
// here the children are the real `worker run` processes, and the test sees them only from the
// outside, through the upstream and the store.
package workerfleet
