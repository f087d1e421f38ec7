package daxmap

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// defaultDevDAXAlign is the mapping alignment assumed for a device-DAX
// device whose sysfs directory does not say: 2 MiB, what ndctl creates by
// default on amd64 and arm64.
const defaultDevDAXAlign = 2 << 20

// sysRoot is where sysfs is mounted on every Linux system.
const sysRoot = "/sys"

// devDAXAlignFiles are the sysfs attributes, relative to the device's
// directory, that may give the alignment, in the order they are tried: the
// per-device attribute of kernels since 5.10, then the region's attribute
// through the parent device (older kernels, and what libpmem2 reads).
var devDAXAlignFiles = []string{
	"align",
	filepath.Join("device", "align"),
	filepath.Join("device", "dax_region", "align"),
}

// devDAXGeometry reads, from the sysfs tree mounted at root, the size of the
// device-DAX character device major:minor and the alignment its mappings'
// offsets, lengths and addresses must have. It returns mapLen, the size
// rounded down to the alignment: the bytes Open maps.
func devDAXGeometry(root string, major, minor uint32) (mapLen, align int64, err error) {
	dir := filepath.Join(root, "dev", "char", fmt.Sprintf("%d:%d", major, minor))
	size, err := readSysfsInt(filepath.Join(dir, "size"))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, fmt.Errorf("character device %d:%d is not device DAX (no size in sysfs): %w", major, minor, err)
	}
	if err != nil {
		return 0, 0, err
	}
	align = defaultDevDAXAlign
	for _, name := range devDAXAlignFiles {
		a, err := readSysfsInt(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, 0, err
		}
		if a < int64(os.Getpagesize()) || a&(a-1) != 0 {
			return 0, 0, fmt.Errorf("device DAX %d:%d: alignment %d in %s is not a power of two of at least a page",
				major, minor, a, name)
		}
		align = a
		break
	}
	mapLen = roundDown(size, align)
	if mapLen <= 0 {
		return 0, 0, fmt.Errorf("device DAX %d:%d: size %d is less than its alignment %d", major, minor, size, align)
	}
	return mapLen, align, nil
}

// readSysfsInt reads a sysfs attribute holding one non-negative integer
// (decimal, or hexadecimal with 0x).
func readSysfsInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseInt(s, 0, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("sysfs %s: %q is not a size", path, s)
	}
	return n, nil
}
