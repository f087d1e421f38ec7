package daxmap

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Media is what the kernel reports, in sysfs, about the persistent memory
// under a pool: the libnvdimm region it lives on, where its persistence
// domain ends, how many times its DIMMs shut down unsafely, and which of the
// pool's bytes lie on known bad blocks. A pool that is not on persistent
// memory the kernel knows (tmpfs, a disk) has an empty Media.
type Media struct {
	// Region is the region's sysfs name ("region0"), or "".
	Region string
	// PersistenceDomain is the region's persistence_domain: "cpu_cache"
	// when the CPU caches are inside the power-fail domain (eADR, or CXL
	// with global persistent flush), "memory_controller" for ADR; "" when
	// the kernel does not say.
	PersistenceDomain string
	// UnsafeShutdowns is the sum of the region's DIMMs' unsafe-shutdown
	// counts (nmem*/nfit/dirty_shutdown), or -1 when they are unknown.
	UnsafeShutdowns int64
	// Bad lists the pool's byte ranges on blocks the kernel knows are bad
	// (reading them raises SIGBUS), sorted and disjoint.
	Bad []Range
}

// Range is the byte range [Off, Off+Len) of a pool.
type Range struct {
	Off, Len int64
}

// End is Off+Len.
func (r Range) End() int64 { return r.Off + r.Len }

// CPUCache reports whether stores are persistent once they reach the CPU
// caches: cache-line flushes are then unnecessary (fences still order).
func (m Media) CPUCache() bool { return m.PersistenceDomain == "cpu_cache" }

var regionName = regexp.MustCompile(`^region[0-9]+$`)

// regionOf returns the sysfs directory of the libnvdimm region above dev
// (a /sys/dev/block/M:m or /sys/dev/char/M:m link, resolved), or "".
func regionOf(dev string) string {
	d, err := filepath.EvalSymlinks(dev)
	if err != nil {
		return ""
	}
	for ; d != "/" && d != "."; d = filepath.Dir(d) {
		if regionName.MatchString(filepath.Base(d)) {
			return d
		}
	}
	return ""
}

// readMedia reads what sysfs (mounted at root) says about the region under
// a block device (dev names /sys/dev/block/M:m; extents maps its byte
// offsets to the pool's) or, with devDAX, a device-DAX character device
// (/sys/dev/char/M:m, whose offsets are the pool's).
func readMedia(root, dev string, extents []extent, devDAX bool) Media {
	m := Media{UnsafeShutdowns: -1}
	region := regionOf(dev)
	if region == "" {
		return m
	}
	m.Region = filepath.Base(region)
	if b, err := os.ReadFile(filepath.Join(region, "persistence_domain")); err == nil {
		m.PersistenceDomain = strings.TrimSpace(string(b))
	}
	m.UnsafeShutdowns = unsafeShutdowns(root, region)
	// A block device lists its bad sectors itself, relative to itself;
	// device DAX has only its region's list, relative to the region.
	bb := filepath.Join(dev, "badblocks")
	var base int64
	if devDAX {
		bb = filepath.Join(region, "badblocks")
		base = devDAXOffset(dev, region)
	}
	bad, err := readBadblocks(bb)
	if err != nil {
		return m
	}
	for _, r := range bad {
		r.Off -= base
		if devDAX {
			m.Bad = append(m.Bad, r) // ranges of other namespaces fall outside the pool: kept out below
			continue
		}
		m.Bad = append(m.Bad, fileRanges(r, extents)...)
	}
	m.Bad = MergeRanges(m.Bad)
	return m
}

// unsafeShutdowns sums nfit/dirty_shutdown over the DIMMs that a region's
// mappingN attributes name ("nmem0,offset,length,position"), or -1 when a
// count is missing.
func unsafeShutdowns(root, region string) int64 {
	maps, _ := filepath.Glob(filepath.Join(region, "mapping[0-9]*"))
	if len(maps) == 0 {
		return -1
	}
	var sum int64
	for _, mp := range maps {
		b, err := os.ReadFile(mp)
		if err != nil {
			return -1
		}
		nmem, _, _ := strings.Cut(strings.TrimSpace(string(b)), ",")
		n, err := readSysfsInt(filepath.Join(root, "bus", "nd", "devices", nmem, "nfit", "dirty_shutdown"))
		if err != nil {
			return -1
		}
		sum += n
	}
	return sum
}

// devDAXOffset is where a device-DAX device starts inside its region, in
// bytes: the difference of their resource addresses (0 when unknown).
func devDAXOffset(dev, region string) int64 {
	d, err := readSysfsInt(filepath.Join(dev, "resource"))
	if err != nil {
		return 0
	}
	r, err := readSysfsInt(filepath.Join(region, "resource"))
	if err != nil || d < r {
		return 0
	}
	return d - r
}

// readBadblocks parses a badblocks attribute: one "sector count" line per
// bad range, in 512-byte sectors.
func readBadblocks(path string) ([]Range, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Range
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		s, err1 := strconv.ParseInt(fields[0], 10, 64)
		n, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil || s < 0 || n <= 0 || s > math.MaxInt64/512-n {
			return nil, fmt.Errorf("sysfs %s: bad line %q", path, sc.Text())
		}
		out = append(out, Range{s * 512, n * 512})
	}
	return out, sc.Err()
}

// extent maps a file's bytes [logical, logical+length) to the device's
// bytes from physical on (FIEMAP).
type extent struct {
	logical, physical, length int64
}

// fileRanges returns the pool (file) ranges that the device range r covers.
func fileRanges(r Range, extents []extent) []Range {
	var out []Range
	for _, e := range extents {
		lo, hi := max(r.Off, e.physical), min(r.End(), e.physical+e.length)
		if lo < hi {
			out = append(out, Range{e.logical + lo - e.physical, hi - lo})
		}
	}
	return out
}

// MergeRanges sorts ranges and merges those that overlap or touch.
func MergeRanges(rs []Range) []Range {
	slices.SortFunc(rs, func(a, b Range) int { return cmp.Compare(a.Off, b.Off) })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Off <= out[n-1].End() {
			out[n-1].Len = max(out[n-1].End(), r.End()) - out[n-1].Off
			continue
		}
		out = append(out, r)
	}
	return out
}

// DeviceOffset returns where byte off of the file at path lies on its block
// device (from the file's extent map), for diagnostics and for tests that
// mark a pool's blocks bad through sysfs.
func DeviceOffset(path string, off int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ext, err := fileExtents(int(f.Fd()))
	if err != nil {
		return 0, err
	}
	for _, e := range ext {
		if off >= e.logical && off < e.logical+e.length {
			return e.physical + off - e.logical, nil
		}
	}
	return 0, fmt.Errorf("daxkv: byte %d of %s is not on its device (a hole; extents %v)", off, path, ext)
}

// clipRanges keeps the parts of rs inside [0, n).
func clipRanges(rs []Range, n int64) []Range {
	var out []Range
	for _, r := range rs {
		lo, hi := max(r.Off, 0), min(r.End(), n)
		if lo < hi {
			out = append(out, Range{lo, hi - lo})
		}
	}
	return out
}
