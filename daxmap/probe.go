package daxmap

import (
	"errors"
	"fmt"
	"os"
)

// ProbeSync reports whether the filesystem at path grants a synchronous
// mapping (MAP_SHARED_VALIDATE|MAP_SYNC): nil when it does, else an error
// wrapping ErrDAXUnsupported that says why (the kernel's refusal), or the
// error that kept the probe from asking. path is a file, which is mapped
// read-only and not changed, or a directory, in which a one-page scratch
// file is made and removed. Device DAX, always synchronous, is not probed.
func ProbeSync(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		f, err := os.CreateTemp(path, ".daxkv-probe-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if err := f.Truncate(int64(os.Getpagesize())); err != nil {
			return err
		}
		return probeSync(int(f.Fd()), os.Getpagesize())
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("probe %s: not a file or a directory: %w", path, errors.ErrUnsupported)
	}
	if fi.Size() < int64(os.Getpagesize()) {
		return fmt.Errorf("probe %s: shorter than a page (%d bytes); probe its directory instead", path, fi.Size())
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return probeSync(int(f.Fd()), os.Getpagesize())
}
