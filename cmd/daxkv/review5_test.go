package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestBackupInterruptedLeavesNothing: `daxkv backup POOL -` whose reader
// goes away (SIGPIPE: `| head`, a dropped ssh) or that is interrupted
// (Ctrl-C) died without running kv.Backup's deferred RemoveAll, leaving
// the whole temporary copy in $TMPDIR. Now it handles both.
func TestBackupInterruptedLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "daxkv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pool := filepath.Join(dir, "p.pool")
	if out, err := exec.Command(bin, "put", pool, "k", "v").CombinedOutput(); err != nil {
		t.Fatalf("put: %v %s", err, out)
	}
	for _, how := range []string{"SIGINT", "reader gone"} {
		tmpdir := filepath.Join(dir, "tmp-"+how)
		if err := os.Mkdir(tmpdir, 0o700); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "backup", pool, "-")
		cmd.Env = append(os.Environ(), "TMPDIR="+tmpdir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The copy is streaming: read a little, then stop.
		if _, err := io.ReadFull(stdout, make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if how == "SIGINT" {
			cmd.Process.Signal(syscall.SIGINT)
		} else {
			stdout.Close()
		}
		werr := cmd.Wait()
		var left []string
		filepath.Walk(tmpdir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				left = append(left, p+" ("+strconv.FormatInt(fi.Size(), 10)+" bytes)")
			}
			return nil
		})
		if len(left) != 0 {
			t.Errorf("%s: backup ended (%v) and left in TMPDIR: %v", how, werr, left)
		}
	}
}

// TestExportForceRefusesItsOwnPool: backup and repair refuse an output that
// is the pool being read, even with --force; export did not, so `export
// POOL POOL --force` (here spelt DIR/./POOL) renamed the JSON over the
// pool. It now shares their check (checkOutPath).
func TestExportForceRefusesItsOwnPool(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "p.pool")
	if _, err := run(t, "put", pool, "k", "v"); err != nil {
		t.Fatal(err)
	}
	alias := dir + "/./p.pool" // the pool itself, spelt differently
	_, err := run(t, "export", pool, alias, "-q", "--force")
	if err != nil {
		return // refused: fine
	}
	head := make([]byte, 40)
	f, _ := os.Open(pool)
	n, _ := f.Read(head)
	f.Close()
	_, gerr := run(t, "get", pool, "k")
	t.Fatalf("export --force onto its own pool succeeded; the pool file now starts %q; get: %v", head[:n], gerr)
}
