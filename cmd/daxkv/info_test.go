package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/kv"
)

// TestInfo: info reads a pool's header without opening it for writing,
// says why MAP_SYNC is not granted off DAX, and still prints the header
// when a writer holds the pool.
func TestInfo(t *testing.T) {
	dir := t.TempDir()
	pool := filepath.Join(dir, "p.pool")
	if _, err := run(t, "put", pool, "a", "1"); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "--json", "info", pool)
	if err != nil {
		t.Fatal(err)
	}
	var in jsonInfo
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if len(in.FlushMethods) == 0 && in.FlushMethod != "none" {
		t.Errorf("info lists no flush instruction but daxkv uses %s", in.FlushMethod)
	}
	if in.Pool == nil || in.Pool.Version != 2 || in.Pool.ChunkSize == 0 || !in.Pool.Clean || in.Pool.PreferredMode != "auto" {
		t.Errorf("info's pool header: %+v", in.Pool)
	}
	// No filesystem of a test's temporary directory is a DAX mount; where
	// one is, the guest test proves the granted case.
	if in.MapSync == nil || (!*in.MapSync && !strings.Contains(in.MapSyncWhyNot, "not supported")) {
		t.Errorf("info's map_sync %v, why not %q", in.MapSync, in.MapSyncWhyNot)
	}

	db, err := kv.Open(pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out, err = run(t, "info", pool)
	if err != nil {
		t.Fatalf("info on a pool a writer holds: %v", err)
	}
	if !strings.Contains(out, "pool            format 2") || !strings.Contains(out, "preferred mode auto") || !strings.Contains(out, "locked") {
		t.Errorf("info on a held pool printed %q; want the header and the lock", out)
	}
	if out, err := run(t, "info", dir); err != nil || !strings.Contains(out, "map_sync") {
		t.Errorf("info on a directory: %q, %v", out, err)
	}
	if _, err := run(t, "info", ""); !errors.Is(err, errUsage) {
		t.Errorf("info with an empty path: %v, want a usage error", err)
	}
	if _, err := run(t, "info", filepath.Join(dir, "missing")); err == nil {
		t.Error("info on a missing path succeeded")
	}
}
