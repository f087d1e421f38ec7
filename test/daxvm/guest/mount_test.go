package guest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/kv"
)

// TestDAXOnMount runs the store on the ext4 -o dax mount under DAXOn: the pool is
// mapped with MAP_SYNC, and put, get, scan, batch and reopen work on it.
func TestDAXOnMount(t *testing.T) {
	path := freshPath(t, guestEnv(t, "DAXVM_DAXDIR"), "mount.pool")
	db := openDB(t, path, smallOptions(kv.DAXOn))
	st := db.Stats()
	wantMapSync(t, st, "DAXOn on the DAX mount")
	if st.DeviceDAX {
		t.Errorf("Stats().DeviceDAX = true for a pool file")
	}
	infof(t, "open: mode %v, flush %q, pool %d bytes", st.Mode, st.FlushMethod, st.PoolSize)

	m := model{}
	for i := 0; i < numKeys; i++ {
		m.put(t, db, key(i), value(i, 0))
	}
	m.check(t, db, nil)

	// A range scan visits [start, end) in order.
	var got [][]byte
	err := db.Scan(key(100), key(200), func(k, v []byte) error {
		if !bytes.Equal(v, m[string(k)]) {
			return fmt.Errorf("scan: %q = %q, want %q", k, v, m[string(k)])
		}
		got = append(got, bytes.Clone(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 100 {
		t.Fatalf("scan [%s, %s) visited %d keys, want 100", key(100), key(200), len(got))
	}
	for i, k := range got {
		if !bytes.Equal(k, key(100+i)) {
			t.Fatalf("scan [%s, %s): key %d is %q, want %q", key(100), key(200), i, k, key(100+i))
		}
	}

	// A batch of new keys, overwrites and deletes.
	b := db.NewBatch()
	var gone [][]byte
	for i := numKeys; i < numKeys+100; i++ {
		b.Put(key(i), value(i, 1))
		m[string(key(i))] = value(i, 1)
	}
	for i := 50; i < 60; i++ {
		b.Put(key(i), value(i, 1))
		m[string(key(i))] = value(i, 1)
	}
	for i := 0; i < 50; i++ {
		b.Delete(key(i))
		delete(m, string(key(i)))
		gone = append(gone, key(i))
	}
	if err := db.Apply(b); err != nil {
		t.Fatalf("apply: %v", err)
	}
	m.check(t, db, gone)
	closeDB(t, db)

	db = openDB(t, path, smallOptions(kv.DAXOn))
	st = db.Stats()
	wantMapSync(t, st, "DAXOn on the DAX mount, reopened")
	if st.Recovered {
		t.Errorf("Stats().Recovered = true after a clean Close")
	}
	m.check(t, db, gone)
	infof(t, "reopen: %d keys, pool %d bytes", st.Keys, st.PoolSize)
}

// TestAutoPicksDAX: DAXAuto on the DAX mount takes the MAP_SYNC path, and
// the probe `daxkv info` uses says the mount grants MAP_SYNC.
func TestAutoPicksDAX(t *testing.T) {
	if err := daxmap.ProbeSync(guestEnv(t, "DAXVM_DAXDIR")); err != nil {
		t.Errorf("ProbeSync on the DAX mount: %v, want MAP_SYNC granted", err)
	}
	path := freshPath(t, guestEnv(t, "DAXVM_DAXDIR"), "auto.pool")
	db := openDB(t, path, smallOptions(kv.DAXAuto))
	st := db.Stats()
	wantMapSync(t, st, "DAXAuto on the DAX mount")
	infof(t, "mode %v (preferred %v), flush %q", st.Mode, st.PreferredMode, st.FlushMethod)
	m := model{}
	m.put(t, db, []byte("auto"), []byte("dax"))
	m.check(t, db, nil)
}

// TestAutoOnTmpfs: DAXAuto on tmpfs, where MAP_SYNC fails (as the probe
// says), takes the page-cache path.
func TestAutoOnTmpfs(t *testing.T) {
	if err := daxmap.ProbeSync(guestEnv(t, "DAXVM_TMPDIR")); !errors.Is(err, daxmap.ErrDAXUnsupported) {
		t.Errorf("ProbeSync on tmpfs: %v, want ErrDAXUnsupported", err)
	}
	path := freshPath(t, guestEnv(t, "DAXVM_TMPDIR"), "auto.pool")
	db := openDB(t, path, smallOptions(kv.DAXAuto))
	st := db.Stats()
	if st.Mode != kv.DAXOff || st.MapSync {
		t.Fatalf("DAXAuto on tmpfs: effective mode %v with MapSync=%v, want DAXOff without MapSync (stats %+v)", st.Mode, st.MapSync, st)
	}
	infof(t, "mode %v, flush %q", st.Mode, st.FlushMethod)
	m := model{}
	m.put(t, db, []byte("auto"), []byte("page cache"))
	if err := db.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	closeDB(t, db)
	db = openDB(t, path, smallOptions(kv.DAXAuto))
	m.check(t, db, nil)
}

// TestDAXOnTmpfs: DAXOn refuses a file system without DAX.
func TestDAXOnTmpfs(t *testing.T) {
	path := freshPath(t, guestEnv(t, "DAXVM_TMPDIR"), "daxon.pool")
	db, err := kv.Open(path, smallOptions(kv.DAXOn))
	if err == nil {
		st := db.Stats()
		closeDB(t, db)
		t.Fatalf("DAXOn on tmpfs opened, with effective mode %v and MapSync=%v; want ErrDAXUnsupported", st.Mode, st.MapSync)
	}
	if !errors.Is(err, kv.ErrDAXUnsupported) {
		t.Fatalf("DAXOn on tmpfs: %v; want ErrDAXUnsupported", err)
	}
	infof(t, "open: %v", err)
}

// TestSwitchModeOnDAX switches a live pool on the DAX mount from MAP_SYNC to
// the page cache and back (daxmap remaps it at the same addresses with and
// without MAP_SYNC), writing in each mode, while readers keep reading (the
// switch does not stop them: the kernel replaces the mapping in one step);
// everything is there after a reopen.
func TestSwitchModeOnDAX(t *testing.T) {
	path := freshPath(t, guestEnv(t, "DAXVM_DAXDIR"), "switch.pool")
	db := openDB(t, path, smallOptions(kv.DAXOn))
	m := model{}
	m.put(t, db, []byte("before"), []byte("map_sync"))
	stop, readErr := make(chan struct{}), make(chan error, 1)
	go func() {
		for n := 0; ; n++ {
			select {
			case <-stop:
				readErr <- nil
				return
			default:
			}
			err := db.View([]byte("before"), func(v []byte) error {
				if string(v) != "map_sync" {
					return fmt.Errorf("read %q during the switches", v)
				}
				return nil
			})
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	ctx := context.Background()
	if err := db.SwitchMode(ctx, kv.DAXOff); err != nil {
		t.Fatalf("switch to DAXOff: %v", err)
	}
	if st := db.Stats(); st.Mode != kv.DAXOff || st.MapSync {
		t.Fatalf("after switching to DAXOff: mode %v MapSync %v", st.Mode, st.MapSync)
	}
	m.put(t, db, []byte("between"), []byte("page cache"))
	if err := db.SwitchMode(ctx, kv.DAXOn); err != nil {
		t.Fatalf("switch back to DAXOn: %v", err)
	}
	st := db.Stats()
	wantMapSync(t, st, "after switching back to DAXOn")
	m.put(t, db, []byte("after"), []byte("map_sync again"))
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	closeDB(t, db)
	db = openDB(t, path, smallOptions(kv.DAXOn))
	m.check(t, db, nil)
	infof(t, "switched DAXOn -> DAXOff -> DAXOn online, flush %q", st.FlushMethod)
}
