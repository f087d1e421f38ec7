//go:build linux

package kv

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPutUnderFileSizeLimit: a store through the shared mapping is not
// subject to RLIMIT_FSIZE (the file's size does not change), but a pwrite
// is, by offset, whatever the file's size: past the limit it gets EFBIG
// (SIGXFSZ, which Go ignores). A pool that worked in DAXEmulated failed its
// DB at the first Put past the limit in DAXOff on a disk (writeRecord),
// though the file never grew (found by an adversarial review). Such a
// record is now stored through the mapping.
func TestPutUnderFileSizeLimit(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			want := map[string][]byte{}
			path := filepath.Join(diskDir(t), "pool")
			opts := &Options{DAX: mode, Size: 2 << 20, ChunkSize: 64 << 10, NoAutoCompact: true}
			db, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var old unix.Rlimit
			if err := unix.Getrlimit(unix.RLIMIT_FSIZE, &old); err != nil {
				t.Fatal(err)
			}
			lim := old
			lim.Cur = 256 << 10 // the pool file is 2 MiB already: it never grows here
			if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &lim); err != nil {
				t.Skip(err)
			}
			defer unix.Setrlimit(unix.RLIMIT_FSIZE, &old)
			for i := range 50 { // 50 x 8 KiB: past 256 KiB, within the 2 MiB file
				k, v := fmt.Appendf(nil, "key-%03d", i), bytes.Repeat([]byte{byte(i)}, 8<<10)
				if err := db.Put(k, v); err != nil {
					t.Fatalf("Put #%d in a %d-byte pool file (not growing), RLIMIT_FSIZE %d: %v", i, 2<<20, lim.Cur, err)
				}
				want[string(k)] = v
			}
			for k, v := range want {
				if got, err := db.Get([]byte(k)); err != nil || !bytes.Equal(got, v) {
					t.Fatalf("Get(%s) under the limit: %d bytes, %v", k, len(got), err)
				}
			}
		})
	}
}
