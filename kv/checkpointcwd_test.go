package kv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckpointRelativePathAfterChdir: the DB keeps the path it was
// opened with as given (db.path) and Close derives the checkpoint's name
// from it (CheckpointPath(db.path), os.CreateTemp(filepath.Dir(...)))
// only at Close. A pool opened by a relative name in one working directory
// and closed after the process changed directory writes its checkpoint
// into the new working directory: it replaces whatever file is there under
// that name (here a user's file "pool.index" in another directory, which
// is lost), and the pool itself gets no checkpoint (its next open scans).
// Nothing else in the DB uses the path after Open (the mapping and the
// lock are on the descriptor), so this is new with the checkpoint: the
// path should be made absolute (or the directory kept open) at Open.
func TestCheckpointRelativePathAfterChdir(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	user := filepath.Join(b, "pool.index")
	if err := os.WriteFile(user, []byte("someone else's file"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(a)
	opts := smallOpts(DAXOff)
	db, err := Open("pool", opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, []byte("k"), []byte("v"))
	t.Chdir(b) // the process moves on; the pool stays in a
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(user); err != nil || string(got) != "someone else's file" {
		t.Errorf("Close of the pool %s replaced %s (an unrelated file in the current directory): %q, %v",
			filepath.Join(a, "pool"), user, got, err)
	}
	db, err = Open(filepath.Join(a, "pool"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s := db.Stats(); !s.FromCheckpoint {
		t.Errorf("the pool's own checkpoint was not written beside it: %s", s.CheckpointNote)
	}
}
