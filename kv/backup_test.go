package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBackupUnderConcurrentWrites takes backups while writers apply
// batches that give every key of a group the same new version: each backup
// opens as a pool, checks clean, holds every key that was there before the
// writers started, and shows every group at one version (one instant, no
// batch in part). The source keeps its writes.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	dir := shmDir(t)
	db := openTest(t, filepath.Join(dir, "pool"), smallOpts(DAXEmulated))
	if err := db.SetPreferredMode(DAXOff); err != nil {
		t.Fatal(err)
	}
	const groups, per = 8, 25
	k := func(g, i int) []byte { return fmt.Appendf(nil, "g%02d-%03d", g, i) }
	put := func(g, v int) error {
		b := db.NewBatch()
		for i := 0; i < per; i++ {
			b.Put(k(g, i), fmt.Appendf(nil, "v%d-%s", v, bytes.Repeat([]byte{'x'}, 50+v%300)))
		}
		return db.Apply(b)
	}
	for g := 0; g < groups; g++ {
		if err := put(g, 0); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for v := 1; !stop.Load(); v++ {
				if err := put((v*2+w)%groups, v); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	for round := 0; round < 4; round++ {
		var buf bytes.Buffer
		n, err := db.Backup(&buf)
		if err != nil || n != int64(buf.Len()) {
			t.Fatalf("Backup: %d bytes (%d in the buffer), %v", n, buf.Len(), err)
		}
		path := filepath.Join(dir, fmt.Sprintf("backup-%d", round))
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := Open(path, nil)
		if err != nil {
			t.Fatalf("open the backup: %v", err)
		}
		if err := b.Check(); err != nil {
			t.Errorf("Check of the backup: %v", err)
		}
		if s := b.Stats(); s.PreferredMode != DAXOff || s.Keys != groups*per || s.Recovered {
			t.Errorf("backup: preferred %v, %d keys, recovered %v", s.PreferredMode, s.Keys, s.Recovered)
		}
		for g := 0; g < groups; g++ {
			var first []byte
			for i := 0; i < per; i++ {
				v, err := b.Get(k(g, i))
				if err != nil {
					t.Fatalf("backup, group %d key %d: %v", g, i, err)
				}
				ver, _, _ := bytes.Cut(v, []byte("-"))
				if first == nil {
					first = ver
				} else if !bytes.Equal(ver, first) {
					t.Fatalf("backup, group %d: key 0 at %s, key %d at %s: a batch in part", g, first, i, ver)
				}
			}
		}
		b.Close()
	}
	stop.Store(true)
	wg.Wait()
	if s := db.Stats(); s.OpenSnapshots != 0 {
		t.Fatalf("Backup left %d snapshots open", s.OpenSnapshots)
	}
	db.Close()
	if _, err := db.Backup(&bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Backup after Close: %v", err)
	}
}
