package kv

import (
	"context"
	"path/filepath"
	"testing"
)

// TestCompactHonoursACanceledContext (a regression test from an adversarial review; it failed before the fix): a Compact called with a context
// that is already canceled should do nothing and report the context's end
// (ErrBusy wrapping context.Canceled, as documented for a ctx that ends).
// Instead the first step (wholly free chunks) never looks at ctx:
// finishEvacuation's moveOut checks ctx only per record moved, and there
// are none to move in free chunks, so it evacuates and punches every free
// chunk that has blocks, and, when no sparse chunk is left, returns nil:
// the caller's cancellation is ignored and the blocks are given back all
// the same.
func TestCompactHonoursACanceledContext(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{ChunkSize: 64 << 10, Size: 256 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	const n, size = 6000, 500
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), value(i, 1, size))
	}
	// Empty whole chunks, and merge their fragments into whole free
	// chunks (an ErrFull merge: a record larger than any fragment).
	for i := 0; i < n; i++ {
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	db.reclaimAll()
	mustPut(t, db, key(0), value(0, 1, 28000))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := db.CompactWithResult(ctx)
	t.Logf("Compact(canceled ctx) = %+v, %v", res, err)
	if err == nil || res.Punched > 0 || res.Moved > 0 {
		t.Fatalf("Compact with a canceled context: %+v, %v; want no work and an error", res, err)
	}
}
