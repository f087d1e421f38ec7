package kv

import (
	"path/filepath"
	"testing"
)

// TestCheckpointPathClobbersAnotherPool: CheckpointPath(path) is path +
// ".index", and a writable Open of path removes whatever file has that name
// (removeCheckpoint: os.Remove, no look at what it removes), and Close
// renames a checkpoint over it. A user's own pool named "orders.index"
// beside a pool named "orders" is therefore deleted by the first writable
// open of "orders", and replaced by a checkpoint at its Close: its data is
// gone. The file removed or replaced must at least be a checkpoint (magic,
// regular file) of this pool; better, a name a pool cannot collide with.
func TestCheckpointPathClobbersAnotherPool(t *testing.T) {
	dir := t.TempDir()
	opts := smallOpts(DAXOff)
	other := filepath.Join(dir, "orders.index") // an ordinary pool of the user's
	db, err := Open(other, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, []byte("precious"), []byte("data"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(filepath.Join(dir, "orders"), opts) // another pool
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, []byte("k"), []byte("v"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(other, opts)
	if err != nil {
		t.Fatalf("the pool %s is gone after an open and close of the pool %s: %v",
			filepath.Base(other), "orders", err)
	}
	defer db.Close()
	if v, err := db.Get([]byte("precious")); err != nil || string(v) != "data" {
		t.Fatalf("pool %s lost its key after an open and close of pool \"orders\": Get = %q, %v",
			filepath.Base(other), v, err)
	}
}
