package guest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/daxkv/daxkv/kv"
)

const (
	crashPool = "crash.pool"
	// maxCrashWrites bounds the writer should the power cut never come.
	maxCrashWrites = 1 << 20
)

// crashOptions start the writer's pool as small as it goes, in the smallest
// chunks, so that the pool grows many times under the stream of writes and the
// power cut finds growth (file size and block allocation that MAP_SYNC makes
// durable at fault time) as well as records.
//
// DAXVM_CRASH_MODE=emulated (run.sh passes it through) writes under DAXEmulated
// instead: the same CPU flushes, but no MAP_SYNC, so the file's growth waits in
// the ext4 journal and the power cut is expected to lose acknowledged writes. It
// shows that the crash check can fail; it is never the default.
func crashOptions(t *testing.T) *kv.Options {
	t.Helper()
	o := &kv.Options{Size: 64 << 10, ChunkSize: 64 << 10, DAX: kv.DAXOn}
	switch m := os.Getenv("DAXVM_CRASH_MODE"); m {
	case "", "on":
	case "emulated":
		o.DAX = kv.DAXEmulated
		infof(t, "DAXVM_CRASH_MODE=emulated: no MAP_SYNC, acknowledged writes may be lost")
	default:
		t.Fatalf("DAXVM_CRASH_MODE=%q, want on or emulated", m)
	}
	return o
}

func crashKey(i int) []byte   { return []byte(fmt.Sprintf("crash/%09d", i)) }
func crashValue(i int) []byte { return value(i, 7) }

// TestCrashWriter puts crashKey(0), crashKey(1), ... under DAXOn and prints
// "ACK <i>" on stdout after each Put that returned nil. The guest's init cuts the
// power under it (no sync, no umount); the host takes the highest ACK it saw.
func TestCrashWriter(t *testing.T) {
	dir := guestEnv(t, "DAXVM_DAXDIR")
	if guestEnv(t, "DAXVM_CRASH") != "write" {
		t.Skip(`DAXVM_CRASH is not "write": this test runs until the power is cut`)
	}
	opts := crashOptions(t)
	db, err := kv.Open(freshPath(t, dir, crashPool), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	st := db.Stats()
	if opts.DAX == kv.DAXOn {
		wantMapSync(t, st, "DAXOn on the DAX mount")
	}
	infof(t, "pool %d bytes in chunks of %d", st.PoolSize, st.ChunkSize)
	for i := 0; i < maxCrashWrites; i++ {
		if err := db.Put(crashKey(i), crashValue(i)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		fmt.Printf("ACK %d\n", i)
	}
	t.Fatalf("%d writes and the power is still on", maxCrashWrites)
}

// TestCrashVerify, in the boot after the power cut, reopens the writer's pool and
// finds every acknowledged write, nothing else but the writes that followed them
// in order, and a store that takes new writes.
func TestCrashVerify(t *testing.T) {
	dir := guestEnv(t, "DAXVM_DAXDIR")
	acked, err := strconv.Atoi(guestEnv(t, "DAXVM_ACKED"))
	if err != nil {
		t.Fatalf("DAXVM_ACKED: %v", err)
	}
	if acked < 0 {
		t.Fatalf("the writer acknowledged no write before the power cut: nothing to verify")
	}
	db := openDB(t, filepath.Join(dir, crashPool), &kv.Options{DAX: kv.DAXOn})
	st := db.Stats()
	wantMapSync(t, st, "DAXOn on the DAX mount after the power cut")
	if !st.Recovered {
		t.Errorf("Stats().Recovered = false after a power cut, want true")
	}
	infof(t, "reopened after the power cut in %v: %d keys, pool %d bytes in chunks of %d", st.RecoveryTime, st.Keys, st.PoolSize, st.ChunkSize)

	lost, first := 0, -1
	var firstErr error
	for i := 0; i <= acked; i++ {
		v, err := db.Get(crashKey(i))
		if err == nil && !bytes.Equal(v, crashValue(i)) {
			err = fmt.Errorf("value %q, want %q", v, crashValue(i))
		}
		if err != nil {
			if lost++; first < 0 {
				first, firstErr = i, err
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of the %d acknowledged writes are lost or wrong; the first is %s: %v", lost, acked+1, crashKey(first), firstErr)
	}

	// One writer put the keys in order: what survives is crashKey(0..n-1) with
	// n > acked, each with its value; nothing else.
	n := 0
	err = db.Scan(nil, nil, func(k, v []byte) error {
		if !bytes.Equal(k, crashKey(n)) {
			return fmt.Errorf("scan: %q at position %d, want %q", k, n, crashKey(n))
		}
		if !bytes.Equal(v, crashValue(n)) {
			return fmt.Errorf("scan: %q = %q, want %q", k, v, crashValue(n))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Keys != int64(n) {
		t.Errorf("Stats().Keys = %d, scan visited %d", st.Keys, n)
	}
	infof(t, "%d writes acknowledged, %d present", acked+1, n)

	after := []byte("crash/after")
	put(t, db, after, []byte("written after the power cut"))
	if v, err := db.Get(after); err != nil || string(v) != "written after the power cut" {
		t.Fatalf("get %q after the power cut = %q, %v", after, v, err)
	}
}
