package crash

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/kv"
)

// TestCompactWithSnapshotMovesEverything: a sequential workload's Compact
// under a held snapshot ends only once the moves are made, however slow
// they are (crash points along them take as long as they take). Ended by a
// wall-clock deadline instead, it gave up after one move when the moves
// were slow, and the mutation gate then missed a punch made too early.
func TestCompactWithSnapshotMovesEverything(t *testing.T) {
	var wait func()
	moves := 0
	opts := &kv.Options{ChunkSize: ChunkSize, Size: 2 * ChunkSize, NoAutoCompact: true}
	seam.Attach(opts, &seam.Hooks{At: func(pt seam.Point) {
		switch pt {
		case seam.Move:
			moves++
			time.Sleep(30 * time.Millisecond) // slower than any fixed deadline of old
		case seam.CompactWait:
			if wait != nil {
				wait()
			}
		}
	}})
	db, err := kv.Open(filepath.Join(t.TempDir(), "pool"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 300)
	for i := range 10 {
		if err := db.Put(fmt.Appendf(nil, "c%d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	snap := db.NewSnapshot()
	for i := 1; i < 9; i++ {
		if err := db.Delete(fmt.Appendf(nil, "c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := doCompact(db, true, &wait); err != nil {
		t.Fatalf("compact with a snapshot held: %v", err)
	}
	if wait != nil {
		t.Fatal("doCompact left its wait hook installed")
	}
	if moves != 2 {
		t.Fatalf("Compact under the snapshot moved %d records, want 2 (c0 and c9)", moves)
	}
	snap.Close()
	res, err := db.CompactWithResult(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Punched == 0 {
		t.Fatalf("after the snapshot went: %+v; want the emptied chunk punched", res)
	}
}
