package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Writers, growth, iterators (seeking, moving on and now and then turning
// around and back) and Scans at once, under -race, then the DB's Close
// while they still run.
func TestIteratorsScansWritersThenClose(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "p"), smallOpts(DAXEmulated))
	for i := 0; i < 2000; i++ {
		mustPut(t, db, key(i), value(i, 0, 20+i%300))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for v := 1; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				i := r.IntN(3000)
				if err := db.Put(key(i), value(i, v, 20+r.IntN(6000))); err != nil {
					return
				}
				if r.IntN(4) == 0 {
					db.Delete(key(r.IntN(3000)))
				}
			}
		}(w)
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 2))
			for {
				it, err := db.NewIterator(&IterOptions{LowerBound: key(r.IntN(100)), UpperBound: key(2900 + r.IntN(100))})
				if err != nil {
					return
				}
				it.SeekGE(key(r.IntN(3000)))
				var prev []byte
				for n := 0; it.Valid() && n < 500; n++ {
					// Key and Value are valid until the DB's Close, which
					// may begin at any instant here (see whileOpen): then
					// they read zeros.
					errs, closed := whileOpen(db, func() (errs []error) {
						k := it.Key()
						if prev != nil && bytes.Compare(prev, k) >= 0 {
							errs = append(errs, fmt.Errorf("out of order %q after %q", k, prev))
						}
						prev = append(prev[:0], k...)
						if err := checkValue(atoiKey(k), it.Value()); err != nil {
							errs = append(errs, err)
						}
						if r.IntN(32) == 0 { // turn around and back: the same key
							it.Prev()
							if it.Error() == nil && it.Next() && !bytes.Equal(it.Key(), prev) {
								errs = append(errs, fmt.Errorf("Prev then Next moved from %q to %q", prev, it.Key()))
							}
						}
						return errs
					})
					for _, err := range errs {
						t.Error(err)
					}
					if closed || it.Error() != nil {
						break
					}
					it.Next()
				}
				err = it.Error()
				it.Close()
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
				if err := db.Scan(key(r.IntN(3000)), nil, scanChecker(nil)); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		}(g)
	}
	time.Sleep(2 * time.Second)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
}

// whileOpen runs f, which reads slices an iterator handed out, and returns
// what it found wrong. Those slices are valid until the DB's Close; after
// it they read zeros until the iterator is closed (DB.Close). So once the
// Close has begun, whileOpen drops what f found and reports closed; a
// fault is an error at any time.
func whileOpen(db *DB, f func() []error) (errs []error, closed bool) {
	fault := faultOf(func() { errs = f() })
	if db.closed.Load() {
		errs, closed = nil, true
	}
	if fault != nil {
		errs = append(errs, fmt.Errorf("a fault reading an iterator's key or value (closed %v): %v", closed, fault))
	}
	return errs, closed
}

func atoiKey(k []byte) int {
	n := 0
	for _, c := range k {
		n = n*10 + int(c-'0')
	}
	return n
}
