package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// buildBinary builds daxkv into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "daxkv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runBinary runs bin with args and returns its stdout, stderr and exit
// status.
func runBinary(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return o.String(), e.String(), 0
	case errors.As(err, &ee):
		return o.String(), e.String(), ee.ExitCode()
	}
	t.Fatalf("daxkv %v: %v", args, err)
	return "", "", 0
}

// helpful fails the test unless stderr is one short message that
// contains want: no stack trace, no usage dump.
func helpful(t *testing.T, what, stderr string, code int, want ...string) {
	t.Helper()
	if code != 1 {
		t.Errorf("%s: exit %d, want 1", what, code)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr %q does not say %q", what, stderr, w)
		}
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") || strings.Count(stderr, "\n") > 3 {
		t.Errorf("%s: stderr is not a short message: %q", what, stderr)
	}
}

// TestHeldPool: a pool open in another daxkv process gets a message that
// names the process and the way to wait, and --wait gets the pool once
// the other process closes it, for a read (get) and for a backup.
func TestHeldPool(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	pool := filepath.Join(dir, "held.pool")
	if _, e, code := runBinary(t, bin, "put", pool, "k", "v"); code != 0 {
		t.Fatalf("put: %s", e)
	}
	// import holds the pool open for writing until its input ends.
	hold := func() (io.WriteCloser, *exec.Cmd) {
		cmd := exec.Command(bin, "import", pool, "-")
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The holder has the lock once the kernel's lock table says so.
		want := fmt.Sprintf(" FLOCK  ADVISORY  WRITE %d ", cmd.Process.Pid)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, _ := os.ReadFile("/proc/locks"); bytes.Contains(b, []byte(want)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the holder never took the pool")
			}
		}
		return in, cmd
	}
	in, holder := hold()
	_, stderr, code := runBinary(t, bin, "get", pool, "k")
	helpful(t, "get of a held pool", stderr, code, "locked", fmt.Sprintf("process %d (daxkv)", holder.Process.Pid), "--wait")
	_, stderr, code = runBinary(t, bin, "backup", pool, filepath.Join(dir, "refused.backup"))
	helpful(t, "backup of a held pool", stderr, code, "locked", "--wait")
	if _, err := os.Stat(filepath.Join(dir, "refused.backup")); err == nil {
		t.Error("a refused backup left its output")
	}
	_, stderr, code = runBinary(t, bin, "--wait", "100ms", "get", pool, "k")
	helpful(t, "get --wait 100ms of a held pool", stderr, code, "locked")

	// The holder writes a key and ends while a waiting get and a waiting
	// backup stand in line: both get the pool and see the write.
	go func() {
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintln(in, `{"key":"late","value":"written by the holder"}`)
		in.Close()
	}()
	out, stderr, code := runBinary(t, bin, "--wait", "20s", "get", pool, "late")
	if code != 0 || out != "written by the holder" {
		t.Fatalf("get --wait: stdout %q, stderr %q, exit %d", out, stderr, code)
	}
	if err := holder.Wait(); err != nil {
		t.Fatalf("the holder: %v", err)
	}
	in, holder = hold()
	go func() {
		time.Sleep(300 * time.Millisecond)
		in.Close()
	}()
	backup := filepath.Join(dir, "waited.backup")
	if out, stderr, code := runBinary(t, bin, "--wait", "20s", "backup", pool, backup); code != 0 || !strings.HasPrefix(out, "backed up 2 keys") {
		t.Fatalf("backup --wait: stdout %q, stderr %q, exit %d", out, stderr, code)
	}
	holder.Wait()
	if out, _, code := runBinary(t, bin, "check", backup); code != 0 || !strings.HasPrefix(out, "ok: 2 keys") {
		t.Fatalf("check of the backup: %q, exit %d", out, code)
	}
}

// TestHelpfulErrors: a missing pool, a wrong flag and a read-only
// filesystem each get a one-line message, never a stack trace.
func TestHelpfulErrors(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pool")
	_, stderr, code := runBinary(t, bin, "get", missing, "k")
	helpful(t, "get of a missing pool", stderr, code, missing, "no such file")
	_, stderr, code = runBinary(t, bin, "check", missing)
	helpful(t, "check of a missing pool", stderr, code, missing)
	_, stderr, code = runBinary(t, bin, "get", "--frobnicate", missing, "k")
	helpful(t, "a wrong flag", stderr, code, "unknown flag: --frobnicate")
	_, stderr, code = runBinary(t, bin, "--wait", "soon", "get", missing, "k")
	helpful(t, "a bad duration", stderr, code, "--wait")

	// A read-only filesystem: a tmpfs remounted read-only (needs root and
	// mount; skipped where either is missing).
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o700)
	if err := unix.Mount("tmpfs", ro, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer unix.Unmount(ro, unix.MNT_DETACH)
	pool := filepath.Join(ro, "p.pool")
	if _, e, code := runBinary(t, bin, "put", pool, "k", "v"); code != 0 {
		t.Fatalf("put: %s", e)
	}
	if err := unix.Mount("", ro, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("cannot remount read-only: %v", err)
	}
	_, stderr, code = runBinary(t, bin, "put", pool, "k", "w")
	helpful(t, "put on a read-only filesystem", stderr, code, "read-only file system")
	if out, stderr, code := runBinary(t, bin, "get", pool, "k"); code != 0 || out != "v" {
		t.Errorf("get on a read-only filesystem: stdout %q, stderr %q, exit %d", out, stderr, code)
	}
	if out, stderr, code := runBinary(t, bin, "check", pool); code != 0 || !strings.HasPrefix(out, "ok: 1 keys") {
		t.Errorf("check on a read-only filesystem: stdout %q, stderr %q, exit %d", out, stderr, code)
	}
	_, stderr, code = runBinary(t, bin, "create", filepath.Join(ro, "new.pool"))
	helpful(t, "create on a read-only filesystem", stderr, code, "read-only file system")
}
