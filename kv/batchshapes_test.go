package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// Model is the expected content of a DB.
type Model map[string]string

func CheckModel(t *testing.T, db *DB, m Model, universe []string, what string) {
	t.Helper()
	for _, k := range universe {
		want, ok := m[k]
		got, err := db.Get([]byte(k))
		switch {
		case ok && err != nil:
			t.Fatalf("%s: Get(%q) = %v, want %q", what, k, err, want)
		case ok && string(got) != want:
			t.Fatalf("%s: Get(%q) = %q, want %q", what, k, got, want)
		case !ok && !errors.Is(err, ErrNotFound):
			t.Fatalf("%s: Get(%q) = %q, %v, want ErrNotFound", what, k, got, err)
		}
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var seen []string
	err := db.Scan(nil, nil, func(k, v []byte) error {
		seen = append(seen, string(k))
		if want := m[string(k)]; want != string(v) {
			return fmt.Errorf("scan: %q = %q, want %q", k, v, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if fmt.Sprint(seen) != fmt.Sprint(keys) {
		t.Fatalf("%s: scan saw %d keys %q, want %d %q", what, len(seen), seen, len(keys), keys)
	}
}

// TestBatchShapesModel applies random batches of every shape (ascending,
// descending, duplicates, empty values, keys equal but for length, deletes
// of missing keys), reusing one Batch, and compares with a model after each
// Apply and after a reopen.
func TestBatchShapesModel(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 256 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	rng := rand.New(rand.NewPCG(1, 2))
	var universe []string
	for i := range 40 {
		base := fmt.Sprintf("k%02d", i%20)
		switch i % 4 {
		case 0:
			universe = append(universe, base)
		case 1:
			universe = append(universe, base+"\x00")
		case 2:
			universe = append(universe, base+"\x00\x00")
		case 3:
			universe = append(universe, base+"zzzzzzzzzzzzzzzzzzzzzzz") // > 16 bytes
		}
	}
	m := Model{}
	b := db.NewBatch()
	for round := range 3000 {
		b.Reset()
		n := 1 + rng.IntN(12)
		ks := make([]string, n)
		for i := range ks {
			ks[i] = universe[rng.IntN(len(universe))]
		}
		switch rng.IntN(3) {
		case 0:
			sort.Strings(ks)
		case 1:
			sort.Sort(sort.Reverse(sort.StringSlice(ks)))
		}
		next := Model{}
		for k, v := range m {
			next[k] = v
		}
		for i, k := range ks {
			if rng.IntN(4) == 0 {
				b.Delete([]byte(k))
				delete(next, k)
				continue
			}
			var v string
			if rng.IntN(5) != 0 {
				v = fmt.Sprintf("r%d-i%d-%s", round, i, bytes.Repeat([]byte{'x'}, rng.IntN(300)))
			}
			b.Put([]byte(k), []byte(v))
			next[k] = v
		}
		if err := db.Apply(b); err != nil {
			t.Fatalf("round %d: Apply: %v", round, err)
		}
		m = next
		// Scribble over the batch's buffer: nothing may still point into it.
		b.Reset()
		for range n {
			b.Put([]byte("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), bytes.Repeat([]byte{'Q'}, 64))
		}
		if round%50 == 0 {
			CheckModel(t, db, m, universe, fmt.Sprintf("round %d", round))
		}
	}
	CheckModel(t, db, m, universe, "end")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := openTest(t, path, opts)
	CheckModel(t, db2, m, universe, "after reopen")
}

// TestBatchConcurrentPooled runs Applys on several goroutines at once,
// with sorted and unsorted batches of sizes on both sides of maxPooledApply,
// each goroutine on its own keys, while readers Get: every key must hold
// what its writer last applied.
func TestBatchConcurrentPooled(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 8 << 20, ChunkSize: 1 << 20, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	const writers = 3
	var wg sync.WaitGroup
	errc := make(chan error, writers+1)
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			m := map[string]string{}
			b := db.NewBatch()
			for round := range 60 {
				b.Reset()
				n := 1 + rng.IntN(64)
				if round%20 == 7 {
					n = maxPooledApply + 100
				}
				start := rng.IntN(5000)
				desc := rng.IntN(2) == 0
				for i := range n {
					j := start + i
					if desc {
						j = start + n - 1 - i
					}
					k := fmt.Sprintf("w%d-%06d", w, j)
					if rng.IntN(6) == 0 {
						b.Delete([]byte(k))
						delete(m, k)
						continue
					}
					v := fmt.Sprintf("%s@%d/%d", k, round, i)
					b.Put([]byte(k), []byte(v))
					m[k] = v
				}
				if err := db.Apply(b); err != nil {
					errc <- err
					return
				}
				for k, want := range m {
					if rng.IntN(50) != 0 {
						continue
					}
					got, err := db.Get([]byte(k))
					if err != nil || string(got) != want {
						errc <- fmt.Errorf("writer %d round %d: Get(%q) = %q, %v; want %q", w, round, k, got, err, want)
						return
					}
				}
			}
			for k, want := range m {
				got, err := db.Get([]byte(k))
				if err != nil || string(got) != want {
					errc <- fmt.Errorf("writer %d end: Get(%q) = %q, %v; want %q", w, k, got, err, want)
					return
				}
			}
		}()
	}
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for w := range writers {
				k := fmt.Sprintf("w%d-%06d", w, rand.IntN(5000))
				v, err := db.Get([]byte(k))
				if err == nil && !bytes.HasPrefix(v, []byte(k+"@")) {
					errc <- fmt.Errorf("reader: Get(%q) = %q", k, v)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
}
