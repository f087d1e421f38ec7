package kv

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/recovery"
)

// TestIndexHashCollision forces two keys onto one hash: lookups must fall
// back to the B-tree and stay right through puts, replaces and deletes.
func TestIndexHashCollision(t *testing.T) {
	mem := make([]byte, 4096)
	place := func(off int64, key string) {
		copy(mem[off+recovery.HeaderSize:], key)
	}
	x := newIndex(0, func() []byte { return mem })
	defer x.close()
	const h = 42 // both keys "hash" to 42
	a, b := []byte("alpha"), []byte("bravo")
	place(64, "alpha")
	place(128, "bravo")
	if _, had := x.replace(a, h, 64); had {
		t.Fatal("first key: had")
	}
	if _, had := x.replace(b, h, 128); had {
		t.Fatal("second key on the same hash: had")
	}
	place(192, "alpha")
	old, had := x.replace(a, h, 192) // the hash is ambiguous: through the tree
	if !had || old.off() != 64 {
		t.Fatalf("replace alpha on a shared hash: had %v, old at %d", had, old.off())
	}
	if it, ok := x.lookup(a, h); !ok || it.off() != 192 {
		t.Fatalf("alpha after replace: %v %d", ok, it.off())
	}
	if it, ok := x.lookup(b, h); !ok || it.off() != 128 {
		t.Fatalf("bravo: %v %d", ok, it.off())
	}
	old, _ = x.lookup(b, h)
	x.remove(b, h, old)
	if _, ok := x.lookup(b, h); ok {
		t.Fatal("bravo still found after delete")
	}
	if it, ok := x.lookup(a, h); !ok || it.off() != 192 {
		t.Fatalf("alpha after bravo's delete: %v %d", ok, it.off())
	}
	if x.len() != 1 {
		t.Fatalf("len %d, want 1", x.len())
	}
}

// TestLessItemAgreesWithBytesCompare checks lessItem, the index's key
// order, against bytes.Compare over random and adversarial key pairs: keys
// of the bytes 00, 01, 7f, 80 and ff, of lengths around the 8- and 16-byte
// prefixes and up to MaxKeySize, prefixes of each other, zeros appended,
// one byte changed (written by a review of lessItem's prefix fast path).
func TestLessItemAgreesWithBytesCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alpha := []byte{0x00, 0x01, 0x7f, 0x80, 0xff}
	gen := func() []byte {
		var n int
		switch r.IntN(4) {
		case 0:
			n = 1 + r.IntN(20)
		case 1:
			n = []int{1, 7, 8, 9, 15, 16, 17, 24, 32}[r.IntN(9)]
		case 2:
			n = 1 + r.IntN(MaxKeySize)
		default:
			n = 1 + r.IntN(40)
		}
		k := make([]byte, n)
		for i := range k {
			k[i] = alpha[r.IntN(len(alpha))]
		}
		return k
	}
	check := func(a, b []byte) {
		t.Helper()
		ia, ib := makeItem(a, 0), makeItem(b, 0)
		want := bytes.Compare(a, b)
		if got := lessItem(ia, ib); got != (want < 0) {
			t.Fatalf("lessItem(%x, %x) = %v, bytes.Compare = %d", a, b, got, want)
		}
		if got := lessItem(ib, ia); got != (want > 0) {
			t.Fatalf("lessItem(%x, %x) = %v, bytes.Compare = %d", b, a, got, -want)
		}
	}
	n := 300000
	if testing.Short() {
		n = 30000
	}
	for i := 0; i < n; i++ {
		a := gen()
		var b []byte
		switch r.IntN(4) {
		case 0: // a prefix of a, or a with zero bytes appended
			b = append([]byte(nil), a[:1+r.IntN(len(a))]...)
			if r.IntN(2) == 0 {
				b = append(append([]byte(nil), a...), make([]byte, 1+r.IntN(10))...)
			}
		case 1: // a with one byte changed
			b = append([]byte(nil), a...)
			b[r.IntN(len(b))] = alpha[r.IntN(len(alpha))]
		default:
			b = gen()
		}
		if len(b) > MaxKeySize {
			b = b[:MaxKeySize]
		}
		check(a, b)
	}
}

// TestApplierParksWhenIdle checks that the index's applier, which polls for
// more changes for applySpin after it has applied all of them, parks once
// the writes stop: an idle DB keeps no goroutine spinning.
func TestApplierParksWhenIdle(t *testing.T) {
	const keys, stride = 1000, 64
	mem := make([]byte, keys*stride)
	x := newIndex(0, func() []byte { return mem }) // closed once parked: close waits for it
	for i := range keys {
		key := fmt.Appendf(nil, "key%04d", i)
		copy(mem[i*stride+recovery.HeaderSize:], key)
		x.replace(key, uint64(i), int64(i*stride))
	}
	busy := func() string { // the stack of an applier still at work, if any
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "(*index).awaitWork") || strings.Contains(g, "(*index).applyPending") {
				return g
			}
		}
		return ""
	}
	deadline := time.Now().Add(10 * time.Second)
	for x.appliedA.Load() < keys { // on its own: no drain, which would wake it
		if time.Now().After(deadline) {
			t.Fatalf("the applier applied %d of %d changes in 10 s", x.appliedA.Load(), keys)
		}
		time.Sleep(applySpin)
	}
	for {
		time.Sleep(20 * applySpin)
		g := busy()
		if g == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the applier still runs 10 s after the last write:\n%s", g)
		}
	}
	x.close()
}

// TestApplierKeepsUpWithoutADrain writes to an index from two goroutines
// with pauses around applySpin between some writes, so that changes are
// queued just as the applier's poll ends and it goes back to wait for a
// kick, and checks, without a drain (which wakes the applier itself and
// would hide a lost kick), that the applier applies every change on its
// own (written by a review of the applier's poll).
func TestApplierKeepsUpWithoutADrain(t *testing.T) {
	const keys, stride = 4000, 64
	mem := make([]byte, keys*stride)
	x := newIndex(0, func() []byte { return mem })
	defer x.close()
	for i := range keys {
		copy(mem[i*stride+recovery.HeaderSize:], fmt.Appendf(nil, "key%05d", i))
	}
	const writers = 2
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := w; i < keys; i += writers {
				x.replace(fmt.Appendf(nil, "key%05d", i), uint64(i), int64(i*stride))
				if r.IntN(4) == 0 { // wait on the clock, to land near the poll's end
					d := time.Duration(30+r.IntN(40)) * time.Microsecond
					for s := time.Now(); time.Since(s) < d; {
					}
				}
			}
		}()
	}
	caughtUp := func() error {
		x.mu.RLock()
		target := x.enq
		x.mu.RUnlock()
		for deadline := time.Now().Add(5 * time.Second); x.appliedA.Load() < target; {
			if time.Now().After(deadline) {
				return fmt.Errorf("the applier stayed at %d of %d changes for 5 s without a drain", x.appliedA.Load(), target)
			}
			time.Sleep(10 * time.Microsecond)
		}
		return nil
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			time.Sleep(20 * time.Microsecond)
		}
		if err := caughtUp(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLockSpinOutlastsTheSpin checks that lockSpin still takes a lock held
// for longer than it polls (falling back to Lock), and excludes the holder.
func TestLockSpinOutlastsTheSpin(t *testing.T) {
	x := newIndex(0, func() []byte { return nil })
	defer x.close()
	var mu sync.Mutex
	var held atomic.Bool
	mu.Lock()
	held.Store(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		x.lockSpin(&mu)
		if held.Load() {
			t.Error("lockSpin took a lock that was still held")
		}
		mu.Unlock()
	}()
	time.Sleep(10 * applySpin)
	held.Store(false)
	mu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("lockSpin did not take the lock after it was released")
	}
}

// TestFillTreeFillsLeaves checks the open's fill of the ordered index: every
// key, in order, in a tree of full leaves. The leaves are counted through
// the allocations: google/btree allocates each node and its items array,
// and keys inserted in one ordered pass leave every leaf half full, so
// twice as many.
func TestFillTreeFillsLeaves(t *testing.T) {
	for _, n := range []int{0, 1, 2, 63, 64, 127, 5000, 64 << 10} {
		items := make([]item, n)
		for i := range items {
			items[i] = item{p0: uint64(i) * 977, p1: uint64(i % 7), ref: makeRef(int64(64*i), 16)}
		}
		tr := newTree()
		fillTree(tr, items, &sync.Mutex{})
		if tr.Len() != n {
			t.Fatalf("n=%d: tree holds %d", n, tr.Len())
		}
		i := 0
		tr.Ascend(func(x item) bool {
			if x != items[i] {
				t.Fatalf("n=%d: item %d is %+v, want %+v", n, i, x, items[i])
			}
			i++
			return true
		})
	}
	items := make([]item, 64<<10)
	for i := range items {
		items[i] = item{p0: uint64(i), ref: makeRef(int64(64*i), 8)}
	}
	filled := testing.AllocsPerRun(1, func() { fillTree(newTree(), items, &sync.Mutex{}) })
	ordered := testing.AllocsPerRun(1, func() {
		tr := newTree()
		for _, x := range items {
			tr.ReplaceOrInsert(x)
		}
	})
	t.Logf("allocations for %d keys: %v filled, %v in one ordered pass", len(items), filled, ordered)
	if filled > 0.6*ordered {
		t.Fatalf("fillTree made %v allocations against %v for one ordered pass: its leaves are not full", filled, ordered)
	}
}
