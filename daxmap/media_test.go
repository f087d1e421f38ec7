package daxmap

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fakeMediaSysfs builds a sysfs tree at root with one region (persistence
// domain dom) of two DIMMs, a pmem block device with bad sectors, and a
// device-DAX device; it returns the /sys/dev links of both.
func fakeMediaSysfs(t *testing.T, root, dom string, shutdowns [2]string) (block, char string) {
	t.Helper()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	region := "devices/LNXSYSTM:00/ACPI0012:00/ndbus0/region3"
	if dom != "" {
		write(region+"/persistence_domain", dom+"\n")
	}
	write(region+"/mapping0", "nmem0,0,536870912,0\n")
	write(region+"/mapping1", "nmem1,0,536870912,1\n")
	write(region+"/resource", "0x240000000\n")
	write(region+"/badblocks", "2048 8\n") // at 1 MiB into the region
	for i, n := range shutdowns {
		if n != "" {
			write("bus/nd/devices/nmem"+string(rune('0'+i))+"/nfit/dirty_shutdown", n+"\n")
		}
	}
	write(region+"/namespace3.0/block/pmem3/badblocks", "16 8\n100 4\n")
	write(region+"/dax3.1/dax/dax3.1/resource", "0x240080000\n") // 512 KiB into the region
	link := func(rel, target string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(root, target), p); err != nil {
			t.Fatal(err)
		}
	}
	link("dev/block/259:3", region+"/namespace3.0/block/pmem3")
	link("dev/char/252:1", region+"/dax3.1/dax/dax3.1")
	return filepath.Join(root, "dev/block/259:3"), filepath.Join(root, "dev/char/252:1")
}

func TestReadMedia(t *testing.T) {
	root := t.TempDir()
	block, char := fakeMediaSysfs(t, root, "cpu_cache", [2]string{"3", "4"})
	// The file's first MiB lies at device byte 8192 on, its second at 1 MiB.
	ext := []extent{{logical: 0, physical: 8192, length: 1 << 20}, {logical: 1 << 20, physical: 4 << 20, length: 1 << 20}}
	m := readMedia(root, block, ext, false)
	if m.Region != "region3" || m.PersistenceDomain != "cpu_cache" || !m.CPUCache() || m.UnsafeShutdowns != 7 {
		t.Fatalf("block device: %+v", m)
	}
	// Bad sectors 16..23 (bytes 8192..12287) are the file's first 4 KiB;
	// sectors 100..103 are bytes 51200..53247 of the device: file 43008.
	if want := []Range{{0, 4096}, {43008, 2048}}; !slices.Equal(m.Bad, want) {
		t.Fatalf("bad ranges %v, want %v", m.Bad, want)
	}
	d := readMedia(root, char, nil, true)
	// The region's bad sectors start 1 MiB into it, 512 KiB into the device.
	if want := []Range{{512 << 10, 4096}}; d.Region != "region3" || !slices.Equal(d.Bad, want) {
		t.Fatalf("device DAX: %+v, want bad %v", d, want)
	}
}

func TestReadMediaUnknowns(t *testing.T) {
	root := t.TempDir()
	block, _ := fakeMediaSysfs(t, root, "", [2]string{"3", ""})
	m := readMedia(root, block, nil, false)
	if m.PersistenceDomain != "" || m.CPUCache() || m.UnsafeShutdowns != -1 {
		t.Fatalf("a region without persistence_domain and a DIMM without a count: %+v", m)
	}
	if m := readMedia(root, filepath.Join(root, "dev/block/8:0"), nil, false); m.Region != "" || m.UnsafeShutdowns != -1 || m.Bad != nil {
		t.Fatalf("a device outside any region: %+v", m)
	}
}

func TestMediaOfATmpfsPool(t *testing.T) {
	m := mustOpen(t, poolPath(t), Options{Size: 4 * testChunk, ChunkSize: testChunk})
	if md := m.Media(); md.Region != "" || md.Bad != nil {
		t.Fatalf("a pool off persistent memory has media %+v", md)
	}
}
