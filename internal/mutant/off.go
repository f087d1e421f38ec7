//go:build !mutants

package mutant

// Enabled reports whether this build has the mutation gate compiled in.
const Enabled = false

// Set does nothing without the mutants build tag.
func Set(string) {}

// On is always false without the mutants build tag.
func On(string) bool { return false }
