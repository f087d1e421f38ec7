//go:build invariants

package alloc

// invariants turns on the shadow bitmap and the full checks after structural
// changes; build with -tags invariants.
const invariants = true
