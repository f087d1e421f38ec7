package kv

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpointNoteWhenCloseCouldNotWrite: Close swallows every error of
// writeCheckpoint (db.go: `if sum, cerr := db.writeCheckpoint(); cerr ==
// nil`) and writes the clean superblock with Index 0; the next Open then
// returns early from recoverIndexed (sb.Index == 0) without a note. So a
// cleanly closed pool is scanned with FromCheckpoint false, Recovered false
// and CheckpointNote "": Stats.CheckpointNote's contract ("says why a
// cleanly closed pool's checkpoint was not used ... the open scanned
// instead. Empty otherwise") is broken, and the operator has no way to
// learn that every open of this pool scans, nor why. Any error of the
// checkpoint write does this (a read-only or full directory, a name at the
// length limit, EACCES); here the name: a 250-byte pool name is legal,
// its ".index" name is not (ENAMETOOLONG).
func TestCheckpointNoteWhenCloseCouldNotWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), strings.Repeat("p", 250))
	opts := smallOpts(DAXOff)
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, []byte("k"), []byte("v"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := db.Stats()
	if !s.Recovered && !s.FromCheckpoint && s.CheckpointNote == "" {
		t.Fatalf("a cleanly closed pool was scanned (FromCheckpoint false, Recovered false) and CheckpointNote gives no reason")
	}
}
