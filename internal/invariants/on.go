//go:build invariants || race

package invariants

// Enabled is true when the build checks internal invariants.
const Enabled = true
