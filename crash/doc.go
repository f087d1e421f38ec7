// Package crash is daxkv's crash-injection suite: it runs workloads on a
// pool whose every flush and fence goes through a persistence simulator
// (flush.Sim), builds the crash images a power failure could leave at every
// fence, at every named crash point, at random flushes and at every
// operation boundary, and opens each image with the real recovery code.
//
// The oracle: every acknowledged operation is present; the operation in
// flight is all or nothing; no phantom key, no deleted key back (the
// recovered state equals the model before or after the operation); Check is
// clean; the store accepts a write, and a second reopen shows the same
// state. Truncated and garbled images must be refused with ErrCorrupt or
// yield only values that were really written. The same workload runs on the
// CPU-flush path and on the msync path, and the states recovered at each
// operation boundary must agree.
//
// The mutation gate (build tag "mutants", package internal/mutant) proves
// the suite can fail: each mutant drops one flush or fence, or reorders one
// store, and the suite must report a violation for every one.
//
// CRASH.md at the repository root explains the model and its limits.
package crash
