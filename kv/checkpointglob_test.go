package kv

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCheckpointTempGlob: removeCheckpoint finds the temporary files a
// dead Close left with filepath.Glob(dir + "/." + base + ".index-*"), the
// pool's name used as a pattern, unescaped. For a pool whose name holds a
// pattern character ('[', '*', '?', '\\'), which are all legal in file
// names, the glob misses the pool's own leftovers (they pile up, one per
// Close that died) and matches other files: here the writable open of the
// pool "db[1]" keeps its own leftover and deletes ".db1.index-…", the
// temporary file of the pool "db1" (a Close of "db1" in another process
// can be in the middle of writing it), and a writable open of a pool named
// "*" would delete every pool's temporary checkpoint in the directory.
// The names should be matched literally (list the directory and compare
// prefixes, or escape the pattern).
func TestCheckpointTempGlob(t *testing.T) {
	dir := t.TempDir()
	opts := smallOpts(DAXOff)
	path := filepath.Join(dir, "db[1]")
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, []byte("k"), []byte("v"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(dir, ".db[1].index-123456") // what a Close of db[1] that died left
	other := filepath.Join(dir, ".db1.index-654321") // another pool's Close in progress
	for _, f := range []string{own, other} {
		if err := os.WriteFile(f, []byte("DAXKVIX\x00 half a checkpoint"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err = Open(path, opts) // writable: removes the leftovers
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(own); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pool's own leftover temporary file %s is still there: %v", filepath.Base(own), err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("the open of %s removed %s, another pool's file: %v", filepath.Base(path), filepath.Base(other), err)
	}
}
