//go:build mutants

package mutant

import "sync/atomic"

// Enabled reports whether this build has the mutation gate compiled in.
const Enabled = true

var active atomic.Pointer[Name]

// Set activates the mutant named name ("" for none).
func Set(name Name) { active.Store(&name) }

// On reports whether the mutant named name is active.
func On(name Name) bool {
	p := active.Load()
	return p != nil && *p == name
}
