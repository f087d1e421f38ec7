package guest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/daxkv/daxkv/kv"
)

// The guest runs under software emulation: pools and workloads stay small.
const (
	poolSize  = 8 << 20
	chunkSize = 1 << 20
	numKeys   = 1000
)

// requireGuest skips the test outside the DAX test guest.
func requireGuest(t *testing.T) {
	t.Helper()
	if os.Getenv("DAXVM_GUEST") != "1" {
		t.Skip("runs only inside the DAX test guest (make test-dax): DAXVM_GUEST is not 1")
	}
}

// guestEnv returns the environment variable the guest's init sets for the test.
func guestEnv(t *testing.T, name string) string {
	t.Helper()
	requireGuest(t)
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: the guest's init sets it", name)
	}
	return v
}

// infof logs a line that is not a failure (see the package doc).
func infof(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("info: "+format, args...)
}

func smallOptions(mode kv.DAXMode) *kv.Options {
	return &kv.Options{Size: poolSize, ChunkSize: chunkSize, DAX: mode}
}

// freshPath returns dir/name with no pool left there by an earlier run.
func freshPath(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return path
}

// openDB opens a pool and closes it when the test ends.
func openDB(t *testing.T, path string, opts *kv.Options) *kv.DB {
	t.Helper()
	db, err := kv.Open(path, opts)
	if err != nil {
		t.Fatalf("open %s with DAX mode %v: %v", path, opts.DAX, err)
	}
	t.Cleanup(func() { closeDB(t, db) })
	return db
}

// closeDB closes db; closing it again (as the cleanup of openDB does) is no failure.
func closeDB(t *testing.T, db *kv.DB) {
	t.Helper()
	if err := db.Close(); err != nil && !errors.Is(err, kv.ErrClosed) {
		t.Errorf("close: %v", err)
	}
}

// wantMapSync fails the test unless the pool is mapped with real DAX: effective
// mode DAXOn through a MAP_SYNC (or device-DAX) mapping.
func wantMapSync(t *testing.T, st kv.Stats, what string) {
	t.Helper()
	if st.Mode != kv.DAXOn || !st.MapSync {
		t.Fatalf("%s: effective mode %v with MapSync=%v, want DAXOn with MapSync=true (stats %+v)", what, st.Mode, st.MapSync, st)
	}
}

func key(i int) []byte { return []byte(fmt.Sprintf("key/%06d", i)) }

// value returns the value of key i in generation gen: 16 to 215 bytes, so records
// of several sizes are allocated.
func value(i, gen int) []byte {
	unit := fmt.Sprintf("v%d.%06d|", gen, i)
	n := 16 + i*37%200
	return bytes.Repeat([]byte(unit), n/len(unit)+1)[:n]
}

func put(t *testing.T, db *kv.DB, k, v []byte) {
	t.Helper()
	if err := db.Put(k, v); err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
}

// model is what the pool must hold.
type model map[string][]byte

func (m model) put(t *testing.T, db *kv.DB, k, v []byte) {
	t.Helper()
	put(t, db, k, v)
	m[string(k)] = v
}

// check compares db with m: the key count, a Get of every key, a Get of every
// key in gone (must be ErrNotFound), and a full Scan (every key, in order, once).
func (m model) check(t *testing.T, db *kv.DB, gone [][]byte) {
	t.Helper()
	if got := db.Stats().Keys; got != int64(len(m)) {
		t.Errorf("Stats().Keys = %d, want %d", got, len(m))
	}
	for k, want := range m {
		got, err := db.Get([]byte(k))
		if err != nil {
			t.Fatalf("get %q: %v", k, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("get %q = %q, want %q", k, got, want)
		}
	}
	for _, k := range gone {
		if got, err := db.Get(k); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("get %q of a deleted key = %q, %v; want ErrNotFound", k, got, err)
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	i := 0
	err := db.Scan(nil, nil, func(k, v []byte) error {
		if i >= len(keys) || string(k) != keys[i] {
			return fmt.Errorf("scan visits %q at position %d, want the %d keys in order", k, i, len(keys))
		}
		if !bytes.Equal(v, m[keys[i]]) {
			return fmt.Errorf("scan: %q = %q, want %q", k, v, m[keys[i]])
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(keys) {
		t.Fatalf("scan visited %d keys, want %d", i, len(keys))
	}
}
