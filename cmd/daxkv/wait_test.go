package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// holdWithFlock holds path's flock (exclusive, as a writer does) in a
// flock(1) process for d, and returns once the kernel's lock table shows
// it.
func holdWithFlock(t *testing.T, path string, d time.Duration) *exec.Cmd {
	t.Helper()
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("no flock(1)")
	}
	cmd := exec.Command("flock", "-x", path, "sleep", fmt.Sprint(d.Seconds()))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	want := fmt.Sprintf(" FLOCK  ADVISORY  WRITE %d ", cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/locks"); bytes.Contains(b, []byte(want)) {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
	}
}

// Regression (review): backup/repair --force refuse to replace an OUT pool that another
// handle holds (notHeld: a non-blocking flock), and main then appends the
// hint "--wait DURATION waits for it to be closed" - but --wait is never
// applied to OUT: with --wait 20s the command still fails at once, with
// the same hint telling the user to pass the flag they passed.
func TestWaitForceTargetHeld(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	src, out := filepath.Join(dir, "src.pool"), filepath.Join(dir, "out.pool")
	for _, p := range []string{src, out} {
		if _, e, code := runBinary(t, bin, "put", p, "k", "v"); code != 0 {
			t.Fatalf("put: %s", e)
		}
	}
	holdWithFlock(t, out, 1*time.Second)
	start := time.Now()
	stdout, stderr, code := runBinary(t, bin, "--wait", "20s", "backup", src, out, "--force")
	t.Logf("after %v: exit %d, stdout %q, stderr %q", time.Since(start).Round(time.Millisecond), code, stdout, stderr)
	if code != 0 && strings.Contains(stderr, "--wait") {
		t.Errorf("backup --wait 20s --force onto a pool held for 1s failed at once, and its hint says to use --wait")
	}
}

// Regression (review): the global --wait is not applied by info, which opens the pool
// itself (kv.Open with &kv.Options{ReadOnly: true}, not g.options): a pool
// held for a moment gets "pool error ... locked" even with --wait 20s.
func TestWaitInfo(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	pool := filepath.Join(dir, "p.pool")
	if _, e, code := runBinary(t, bin, "put", pool, "k", "v"); code != 0 {
		t.Fatalf("put: %s", e)
	}
	holdWithFlock(t, pool, 1*time.Second)
	stdout, stderr, code := runBinary(t, bin, "--wait", "20s", "info", pool)
	t.Logf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	if strings.Contains(stdout, "locked") {
		t.Errorf("info --wait 20s of a pool held for 1s did not wait: %q", stdout)
	}
}

// Regression (review): a negative --wait passes cobra's duration parsing and reaches
// kv.Open, whose validation answers "invalid options: option LockWait -1s
// is negative": the user never wrote LockWait, and the message does not
// name the flag (TestHelpfulErrors asks that a bad --wait be named).
func TestWaitNegative(t *testing.T) {
	bin := buildBinary(t)
	pool := filepath.Join(t.TempDir(), "p.pool")
	if _, e, code := runBinary(t, bin, "put", pool, "k", "v"); code != 0 {
		t.Fatalf("put: %s", e)
	}
	_, stderr, code := runBinary(t, bin, "--wait", "-1s", "get", pool, "k")
	helpful(t, "a negative --wait", stderr, code, "--wait")
}
