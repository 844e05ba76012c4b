//go:build race

package fleet

// Race reports whether the binary was built with the race detector, which makes every process of
// a fleet several times slower: tests size their load by it.
const Race = true
