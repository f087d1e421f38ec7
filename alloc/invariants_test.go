//go:build invariants || race

package alloc

import "testing"

// With -tags invariants the shadow bitmap catches misuse at the call.
func TestShadowCatchesMisuse(t *testing.T) {
	a := New(64*kib, 4*kib, 2*64*kib)
	x := mustAlloc(t, a, 192)
	a.Free(x, 192)
	mustPanic(t, "double Free", func() { a.Free(x, 192) })
	mustPanic(t, "Retire of a free extent", func() { a.Retire(x, 192, 1) })
	mustPanic(t, "Free of space never handed out", func() { a.Free(64*kib, 64) })
	y := mustAlloc(t, a, 4096)
	a.Retire(y, 4096, 3)
	mustPanic(t, "Free of a retired extent", func() { a.Free(y, 4096) })
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
}
