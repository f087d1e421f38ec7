package alloc

import "fmt"

// The shadow bitmap exists only with -tags invariants: a bit per unit of the
// pool, set while the unit is free or in limbo. It catches a double free, or
// the free of space never handed out, at the call that does it.

// shadowTake asserts that [off, off+size) is free and marks it live.
func (a *Allocator) shadowTake(off, size int64) {
	u, n := int(off/Unit), int(size/Unit)
	if !a.shadow.allSet(u, n) {
		panic(fmt.Sprintf("daxkv: assertion failed: alloc handed out [%d, %d), not all free", off, off+size))
	}
	a.shadow.clear(u, n)
}

// shadowPut asserts that [off, off+size) is live and marks it free or limbo.
func (a *Allocator) shadowPut(off, size int64) {
	u, n := int(off/Unit), int(size/Unit)
	if a.shadow.anySet(u, n) {
		panic(fmt.Sprintf("daxkv: assertion failed: free or retire of [%d, %d), not all live", off, off+size))
	}
	a.shadow.set(u, n)
}

// assertCheck panics when check finds a broken invariant.
func (a *Allocator) assertCheck() {
	if err := a.check(); err != nil {
		panic("daxkv: assertion failed: " + err.Error())
	}
}
