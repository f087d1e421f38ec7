package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	// A link at --out is replaced, never followed: the pool it named is
	// untouched.
	if _, err := run(t, "repair", pool, "--out", link, "--force"); err != nil {
		t.Errorf("repair --out a link --force: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("--out %s after repair: %v, %v; want a new regular file", link, fi, err)
	}
	if after, err := os.ReadFile(pool); err != nil || !bytes.Equal(after, img) {
		t.Errorf("repair through a link at --out wrote to the damaged pool (%v)", err)
	}
	if s, err := run(t, "repair", pool, "--out", out, "--force"); err != nil || !strings.HasPrefix(s, "saved 39 keys") {
		t.Errorf("repair --force: %q, %v", s, err)
	}
	if _, err := run(t, "repair", pool); !errors.Is(err, errUsage) {
		t.Errorf("repair without --out: %v, want a usage error", err)
	}
}
