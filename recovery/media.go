package recovery

import (
	"slices"

	"github.com/daxkv/daxkv/daxmap"
)

// Scan says how to scan a pool: with how many goroutines, and which byte
// ranges lie on bad blocks the kernel knows of (reading them raises
// SIGBUS, so the scan never touches them).
type Scan struct {
	Workers int
	Bad     []daxmap.Range // sorted, disjoint (daxmap.Media.Bad)
	// Holes are ranges known to read as zeros (daxmap.Map.Holes: a sparse
	// file's never-written parts), sorted and disjoint: no record starts
	// there, so the scan passes over them without reading them (on tmpfs
	// a read would allocate the page). Nil means read everything.
	Holes []daxmap.Range
	// WillNeed, when set, is asked for each chunk a worker scans, a chunk
	// ahead of it (and for its first as it starts), except chunks wholly in
	// Holes: Map.WillNeed, so that a page-cache mapping, which reads no page
	// around a fault, reads the scan's chunks ahead in the background.
	WillNeed func(off, n int64)
	// Progress, when set, is called after each chunk is scanned with the
	// chunks scanned so far and the chunks in all: from the scan's
	// workers, one call at a time, done counting up to total.
	Progress func(done, total int)
	// Saving, when set, is called by Salvage as it hands keys over: the
	// keys dealt with so far (handed over, or found damaged or deleted),
	// and the keys in all.
	Saving func(done, total int)
}

// DamagedKey is a key whose newest record lies, at least in part, on a bad
// block: its header and key are readable, its value is not.
type DamagedKey struct {
	Key []byte
	Off int64
}

// firstBad returns the first bad range that meets [lo, hi).
func firstBad(bad []daxmap.Range, lo, hi int64) (daxmap.Range, bool) {
	i, _ := slices.BinarySearchFunc(bad, lo, func(r daxmap.Range, lo int64) int {
		if r.End() <= lo {
			return -1
		}
		return 1
	})
	if i < len(bad) && bad[i].Off < hi {
		return bad[i], true
	}
	return daxmap.Range{}, false
}

// inHoles reports whether [lo, hi) lies wholly in one of holes.
func inHoles(holes []daxmap.Range, lo, hi int64) bool {
	r, hit := firstBad(holes, lo, hi)
	return hit && r.Off <= lo && r.End() >= hi
}

// alignUp rounds n up to a multiple of RecordAlign.
func alignUp(n int64) int64 { return (n + RecordAlign - 1) &^ (RecordAlign - 1) }
