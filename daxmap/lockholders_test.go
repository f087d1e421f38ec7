//go:build linux

package daxmap

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Regression (review): lockHolders takes the pid column of /proc/locks at face value.
// The kernel prints 0 there when the lock's owner is not visible in the
// reader's pid namespace or is dead and its pid freed (fs/locks.c,
// locks_translate_pid: "zero is shown as a pid value"). ErrLocked then
// says "held by process 0", naming a process that does not exist
// (and, being in the init namespace, the swapper). It should say nothing
// about the holder (or that it is outside this namespace) instead.
func TestLockHoldersPidZero(t *testing.T) {
	table := filepath.Join(t.TempDir(), "locks")
	os.WriteFile(table, []byte("1: FLOCK  ADVISORY  WRITE 0 fd:01:5678 0 EOF\n"), 0o600)
	if got := lockHolders(table, unix.Mkdev(0xfd, 1), 5678); strings.Contains(got, "process 0") {
		t.Errorf("lockHolders = %q: names pid 0, which /proc/locks shows for an owner it cannot name", got)
	}
}

// Regression (review): a flock belongs to the open file description; /proc/locks shows
// the pid of the process that TOOK it, which may have exited while another
// process keeps the descriptor (a child, a shell that ran flock(1), a
// descriptor passed over a socket). ErrLocked then names a dead process as
// the holder ("held by process N"), and if N is reused, some unrelated
// live process with its command name. lockHolders never checks that the
// pid still exists (let alone that it still has the file open).
func TestLockHoldersDeadOwner(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1)")
	}
	path := poolPath(t)
	m := mustOpen(t, path, Options{Size: testChunk, ChunkSize: testChunk})
	m.Close()
	// flock(1) takes the lock on the shell's descriptor 9 and exits; the
	// shell (then sleep) holds it.
	sh := exec.Command("sh", "-c", `exec 9<"$1"; flock -x 9; exec sleep 30`, "sh", path)
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sh.Process.Kill(); sh.Wait() }()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var mm *Map
		if mm, err = Open(path, Options{Size: testChunk, ChunkSize: testChunk}); err == nil {
			mm.Close()
			continue
		}
		if errors.Is(err, ErrLocked) {
			break
		}
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("the shell never held the pool: %v", err)
	}
	t.Logf("ErrLocked: %v (the holder is pid %d)", err, sh.Process.Pid)
	msg := err.Error()
	i := strings.Index(msg, "held by process ")
	if i < 0 {
		return // names no one: fine
	}
	var pid int
	fmt.Sscanf(msg[i+len("held by process "):], "%d", &pid)
	if pid != sh.Process.Pid {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			t.Errorf("ErrLocked names process %d, which does not exist, as the holder (the holder is %d)", pid, sh.Process.Pid)
		} else {
			t.Errorf("ErrLocked names process %d as the holder; the holder is %d", pid, sh.Process.Pid)
		}
	}
}
