package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// checkValue verifies that v is a value written for key i by value(i, ver,
// len(v)) for some version: never torn, never another key's.
func checkValue(i int, v []byte) error {
	var ki, ver int
	if _, err := fmt.Sscanf(string(v), "k=%d v=%d|", &ki, &ver); err != nil {
		return fmt.Errorf("key %d: unparsable value %q", i, v)
	}
	if ki != i {
		return fmt.Errorf("key %d holds the value of key %d", i, ki)
	}
	if want := value(i, ver, len(v)); !bytes.Equal(v, want) {
		return fmt.Errorf("key %d version %d: torn value", i, ver)
	}
	return nil
}

// TestConcurrentReadersAndWriters runs writers (puts, deletes, batches) and
// readers (Get, View, Scan) on overlapping keys; under -race it also proves
// the absence of data races. Extents are reused constantly (a small key
// space, values of varying size), so a reader that could see a reused extent
// would read a foreign or torn value.
func TestConcurrentReadersAndWriters(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(mode))
			const keys, writers, readers, ops = 64, 3, 3, 1500
			var ver atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, writers+readers+1)
			stop := make(chan struct{})
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), 7))
					for n := 0; n < ops; n++ {
						i := r.IntN(keys)
						var err error
						switch op := r.IntN(10); {
						case op == 0:
							err = db.Delete(key(i))
						case op == 1:
							b := db.NewBatch()
							for j := 0; j < 4; j++ {
								k := r.IntN(keys)
								b.Put(key(k), value(k, int(ver.Add(1)), 30+r.IntN(600)))
							}
							err = db.Apply(b)
						default:
							err = db.Put(key(i), value(i, int(ver.Add(1)), 30+r.IntN(600)))
						}
						if err != nil {
							errc <- err
							return
						}
					}
				}(w)
			}
			var rwg sync.WaitGroup
			for rd := 0; rd < readers; rd++ {
				rwg.Add(1)
				go func(rd int) {
					defer rwg.Done()
					r := rand.New(rand.NewPCG(uint64(rd), 9))
					for {
						select {
						case <-stop:
							return
						default:
						}
						i := r.IntN(keys)
						var err error
						switch r.IntN(3) {
						case 0:
							var v []byte
							v, err = db.Get(key(i))
							if err == nil {
								err = checkValue(i, v)
							}
						case 1:
							err = db.View(key(i), func(v []byte) error { return checkValue(i, v) })
						default:
							err = db.Scan(key(i), nil, scanChecker(nil))
						}
						if err != nil && !errors.Is(err, ErrNotFound) {
							errc <- err
							return
						}
					}
				}(rd)
			}
			wg.Wait()
			close(stop)
			rwg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			if err := db.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCloseWhileBusy closes the DB while readers and writers run: every
// call returns nil or ErrClosed, nothing crashes, and the pool reopens.
func TestCloseWhileBusy(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := smallOpts(DAXEmulated)
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for n := 0; ; n++ {
				var err error
				if g%2 == 0 {
					err = db.Put(key(n%50), value(n%50, n, 64))
				} else {
					_, err = db.Get(key(n % 50))
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					errc <- err
					return
				}
			}
		}(g)
	}
	for db.Stats().Keys < 20 {
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	checkPool(t, path, opts)
}
