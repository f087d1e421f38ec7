package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/kv"
)

// TestRepairSalvagesAroundACorruptRecord: one record's value is garbled on
// the media; repair writes every other key into a new pool that checks
// clean, and the damaged pool is left byte for byte as it was. (A record
// whose checksum fails reads as a torn write: recovery and check drop it
// without a report; see the format notes on silent corruption.)
func TestRepairSalvagesAroundACorruptRecord(t *testing.T) {
	dir := t.TempDir()
	pool, out := filepath.Join(dir, "bad.pool"), filepath.Join(dir, "new.pool")
	const n = 40
	for i := range n {
		if _, err := run(t, "put", pool, fmt.Sprintf("k%02d", i), fmt.Sprintf("value-%02d-xxxxxxxx", i)); err != nil {
			t.Fatal(err)
		}
	}
	img, err := os.ReadFile(pool)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(img, []byte("value-17-"))
	if at < 0 {
		t.Fatal("value not found in the pool image")
	}
	img[at+10] ^= 0xff
	if err := os.WriteFile(pool, img, 0o600); err != nil {
		t.Fatal(err)
	}

	stdout, err := run(t, "--json", "repair", pool, "--out", out)
	if err != nil {
		t.Fatalf("repair: %v", err)
	}
	var rep struct {
		Out  string `json:"out"`
		Keys int    `json:"keys"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("repair --json printed %q: %v", stdout, err)
	}
	if rep.Keys != n-1 || rep.Out != out {
		t.Errorf("repair saved %d keys into %q, want %d into %q", rep.Keys, rep.Out, n-1, out)
	}
	after, err := os.ReadFile(pool)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, img) {
		t.Error("repair wrote to the damaged pool")
	}
	if s, err := run(t, "check", out); err != nil || !strings.HasPrefix(s, "ok:") {
		t.Errorf("check on the repaired pool: %q, %v", s, err)
	}
	for i := range n {
		got, err := run(t, "get", out, fmt.Sprintf("k%02d", i))
		if i == 17 {
			if err == nil {
				t.Errorf("the garbled key was saved: %q", got)
			}
			continue
		}
		if want := fmt.Sprintf("value-%02d-xxxxxxxx", i); err != nil || strings.TrimSpace(got) != want {
			t.Errorf("get k%02d from the repaired pool: %q, %v; want %q", i, got, err, want)
		}
	}

	// The new pool is never written over without --force, never when it is
	// the damaged pool, and --force replaces it.
	if _, err := run(t, "repair", pool, "--out", out); !errors.Is(err, errUsage) {
		t.Errorf("repair onto an existing --out: %v, want a usage error", err)
	}
	if _, err := run(t, "repair", pool, "--out", pool, "--force"); !errors.Is(err, errUsage) {
		t.Errorf("repair --out the damaged pool itself: %v, want a usage error", err)
	}
	link := filepath.Join(dir, "link.pool")
	if err := os.Symlink(pool, link); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "repair", pool, "--out", link, "--force"); !errors.Is(err, errUsage) {
		t.Errorf("repair --out a link to the damaged pool: %v, want a usage error", err)
	}
	if _, err := run(t, "repair", link, "--out", link, "--force"); !errors.Is(err, errUsage) {
		t.Errorf("repair through a link onto the same link: %v, want a usage error", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
		t.Errorf("the link after a refused repair: %v, %v", fi, err)
	}
	if s, err := run(t, "repair", pool, "--out", out, "--force"); err != nil || !strings.HasPrefix(s, "saved 39 keys") {
		t.Errorf("repair --force: %q, %v", s, err)
	}
	if _, err := run(t, "repair", pool); !errors.Is(err, errUsage) {
		t.Errorf("repair without --out: %v, want a usage error", err)
	}
	if _, err := run(t, "--mode", "bogus", "repair", pool, "--out", filepath.Join(dir, "m.pool")); err == nil {
		t.Error("repair accepts --mode bogus")
	}

	// A failed repair leaves --out as it was, --force or not.
	before, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "repair", filepath.Join(dir, "typo.pool"), "--out", out, "--force"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("repair of a missing pool: %v, want ErrNotExist", err)
	}
	empty := filepath.Join(dir, "empty.pool")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "repair", empty, "--out", out, "--force"); err == nil {
		t.Error("repair of an empty file succeeded")
	}
	if after, err := os.ReadFile(out); err != nil || !bytes.Equal(after, before) {
		t.Errorf("a failed repair --force changed --out (%v)", err)
	}
	// The new pool cannot be opened (no MAP_SYNC off a DAX mount).
	if _, err := run(t, "--mode", "on", "repair", pool, "--out", filepath.Join(dir, "on.pool")); err == nil {
		t.Log("repair --mode on succeeded: this directory is on a DAX mount")
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*repair*"))
	if len(left) > 0 {
		t.Errorf("a failed repair left %v behind", left)
	}

	// The longest name a directory entry may have is a valid --out.
	long := filepath.Join(dir, strings.Repeat("a", 250))
	if _, err := run(t, "repair", pool, "--out", long); err != nil {
		t.Errorf("repair --out a 250-byte name: %v", err)
	}

	// A pool another handle holds open is not replaced.
	db, err := kv.Open(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "repair", pool, "--out", out, "--force")
	db.Close()
	if !errors.Is(err, kv.ErrLocked) {
		t.Errorf("repair --force onto an open pool: %v, want ErrLocked", err)
	}

	// A FIFO is not read as a pool (the read would block).
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "repair", fifo, "--out", filepath.Join(dir, "f.pool")); !errors.Is(err, errUsage) {
		t.Errorf("repair of a FIFO: %v, want a usage error", err)
	}
}

// TestRepairJSONNamesDamagedKeys: damaged keys print as the other commands
// print keys: a string when UTF-8, else base64, never Go-quoted.
func TestRepairJSONNamesDamagedKeys(t *testing.T) {
	g := &globals{json: true}
	cmd := newRepairCommand(g)
	var out bytes.Buffer
	cmd.SetOut(&out)
	rep := &kv.RepairReport{Keys: 1, Damaged: [][]byte{[]byte("k17"), {0xff, 0x00}}}
	if err := printRepair(cmd, g, "n.pool", rep); err != nil {
		t.Fatal(err)
	}
	var v struct {
		DamagedKeys int        `json:"damaged_keys"`
		Damaged     []jsonPair `json:"damaged"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil {
		t.Fatalf("%q: %v", out.String(), err)
	}
	if v.DamagedKeys != 2 || len(v.Damaged) != 2 || v.Damaged[0].Key != "k17" || v.Damaged[1].KeyBase64 != "/wA=" {
		t.Errorf("repair --json printed %s", out.String())
	}
}

// TestRepairInterrupted: SIGINT in the middle of a repair removes the
// half-built pool and leaves --out absent; the process exits 130.
func TestRepairInterrupted(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "daxkv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pool, out := filepath.Join(dir, "big.pool"), filepath.Join(dir, "new.pool")
	if b, err := exec.Command(bin, "demo", "--pool", pool, "--keys", "200000", "--batch", "1000", "--value-size", "400", "--mode", "emulated", "--json").CombinedOutput(); err != nil {
		t.Fatalf("demo: %v\n%s", err, b)
	}
	cmd := exec.Command(bin, "repair", pool, "--out", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for the half-built pool to appear, then interrupt.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(dir, ".daxkv-repair-*")); len(m) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Skipf("repair finished before the interrupt (%v): nothing to test", err)
	}
	if ee.ExitCode() != 130 {
		t.Errorf("interrupted repair exited %d, want 130; stderr %q", ee.ExitCode(), stderr.String())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".daxkv-repair-*")); len(m) > 0 {
		t.Errorf("an interrupted repair left %v", m)
	}
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an interrupted repair created --out: %v", err)
	}
}
