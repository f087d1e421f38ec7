package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/kv"
)

// TestMediaMemoryController: QEMU's NVDIMMs, by default, are persistent
// from the memory controller on (ADR): the kernel says so, and a MAP_SYNC
// pool keeps its cache-line flushes.
func TestMediaMemoryController(t *testing.T) {
	path := freshPath(t, guestEnv(t, "DAXVM_DAXDIR"), "media.pool")
	db := openDB(t, path, smallOptions(kv.DAXOn))
	st := db.Stats()
	if st.PersistenceDomain != "memory_controller" || st.FlushMethod == "none (cpu_cache)" || !st.MapSync {
		t.Fatalf("fsdax pool on an ADR NVDIMM: domain %q, flush %q, map_sync %v", st.PersistenceDomain, st.FlushMethod, st.MapSync)
	}
	closeDB(t, db)
	md := mediaOf(t, path)
	infof(t, "region %s, persistence domain %s, unsafe shutdowns %d, bad bytes %d, flush %s", md.Region, md.PersistenceDomain, md.UnsafeShutdowns, st.BadBytes, st.FlushMethod)
}

// TestMediaCPUCache runs in a boot whose NVDIMMs QEMU declares persistent
// from the CPU cache on (-machine nvdimm-persistence=cpu, like eADR): the
// kernel says so, and a MAP_SYNC pool commits with fences alone.
func TestMediaCPUCache(t *testing.T) {
	path := freshPath(t, guestEnv(t, "DAXVM_DAXDIR"), "cpucache.pool")
	db := openDB(t, path, smallOptions(kv.DAXOn))
	st := db.Stats()
	if st.PersistenceDomain != "cpu_cache" || st.FlushMethod != "none (cpu_cache)" || !st.MapSync {
		t.Fatalf("fsdax pool on an eADR NVDIMM: domain %q, flush %q, map_sync %v", st.PersistenceDomain, st.FlushMethod, st.MapSync)
	}
	m := model{}
	for i := 0; i < 200; i++ {
		m.put(t, db, fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i))
	}
	closeDB(t, db)
	db = openDB(t, path, smallOptions(kv.DAXOn))
	m.check(t, db, nil)
	infof(t, "200 puts with fences only, all there after a reopen")
}

// TestBadBlocks marks a block under a pool bad in the kernel's list for the
// pmem device (/sys/block/pmemN/badblocks), which makes a DAX fault on it
// raise SIGBUS, as real poison would: Open reads the list, places it in the
// pool through the file's extent map, never touches it, and every key off
// it reads back; the keys on it fail with ErrCorrupt or are gone.
func TestBadBlocks(t *testing.T) {
	dir := guestEnv(t, "DAXVM_DAXDIR")
	path := freshPath(t, dir, "badblocks.pool") // kept: its blocks stay allocated, away from other pools
	db := openDB(t, path, smallOptions(kv.DAXOn))
	m := model{}
	for i := 0; i < 2000; i++ {
		m.put(t, db, fmt.Appendf(nil, "k%05d", i), []byte(strings.Repeat("v", 200)+fmt.Sprint(i)))
	}
	closeDB(t, db)
	const poolOff = chunkSize + 64<<10 // inside the records of the second chunk, the first the allocator fills
	dev, err := daxmap.DeviceOffset(path, poolOff)
	if err != nil {
		t.Fatal(err)
	}
	bb := badblocksFile(t)
	if err := os.WriteFile(bb, fmt.Appendf(nil, "%d 8\n", dev/512), 0o644); err != nil {
		t.Fatalf("marking sectors bad in %s: %v", bb, err)
	}
	db = openDB(t, path, smallOptions(kv.DAXOn))
	st := db.Stats()
	if st.BadBytes < 4096 {
		t.Fatalf("the pool's bad bytes: %d, want the 4 KiB marked", st.BadBytes)
	}
	ok, bad := 0, 0
	for k, v := range m {
		got, err := db.Get([]byte(k))
		switch {
		case err == nil && string(got) == string(v):
			ok++
		case errors.Is(err, kv.ErrCorrupt) || errors.Is(err, kv.ErrNotFound):
			bad++
		default:
			t.Fatalf("key %s: %q, %v", k, got, err)
		}
	}
	if bad == 0 || bad > 20 || ok+bad != len(m) {
		t.Fatalf("%d keys read back, %d lost to the bad block, of %d", ok, bad, len(m))
	}
	if err := db.Check(); !errors.Is(err, kv.ErrCorrupt) {
		t.Fatalf("Check of a pool on a bad block: %v", err)
	}
	infof(t, "bad block at pool offset %d (device %d): %d keys read back, %d lost, %d damaged", poolOff, dev, ok, bad, st.DamagedKeys)
}

// badblocksFile is the badblocks attribute of the fsdax block device.
func badblocksFile(t *testing.T) string {
	t.Helper()
	dev := guestEnv(t, "DAXVM_PMEM")
	return filepath.Join("/sys/block", filepath.Base(dev), "badblocks")
}

// mediaOf opens the pool's mapping read-only to read what sysfs says.
func mediaOf(t *testing.T, path string) daxmap.Media {
	t.Helper()
	mm, err := daxmap.Open(path, daxmap.Options{ChunkSize: chunkSize, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	return mm.Media()
}
