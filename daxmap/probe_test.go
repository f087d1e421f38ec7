//go:build linux

package daxmap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestProbeSync: off a DAX mount the probe says the kernel refused
// MAP_SYNC, leaves a probed file as it was, and leaves no scratch file in a
// probed directory.
func TestProbeSync(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	want := bytes.Repeat([]byte{7}, 8192)
	if err := os.WriteFile(file, want, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, file} {
		err := ProbeSync(p)
		if err != nil && !errors.Is(err, ErrDAXUnsupported) {
			t.Errorf("ProbeSync(%s): %v, want nil or ErrDAXUnsupported", p, err)
		}
		t.Logf("ProbeSync(%s): %v", p, err)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, want) {
		t.Error("ProbeSync changed the file")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("ProbeSync left %d entries in the directory, want 1", len(ents))
	}
	if err := os.WriteFile(file, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ProbeSync(file); err == nil || errors.Is(err, ErrDAXUnsupported) {
		t.Errorf("ProbeSync on a file shorter than a page: %v", err)
	}
	if err := ProbeSync(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ProbeSync on a missing path: %v", err)
	}
}
