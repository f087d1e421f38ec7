//go:build race

package kv

// raceEnabled is true under the race detector: tests that time themselves
// or move a gigabyte skip there.
const raceEnabled = true
