package kv

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestBatchNoSpaceMidBatch fills a pool capped by MaxSize, then applies
// batches too large for what is left: each must fail with ErrNoSpace and
// leave nothing, the extents it took must come back (a smaller batch that
// fits must then apply), and Check must pass, also after a reopen.
func TestBatchNoSpaceMidBatch(t *testing.T) {
	const chunk = 64 << 10
	for _, tc := range []struct {
		name    string
		maxSize int64
		valSize int
	}{
		{"small-values", 6 * chunk, 900},
		{"run-values", 12*chunk + 1000, 40 << 10},
		{"mixed", 10*chunk - 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(shmDir(t), "pool")
			opts := &Options{Size: 2 * chunk, MaxSize: tc.maxSize, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true}
			db := openTest(t, path, opts)
			rng := rand.New(rand.NewPCG(3, 4))
			vsize := func() int {
				if tc.valSize > 0 {
					return tc.valSize
				}
				if rng.IntN(4) == 0 {
					return 33<<10 + rng.IntN(20<<10)
				}
				return rng.IntN(3000)
			}
			m := Model{}
			var universe []string
			// Fill with single puts until ErrNoSpace.
			for i := 0; ; i++ {
				k := fmt.Sprintf("fill%06d", i)
				v := string(value(i, 0, vsize()))
				err := db.Put([]byte(k), []byte(v))
				if errors.Is(err, ErrNoSpace) {
					break
				}
				if err != nil {
					t.Fatalf("fill %d: %v", i, err)
				}
				m[k] = v
				universe = append(universe, k)
			}
			statsBefore := db.Stats()
			// Batches that cannot fit: must fail cleanly, repeatedly.
			for round := range 20 {
				b := db.NewBatch()
				n := 5 + rng.IntN(40)
				for i := range n {
					k := fmt.Sprintf("b%02d-%04d", round, i)
					b.Put([]byte(k), value(i, round, vsize()+4000))
					universe = append(universe, k)
				}
				// Overwrite one existing key and delete another, too.
				b.Put([]byte(universe[0]), []byte("overwritten"))
				b.Delete([]byte(universe[1]))
				err := db.Apply(b)
				if err == nil {
					t.Fatalf("round %d: a batch of %d large records applied to a full pool", round, n)
				}
				if !errors.Is(err, ErrNoSpace) {
					t.Fatalf("round %d: Apply = %v, want ErrNoSpace", round, err)
				}
			}
			CheckModel(t, db, m, universe, "after failed batches")
			st := db.Stats()
			if st.Used+st.Limbo != statsBefore.Used+statsBefore.Limbo {
				t.Fatalf("failed batches leaked: used %d bytes before, %d after", statsBefore.Used, st.Used)
			}
			if err := db.Check(); err != nil {
				t.Fatalf("Check after failed batches: %v", err)
			}
			// Free some space, then a batch must fit again.
			del := 0
			for k := range m {
				if del >= len(m)/2 {
					break
				}
				if err := db.Delete([]byte(k)); err != nil {
					t.Fatalf("delete: %v", err)
				}
				delete(m, k)
				del++
			}
			b := db.NewBatch()
			for i := range 5 {
				k := fmt.Sprintf("after%02d", i)
				v := string(value(i, 99, 500))
				b.Put([]byte(k), []byte(v))
				m[k] = v
				universe = append(universe, k)
			}
			if err := db.Apply(b); err != nil {
				t.Fatalf("small batch after freeing: %v", err)
			}
			CheckModel(t, db, m, universe, "after recovery batch")
			if sz := db.m.Size(); sz > tc.maxSize {
				t.Fatalf("pool is %d bytes, past MaxSize %d", sz, tc.maxSize)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db2 := openTest(t, path, opts)
			CheckModel(t, db2, m, universe, "after reopen")
		})
	}
}

// TestOddMaxSize opens pools with MaxSize values that are not multiples of
// the chunk, below one chunk, at a chunk boundary: Open either refuses with
// ErrInvalidOptions or the pool fills up to (its rounding of) MaxSize and
// then fails with ErrNoSpace, never another error or a fault.
func TestOddMaxSize(t *testing.T) {
	const chunk = 64 << 10
	for _, tc := range []struct{ size, max int64 }{
		{chunk, chunk - 1},
		{chunk, chunk},
		{chunk, chunk + 1},
		{chunk, 2*chunk - 1},
		{chunk, 3*chunk + chunk/2},
		{100 << 10, 150 << 10},
		{3 * chunk, 3 * chunk},
		{chunk, 5*chunk + 7},
	} {
		t.Run(fmt.Sprintf("size%d-max%d", tc.size, tc.max), func(t *testing.T) {
			path := filepath.Join(shmDir(t), "pool")
			opts := &Options{Size: tc.size, MaxSize: tc.max, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true}
			db, err := Open(path, opts)
			if err != nil {
				if errors.Is(err, ErrInvalidOptions) {
					return
				}
				t.Fatalf("Open: %v", err)
			}
			defer func() {
				db.Close()
				checkPool(t, path, opts)
			}()
			limit := tc.max / chunk * chunk
			rng := rand.New(rand.NewPCG(uint64(tc.max), 1))
			n := 0
			for ; ; n++ {
				sz := rng.IntN(2000)
				if n%7 == 3 {
					sz = 40 << 10
				}
				err := db.Put(key(n), value(n, 0, sz))
				if errors.Is(err, ErrNoSpace) {
					// smaller values may still fit: try a few, then stop
					if err2 := db.Put(key(n), value(n, 0, 10)); err2 == nil {
						continue
					} else if !errors.Is(err2, ErrNoSpace) {
						t.Fatalf("put %d small: %v", n, err2)
					}
					break
				}
				if err != nil {
					t.Fatalf("put %d: %v", n, err)
				}
			}
			if got := db.m.Size(); got != limit {
				t.Fatalf("full pool is %d bytes, want %d (MaxSize %d rounded)", got, limit, tc.max)
			}
			for i := range n {
				if _, err := db.Get(key(i)); err != nil {
					t.Fatalf("Get %d: %v", i, err)
				}
			}
		})
	}
}

// TestNearFullRace runs writers, a deleter and Compact at once on a pool
// near MaxSize, with the preparer growing ahead: every write error must be
// ErrNoSpace, every acknowledged write readable, Check clean.
func TestNearFullRace(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: chunk, MaxSize: 9*chunk + 100, ChunkSize: chunk, DAX: DAXEmulated, NoAutoCompact: true}
	db := openTest(t, path, opts)
	const writers = 3
	var wg sync.WaitGroup
	errc := make(chan error, writers+2)
	deadline := time.Now().Add(3 * time.Second)
	var models [writers]map[string]string
	for w := range writers {
		models[w] = map[string]string{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 77))
			m := models[w]
			for i := 0; time.Now().Before(deadline); i++ {
				k := fmt.Sprintf("w%d-%04d", w, rng.IntN(300))
				if rng.IntN(3) == 0 {
					if err := db.Delete([]byte(k)); err != nil && !errors.Is(err, ErrNoSpace) {
						errc <- fmt.Errorf("delete %q: %v", k, err)
						return
					} else if err == nil {
						delete(m, k)
					}
					continue
				}
				sz := rng.IntN(3000)
				if rng.IntN(10) == 0 {
					sz = 33<<10 + rng.IntN(10<<10)
				}
				v := fmt.Sprintf("%s#%d#%s", k, i, make([]byte, sz))
				if rng.IntN(2) == 0 {
					b := db.NewBatch()
					b.Put([]byte(k), []byte(v))
					k2 := fmt.Sprintf("w%d-%04d", w, rng.IntN(300))
					v2 := fmt.Sprintf("%s#%d#b", k2, i)
					b.Put([]byte(k2), []byte(v2))
					err := db.Apply(b)
					if err == nil {
						m[k] = v
						m[k2] = v2
						if k == k2 {
							m[k] = v2
						}
					} else if !errors.Is(err, ErrNoSpace) {
						errc <- fmt.Errorf("apply: %v", err)
						return
					}
					continue
				}
				if err := db.Put([]byte(k), []byte(v)); err == nil {
					m[k] = v
				} else if !errors.Is(err, ErrNoSpace) {
					errc <- fmt.Errorf("put %q: %v", k, err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			err := db.Compact(ctx)
			cancel()
			if err != nil && !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNoSpace) {
				errc <- fmt.Errorf("compact: %v", err)
				return
			}
		}
	}()
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	for w := range writers {
		for k, want := range models[w] {
			got, err := db.Get([]byte(k))
			if err != nil || string(got) != want {
				t.Fatalf("Get(%q) = %.40q, %v; want %.40q", k, got, err, want)
			}
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2 := openTest(t, path, opts)
	for w := range writers {
		for k, want := range models[w] {
			got, err := db2.Get([]byte(k))
			if err != nil || string(got) != want {
				t.Fatalf("after reopen: Get(%q) = %.40q, %v; want %.40q", k, got, err, want)
			}
		}
	}
}
