package kv

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackupRacingClose: Backup copied the iterator's Key/Value (slices
// into the mapping) into its batch without a pin, so a Close meanwhile
// unmapped the pool under the copy and the process died with a fault. The
// copy now runs under a pin. Run in a child process so that a crash is
// reported as a failure.
func TestBackupRacingClose(t *testing.T) {
	if os.Getenv("DAXKV_BACKUP_CLOSE_CHILD") != "" {
		backupCloseChild(t)
		return
	}
	dir := shmDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestBackupRacingClose$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "DAXKV_BACKUP_CLOSE_CHILD="+dir, "TMPDIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s := string(out)
		if i := strings.Index(s, "fatal error"); i >= 0 {
			s = s[i:min(len(s), i+1200)]
		}
		t.Fatalf("Backup racing Close crashed the process (%v):\n%s", err, s)
	}
}

func backupCloseChild(t *testing.T) {
	dir := os.Getenv("DAXKV_BACKUP_CLOSE_CHILD")
	path := filepath.Join(dir, "pool")
	opts := &Options{Size: 32 << 20, ChunkSize: 32 << 20, DAX: DAXEmulated}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'v'}, 8<<20)
	for i := 0; i < 12; i++ {
		mustPut(t, db, key(i), big)
	}
	db.Close()
	for round := 0; round < 20; round++ {
		db, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := db.Backup(io.Discard)
			done <- err
		}()
		time.Sleep(time.Duration(1+round%5) * time.Millisecond)
		db.Close()
		<-done
	}
}

// TestBackupRefusesDamagedKeys: a pool with keys whose newest record lies
// on a known bad block (Get says ErrCorrupt, Stats counts them as
// DamagedKeys). Backup succeeded and the copy simply lacked those keys;
// now it refuses with an error wrapping ErrCorrupt.
func TestBackupRefusesDamagedKeys(t *testing.T) {
	dir := shmDir(t)
	t.Setenv("TMPDIR", dir)
	path := filepath.Join(dir, "pool")
	pages, _, damaged, _ := mediaPool(t, path, 600)
	opts := badMediaOpts(badPages(pages), pages)
	opts.ReadOnly = true
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Get(key(damaged[0])); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("source Get of a damaged key: %v", err)
	}
	var buf bytes.Buffer
	_, err = db.Backup(&buf)
	if errors.Is(err, ErrCorrupt) && strings.Contains(err.Error(), "bad block") {
		return
	}
	if err != nil {
		t.Fatalf("Backup of a pool with damaged keys: %v, want an error wrapping ErrCorrupt", err)
	}
	out := filepath.Join(dir, "backup")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, gerr := b.Get(key(damaged[0]))
	t.Fatalf("Backup of a pool with %d damaged keys returned nil; the copy holds %d keys (source Stats.Keys %d, DamagedKeys %d); Get of damaged key %d in the copy: %v",
		len(damaged), b.Stats().Keys, db.Stats().Keys, db.Stats().DamagedKeys, damaged[0], gerr)
}
