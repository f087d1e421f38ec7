package kv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckpointBuildIndexUnguarded: buildIndex (kv/indexfill.go) reads
// every key longer than 16 bytes from the mapping (for the item's tail and
// the key's hash) on goroutines of its own (parallel), while the guard is
// only on the calling goroutine (recoverIndexed wraps buildIndex in
// recovery.Guard, which is per goroutine: "every goroutine that reads the
// pool must run its work under one", recovery/guard.go). A memory fault
// there - the pool file truncated underneath, which Guard exists for, or a
// bad block - is not turned into ErrCorrupt but kills the process
// ("unexpected fault address"). verifyListed's workers each run under
// their own guard, and now buildIndex's do too.
//
// Here the pool is truncated (by "another process": the Progress callback
// of the open, when the last listed record has been verified) between the
// verification and buildIndex. The open should fail with ErrCorrupt, as it
// does when the truncation meets the verification or the scan; instead the
// test binary dies. Run in a child process, so the crash is a failure.
func TestCheckpointBuildIndexUnguarded(t *testing.T) {
	if dir := os.Getenv("DAXKV_BUILDINDEX_CHILD"); dir != "" {
		buildIndexChild(t, dir)
		return
	}
	dir := shmDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckpointBuildIndexUnguarded$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "DAXKV_BUILDINDEX_CHILD="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s := string(out)
		if i := strings.Index(s, "fatal error"); i >= 0 {
			s = s[i:min(len(s), i+1500)]
		}
		t.Fatalf("an open from the checkpoint crashed the process on a memory fault (%v):\n%s", err, s)
	}
}

func buildIndexChild(t *testing.T, dir string) {
	path := filepath.Join(dir, "pool")
	opts := &Options{Size: 1 << 20, ChunkSize: 1 << 20, DAX: DAXOff, RecoveryWorkers: 2}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2000 {
		mustPut(t, db, fmt.Appendf(nil, "a-key-longer-than-sixteen-bytes-%06d", i), value(i, 0, 100))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	o := *opts
	o.Progress = func(p Progress) {
		if p.Op == "recover" && p.Unit == "keys" && p.Done == p.Total {
			// Every listed record verified: the file shrinks now.
			if err := os.Truncate(path, 4096); err != nil {
				t.Error(err)
			}
		}
	}
	db, err = Open(path, &o)
	if err == nil {
		s := db.Stats()
		db.Close()
		t.Fatalf("Open of a pool truncated under it succeeded (from checkpoint %v)", s.FromCheckpoint)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	t.Logf("Open: %v", err)
}
