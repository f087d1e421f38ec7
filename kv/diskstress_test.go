package kv

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestDiskStress (from an adversarial review, which found no defect with
// it): writers (Put, Delete, Batch) on a DAXOff pool on a disk
// (writeRecord, zero-fill) while SwitchMode flips between DAXOff and
// DAXEmulated, Compact runs and readers check values; then a reopen must
// give back the last acknowledged value of every key.
func TestDiskStress(t *testing.T) {
	path := filepath.Join(diskDir(t), "pool")
	opts := &Options{DAX: DAXOff, Size: 256 << 10, ChunkSize: 64 << 10, CompactMaxFill: 0.9}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	const writers, keys = 4, 64
	var mu [writers]sync.Mutex
	want := make([]map[string][]byte, writers)
	for i := range want {
		want[i] = map[string][]byte{}
	}
	deadline := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; time.Now().Before(deadline); i++ {
				k := fmt.Appendf(nil, "w%d-k%03d", w, r.IntN(keys))
				n := []int{10, 300, 5000, 70 << 10}[r.IntN(4)]
				v := bytes.Repeat([]byte{byte(i)}, n)
				copy(v, k)
				mu[w].Lock()
				switch r.IntN(6) {
				case 0:
					if err := db.Delete(k); err != nil {
						t.Error(err)
					} else {
						delete(want[w], string(k))
					}
				case 1:
					var b Batch
					b.Put(k, v)
					if err := db.Apply(&b); err != nil {
						t.Error(err)
					} else {
						want[w][string(k)] = v
					}
				default:
					if err := db.Put(k, v); err != nil {
						t.Error(err)
					} else {
						want[w][string(k)] = v
					}
				}
				if g, err := db.Get(k); err == nil {
					if wv, ok := want[w][string(k)]; !ok || !bytes.Equal(g, wv) {
						t.Errorf("Get(%s) right after write: %d bytes, want %d", k, len(g), len(wv))
					}
				}
				mu[w].Unlock()
				if t.Failed() {
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		modes := []DAXMode{DAXEmulated, DAXOff}
		for i := 0; time.Now().Before(deadline); i++ {
			if err := db.SwitchMode(context.Background(), modes[i%2]); err != nil {
				t.Error(err)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			db.Compact(ctx)
			cancel()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	wg.Wait()
	db = reopen(t, db, path, opts)
	defer db.Close()
	for w := range writers {
		for k := range keys {
			key := fmt.Appendf(nil, "w%d-k%03d", w, k)
			g, err := db.Get(key)
			wv, ok := want[w][string(key)]
			if ok != (err == nil) || !bytes.Equal(g, wv) {
				t.Errorf("after reopen Get(%s): %d bytes, %v; want %d bytes (present %v)", key, len(g), err, len(wv), ok)
			}
		}
	}
}

// TestDiskWritersSwitchModeClose: writers of small and large records on a
// pool on the disk (chunks written with zeros, the preparer woken at
// regions' middles) that grows while SwitchMode flips between the
// page-cache and emulated modes (which changes whether Puts pwrite their
// records); then Close, and every value is intact after a reopen (from an
// adversarial review; under -race in make test).
func TestDiskWritersSwitchModeClose(t *testing.T) {
	path := filepath.Join(diskDir(t), "pool")
	opts := &Options{Size: 256 << 10, ChunkSize: 64 << 10, DAX: DAXOff}
	db := openTest(t, path, opts)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		modes := []DAXMode{DAXEmulated, DAXOff}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := db.SwitchMode(t.Context(), modes[i%2]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	val := func(w, i int) []byte { return bytes.Repeat([]byte{byte(w*7 + i)}, 100+(i*977)%9000) }
	const writers, each = 3, 600
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				k := fmt.Appendf(nil, "w%d-%05d", w, i%200)
				if err := db.Put(k, val(w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path, opts)
	for w := 0; w < writers; w++ {
		for j := 0; j < 200; j++ {
			last := each - 200 + j
			k := fmt.Appendf(nil, "w%d-%05d", w, j)
			if got := mustGet(t, db, k); !bytes.Equal(got, val(w, last)) {
				t.Fatalf("%s: %d bytes", k, len(got))
			}
		}
	}
	n := 0
	if err := db.Scan(nil, nil, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != writers*200 {
		t.Fatalf("scan saw %d", n)
	}
}
