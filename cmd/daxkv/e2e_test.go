package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuiltBinary runs the daxkv binary itself, as a shell user does: exit
// statuses, what goes to stdout and what to stderr.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "daxkv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	pool := filepath.Join(dir, "e2e.pool")
	daxkv := func(stdin string, env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Fatalf("daxkv %v: %v", args, err)
		}
		return o.String(), e.String(), code
	}
	if out, _, code := daxkv("", nil, "create", pool); code != 0 || !strings.HasPrefix(out, "created ") {
		t.Fatalf("create: %q, exit %d", out, code)
	}
	if _, _, code := daxkv("raw\x00bytes", nil, "put", pool, "k", "-"); code != 0 {
		t.Fatalf("put from stdin: exit %d", code)
	}
	if out, _, code := daxkv("", nil, "get", pool, "k"); code != 0 || out != "raw\x00bytes" {
		t.Fatalf("get: %q, exit %d", out, code)
	}
	out, errOut, code := daxkv("", nil, "get", pool, "absent")
	if code != 1 || out != "" || !strings.Contains(errOut, "not found") {
		t.Fatalf("get of an absent key: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if out, _, code := daxkv("", []string{"DAXKV_POOL=" + pool}, "scan", "--keys-only"); code != 0 || out != "k\n" {
		t.Fatalf("scan with DAXKV_POOL: %q, exit %d", out, code)
	}
	if out, _, code := daxkv("", nil, "--version"); code != 0 || !strings.HasPrefix(out, "daxkv version ") {
		t.Fatalf("--version: %q, exit %d", out, code)
	}
	if out, _, code := daxkv("", nil, "completion", "bash"); code != 0 || !strings.Contains(out, "daxkv") {
		t.Fatalf("completion bash: exit %d", code)
	}
	if _, errOut, code := daxkv("", nil, "create", pool); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("create over a pool: stderr %q, exit %d", errOut, code)
	}
	if _, errOut, code := daxkv("", nil, "frobnicate"); code != 1 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("an unknown command: stderr %q, exit %d", errOut, code)
	}

	// backup: a pool file that checks clean and holds the same keys;
	// an existing OUT is replaced only with --force; the copy is 0600.
	backup := filepath.Join(dir, "backup.pool")
	if out, errOut, code := daxkv("", nil, "backup", pool, backup); code != 0 || !strings.HasPrefix(out, "backed up 1 keys to ") {
		t.Fatalf("backup: stdout %q, stderr %q, exit %d", out, errOut, code)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v, %v", fi, err)
	}
	if out, _, code := daxkv("", nil, "check", backup); code != 0 || !strings.HasPrefix(out, "ok: 1 keys") {
		t.Fatalf("check of the backup: %q, exit %d", out, code)
	}
	if out, _, code := daxkv("", nil, "get", backup, "k"); code != 0 || out != "raw\x00bytes" {
		t.Fatalf("get from the backup: %q, exit %d", out, code)
	}
	if _, errOut, code := daxkv("", nil, "backup", pool, backup); code != 1 || !strings.Contains(errOut, "--force") {
		t.Fatalf("backup over an existing file: stderr %q, exit %d", errOut, code)
	}
	if _, errOut, code := daxkv("", nil, "backup", pool, pool, "--force"); code != 1 || !strings.Contains(errOut, "itself") {
		t.Fatalf("backup onto its own pool: stderr %q, exit %d", errOut, code)
	}
	if out, _, code := daxkv("", nil, "--json", "backup", pool, backup, "--force"); code != 0 || !strings.Contains(out, `"keys":1`) {
		t.Fatalf("backup --json --force: %q, exit %d", out, code)
	}
}
