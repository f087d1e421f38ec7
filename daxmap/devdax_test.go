package daxmap

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSysfs builds a sysfs tree under a temporary root with the given files
// (paths relative to the device's directory /sys/dev/char/252:3) and returns
// the root.
func fakeSysfs(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "dev", "char", "252:3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDevDAXGeometry(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name      string
		files     map[string]string
		wantLen   int64
		wantAlign int64
		wantErr   string // substring; empty for success
	}{
		{
			name:    "per-device align",
			files:   map[string]string{"size": "17179869184\n", "align": "1073741824\n", "device/align": "4096\n"},
			wantLen: 16 * gib, wantAlign: gib,
		},
		{
			name:    "region align through the parent",
			files:   map[string]string{"size": "4294967296\n", "device/align": "2097152\n"},
			wantLen: 4 * gib, wantAlign: 2 << 20,
		},
		{
			name:    "dax_region align",
			files:   map[string]string{"size": "4294967296\n", "device/dax_region/align": "0x40000000\n"},
			wantLen: 4 * gib, wantAlign: gib,
		},
		{
			name:    "no align: 2 MiB",
			files:   map[string]string{"size": "8388608"},
			wantLen: 8 << 20, wantAlign: 2 << 20,
		},
		{
			name:    "size rounded down to the alignment",
			files:   map[string]string{"size": "5242880\n"},
			wantLen: 4 << 20, wantAlign: 2 << 20,
		},
		{name: "no size: not device DAX", files: map[string]string{"dev": "1:3\n"}, wantErr: "not device DAX"},
		{name: "garbage size", files: map[string]string{"size": "lots\n"}, wantErr: "not a size"},
		{name: "negative size", files: map[string]string{"size": "-4096\n"}, wantErr: "not a size"},
		{name: "align not a power of two", files: map[string]string{"size": "8388608", "align": "3000000"}, wantErr: "power of two"},
		{name: "align below a page", files: map[string]string{"size": "8388608", "align": "64"}, wantErr: "power of two"},
		{name: "size below the alignment", files: map[string]string{"size": "1048576"}, wantErr: "less than its alignment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeSysfs(t, tt.files)
			n, align, err := devDAXGeometry(root, 252, 3)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got (%d, %d, %v), want an error containing %q", n, align, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.wantLen || align != tt.wantAlign {
				t.Errorf("got (%d, %d), want (%d, %d)", n, align, tt.wantLen, tt.wantAlign)
			}
		})
	}
}

func TestDevDAXGeometryOtherDevice(t *testing.T) {
	root := fakeSysfs(t, map[string]string{"size": "8388608"})
	_, _, err := devDAXGeometry(root, 252, 4)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "252:4") {
		t.Errorf("a device missing from sysfs: %v", err)
	}
}
