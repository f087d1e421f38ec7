// Package invariants says whether the build checks daxkv's internal
// invariants: on with the build tag "invariants" (make test) or with the
// race detector, off otherwise, like pebble's internal/invariants. The
// checks it guards are too costly for a production build: shadow bitmaps in
// the allocator, the index's two halves compared after changes, extents
// poisoned when they leave limbo so that a read of reused memory shows.
//
// A broken invariant panics with "daxkv: assertion failed: ...".
package invariants
