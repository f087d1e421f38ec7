package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/kv"
)

// devdaxAlign is the alignment the guest's init gives the device-DAX namespace.
const devdaxAlign = 2 << 20

func devKey(i int) []byte { return []byte(fmt.Sprintf("dev/%06d", i)) }

// devSize reads the size of a device-DAX character device from sysfs.
func devSize(t *testing.T, dev string) int64 {
	t.Helper()
	p := filepath.Join("/sys/bus/dax/devices", filepath.Base(dev), "size")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return n
}

// openDevDAX opens the pool on the device and checks that it is device DAX and
// spans the device: the device's size comes from sysfs, since a character device
// has no file size, cannot be truncated or fallocated, and maps in 2 MiB units.
func openDevDAX(t *testing.T, dev string) *kv.DB {
	t.Helper()
	size := devSize(t, dev)
	db := openDB(t, dev, &kv.Options{DAX: kv.DAXOn})
	st := db.Stats()
	wantMapSync(t, st, "DAXOn on "+dev)
	if !st.DeviceDAX {
		t.Fatalf("Stats().DeviceDAX = false on %s", dev)
	}
	if st.PoolSize > size || st.PoolSize <= size-devdaxAlign {
		t.Fatalf("Stats().PoolSize = %d on %s, want the device's size %d (rounded down to 2 MiB at most)", st.PoolSize, dev, size)
	}
	infof(t, "%s: %d bytes, pool %d bytes, %d keys, flush %q", dev, size, st.PoolSize, st.Keys, st.FlushMethod)
	return db
}

// TestDeviceDAX creates a pool on the device-DAX character device, writes to it and
// reopens it.
func TestDeviceDAX(t *testing.T) {
	dev := guestEnv(t, "DAXVM_DEVDAX")
	db := openDevDAX(t, dev)
	m := model{}
	for i := 0; i < numKeys; i++ {
		m.put(t, db, devKey(i), value(i, 0))
	}
	m.check(t, db, nil)
	closeDB(t, db)

	db = openDevDAX(t, dev)
	if db.Stats().Recovered {
		t.Errorf("Stats().Recovered = true after a clean Close")
	}
	m.check(t, db, nil)
}

// TestDeviceDAXReboot, in the boot after the power cut, finds what TestDeviceDAX
// wrote in the boot before (and closed cleanly), and writes again.
func TestDeviceDAXReboot(t *testing.T) {
	dev := guestEnv(t, "DAXVM_DEVDAX")
	db := openDevDAX(t, dev)
	if db.Stats().Recovered {
		t.Errorf("Stats().Recovered = true: the previous boot closed this pool cleanly")
	}
	m := model{}
	for i := 0; i < numKeys; i++ {
		m[string(devKey(i))] = value(i, 0)
	}
	m.check(t, db, nil)
	m.put(t, db, devKey(numKeys), value(numKeys, 1))
	m.check(t, db, nil)
}
