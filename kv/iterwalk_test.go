package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/daxkv/daxkv/recovery"
)

// walkModel tracks an iterator's expected position in im: -1 before the
// first key, len(im.keys) after the last, -2 unpositioned.
type walkModel struct {
	im *iterModel
	i  int
}

func (w *walkModel) next() {
	switch {
	case w.i == -2 || w.i == -1:
		w.i = 0
	case w.i < len(w.im.keys):
		w.i++
	}
	w.clamp()
}

func (w *walkModel) prev() {
	switch {
	case w.i == -2 || w.i == len(w.im.keys):
		w.i = len(w.im.keys) - 1
	case w.i >= 0:
		w.i--
	}
	w.clamp()
}

func (w *walkModel) clamp() {
	w.i = max(min(w.i, len(w.im.keys)), -1)
}

// TestIteratorLongWalks runs walks across many pages of the largest size
// (maxPage): from First and from Last, with and without a bound ahead,
// turned around, sought and closed in the middle, and checks every position
// against the model.
func TestIteratorLongWalks(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(77, uint64(mode)))
			db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(mode))
			const n = 4000
			m := map[string][]byte{}
			b := db.NewBatch()
			for i := 0; i < n; i++ {
				k, v := key(r.IntN(3*n)), value(i, 0, 20+r.IntN(60))
				b.Put(k, v)
				m[string(k)] = v
			}
			if err := db.Apply(b); err != nil {
				t.Fatal(err)
			}
			bound := func() []byte {
				if r.IntN(2) == 0 {
					return nil
				}
				return key(r.IntN(3 * n))
			}
			for round := 0; round < 40; round++ {
				lo, hi := bound(), bound()
				w := &walkModel{im: newIterModel(m, lo, hi), i: -2}
				it, err := db.NewIterator(&IterOptions{LowerBound: lo, UpperBound: hi})
				if err != nil {
					t.Fatal(err)
				}
				where := func(what string) string { return fmt.Sprintf("round %d [%q,%q) %s", round, lo, hi, what) }
				move := func(what string, count int, dir int) {
					for s := 0; s < count; s++ {
						var ok bool
						if dir > 0 {
							ok = it.Next()
							w.next()
						} else {
							ok = it.Prev()
							w.prev()
						}
						checkAt(t, where(fmt.Sprintf("%s step %d", what, s)), it, ok, w.im, w.i)
						if !ok {
							return
						}
					}
				}
				// From an end (or a bound), across many pages.
				fromFirst := r.IntN(2) == 0
				if fromFirst {
					ok := it.First()
					w.i = 0
					checkAt(t, where("First"), it, ok, w.im, w.i)
					move("forward", 300+r.IntN(len(w.im.keys)+1), +1)
				} else {
					ok := it.Last()
					w.i = len(w.im.keys) - 1
					checkAt(t, where("Last"), it, ok, w.im, w.i)
					move("backward", 300+r.IntN(len(w.im.keys)+1), -1)
				}
				// Turn around, and turn again.
				dir := -1
				if !fromFirst {
					dir = +1
				}
				move("turned", r.IntN(400), dir)
				move("turned again", r.IntN(400), -dir)
				switch r.IntN(3) {
				case 0: // a seek stops the walk
					k := key(r.IntN(3 * n))
					ok := it.SeekGE(k)
					w.i = w.im.seekGE(k)
					checkAt(t, where(fmt.Sprintf("SeekGE(%q)", k)), it, ok, w.im, w.i)
					move("after the seek", r.IntN(600), +1)
				case 1: // the end, both ways
					move("to the end", len(w.im.keys)+2, +1)
					move("back to the start", len(w.im.keys)+2, -1)
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A bad record deep in a walk from either end, past many full pages: the
// iterator hands out the keys before it and stops with ErrCorrupt, sticky.
func TestLongWalkStopsAtABadRecord(t *testing.T) {
	path := filepath.Join(shmDir(t), "p")
	db := openTest(t, path, &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	const n, bad = 3000, 2000
	b := db.NewBatch()
	for i := 0; i < n; i++ {
		v := value(i, 0, 40)
		if i == bad {
			v = value(i, 0, 20000)
		}
		b.Put(key(i), v)
	}
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	it0, _ := db.idx.lookup(key(bad), hashKey(key(bad)))
	if err := db.m.Poison((it0.off() + 8192) / 4096 * 4096); err != nil {
		t.Fatal(err)
	}
	for _, forward := range []bool{true, false} {
		it, err := db.NewIterator(nil)
		if err != nil {
			t.Fatal(err)
		}
		seen, want, ok := 0, bad, it.First()
		if !forward {
			want, ok = n-1-bad, it.Last()
		}
		for ; ok; seen++ {
			wantKey := key(seen)
			if !forward {
				wantKey = key(n - 1 - seen)
			}
			if !bytes.Equal(it.Key(), wantKey) {
				t.Fatalf("forward %v: at %d key %q, want %q", forward, seen, it.Key(), wantKey)
			}
			if forward {
				ok = it.Next()
			} else {
				ok = it.Prev()
			}
		}
		if seen != want || !errors.Is(it.Error(), ErrCorrupt) {
			t.Fatalf("forward %v: %d keys (want %d), error %v", forward, seen, want, it.Error())
		}
		if it.Next() || it.Prev() || !errors.Is(it.Error(), ErrCorrupt) {
			t.Fatalf("forward %v: the error is not sticky", forward)
		}
		it.Close()
	}
	db.Close()
	os.Remove(path) // the poisoned page is not on the file: nothing to check
}

// TestNextPage checks the page prefetchRecord adds for a record that may
// cross into the next page.
func TestNextPage(t *testing.T) {
	for _, c := range []struct {
		off, span, next uint64
		ok              bool
	}{
		{0, 0, 0, false},
		{4095, 0, 0, false},
		{4095, 1, 0, false}, // the page's last byte
		{4095, 2, 4096, true},
		{4000, 96, 0, false},
		{4000, 97, 4096, true},
		{8192 + 4000, 140, 3 * 4096, true},
		{100, 140, 0, false},
		{0, maxSpan, 0, false},
		{1, maxSpan, 4096, true},
	} {
		next, ok := nextPage(c.off, c.span)
		if next != c.next || ok != c.ok {
			t.Errorf("nextPage(%d, %d) = %d, %v; want %d, %v", c.off, c.span, next, ok, c.next, c.ok)
		}
	}
}

// TestRecordSpan checks the estimate the iterators and Scan prefetch with:
// the mean record length of the last page, capped at maxSpan, and that an
// iterator keeps it from its last page.
func TestRecordSpan(t *testing.T) {
	if got := recordSpan(nil, nil); got != 0 {
		t.Errorf("recordSpan of nothing = %d, want 0", got)
	}
	keys := [][]byte{make([]byte, 16), make([]byte, 20)}
	vals := [][]byte{make([]byte, 100), make([]byte, 300)}
	if got, want := recordSpan(keys, vals), uint64(24+(116+320)/2); got != want {
		t.Errorf("recordSpan = %d, want %d", got, want)
	}
	if got := recordSpan(keys[:1], [][]byte{make([]byte, 3*maxSpan)}); got != maxSpan {
		t.Errorf("recordSpan of a long record = %d, want the cap %d", got, maxSpan)
	}

	db := openTest(t, filepath.Join(t.TempDir(), "pool"), smallOpts(DAXEmulated))
	for i := range 20 {
		if err := db.Put(fmt.Appendf(nil, "key%04d", i), make([]byte, 50+i)); err != nil {
			t.Fatal(err)
		}
	}
	it, err := db.NewIterator(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.First() {
		t.Fatal("First found nothing")
	}
	// The first page holds keys 0 to firstPage-1.
	want := uint64(recovery.HeaderSize + 7 + 50 + (firstPage-1)/2)
	if it.span != want {
		t.Errorf("span after the first page = %d, want %d", it.span, want)
	}
}

// TestIterateMixedSizesWhilePoolGrows: iterators and Scans walk records of
// mixed sizes (empty to several pages) while a writer grows (remaps) the
// pool: the prefetches of a record's next page (prefetchRecord, with the
// estimate of the last page's sizes) never fault or reach past the
// mapping, and every record read is whole (from an adversarial review).
func TestIterateMixedSizesWhilePoolGrows(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			path := filepath.Join(shmDir(t), "pool")
			db := openTest(t, path, smallOpts(mode))
			val := func(i int) []byte {
				n := []int{0, 1, 60, 4000, 4097, 13000, 30000}[i%7]
				return bytes.Repeat([]byte{byte(i)}, n)
			}
			for i := 0; i < 300; i++ {
				mustPut(t, db, key(i), val(i))
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 300; i < 3000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := db.Put(key(i), val(i)); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			for round := 0; round < 30; round++ {
				it, err := db.NewIterator(nil)
				if err != nil {
					t.Fatal(err)
				}
				for ok := it.First(); ok; ok = it.Next() {
					var i int
					fmt.Sscanf(string(it.Key()), "%d", &i)
					if !bytes.Equal(it.Value(), val(i)) {
						t.Fatalf("%s: %d bytes", it.Key(), len(it.Value()))
					}
				}
				for ok := it.Last(); ok; ok = it.Prev() {
				}
				if err := it.Error(); err != nil {
					t.Fatal(err)
				}
				it.Close()
				if err := db.Scan(nil, nil, func(k, v []byte) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
		})
	}
}
