package daxmap

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReview3SparsePoolGetsRegionBadBlocks: FIEMAP of a pool file with no
// allocated extents (all holes) returns a nil slice with no error;
// readMedia took nil extents to mean device DAX and so placed the
// region's bad sectors (relative to the region, not the file) straight into
// the pool. (Found by the review of the hardware work.)
func TestReview3SparsePoolGetsRegionBadBlocks(t *testing.T) {
	dir := t.TempDir() // a disk filesystem, where FIEMAP works
	f, err := os.Create(filepath.Join(dir, "pool"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4 << 20); err != nil {
		t.Fatal(err)
	}
	ext, err := fileExtents(int(f.Fd()))
	if err != nil {
		t.Skipf("fiemap: %v", err)
	}
	t.Logf("extents of a sparse file: %#v (nil: %v)", ext, ext == nil)
	root := t.TempDir()
	block, _ := fakeMediaSysfs(t, root, "memory_controller", [2]string{"1", "1"})
	m := readMedia(root, block, ext, false)
	// The block device pmem3's own list is sectors 16..23 and 100..103; none
	// of the file's bytes are on the device at all, so no pool byte is bad.
	// The region's list (sector 2048 of the region) must not appear.
	for _, r := range m.Bad {
		if r.Off == 1<<20 {
			t.Fatalf("a block-device pool was given the region's bad blocks as pool offsets: %v", m.Bad)
		}
	}
	if len(m.Bad) != 0 {
		t.Fatalf("a pool with no blocks on the device has bad ranges %v", m.Bad)
	}
}

// TestReview3BadblocksSectorOverflow: a sector number whose byte offset
// overflows int64 wraps to a small pool offset instead of being refused.
func TestReview3BadblocksSectorOverflow(t *testing.T) {
	p := filepath.Join(t.TempDir(), "badblocks")
	// 2^55 sectors * 512 = 2^64 -> wraps to 0.
	if err := os.WriteFile(p, []byte("36028797018963968 8\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := readBadblocks(p)
	if err == nil && len(rs) > 0 && rs[0].Off >= 0 && rs[0].Off < 1<<40 {
		t.Fatalf("sector 2^55 parsed as byte range %v (int64 overflow), want an error", rs)
	}
}
