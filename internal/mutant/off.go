//go:build !mutants

package mutant

// Enabled reports whether this build has the mutation gate compiled in.
const Enabled = false

// Set does nothing without the mutants build tag.
func Set(Name) {}

// On is always false without the mutants build tag.
func On(Name) bool { return false }
