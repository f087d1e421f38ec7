package flush

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

var pageSize = os.Getpagesize()

// fakeSyncer stands in for msync. It records each call as a page run and
// copies the first 8-byte word of every page it writes back into disk, the
// durable image.
type fakeSyncer struct {
	t      *testing.T
	region []byte

	mu    sync.Mutex        // protects calls and disk
	calls []run             // page runs, in call order
	disk  map[int]uint64    // page -> first word at its last write-back
	hook  func(r run) error // called first on each call, without mu; may be nil
}

// newFake returns an Msync over a page-aligned heap region of pages pages
// whose write-back goes to a fakeSyncer.
func newFake(t *testing.T, pages int) (*Msync, *fakeSyncer) {
	t.Helper()
	buf := make([]byte, (pages+1)*pageSize)
	off := (pageSize - int(addr(buf)%uintptr(pageSize))) % pageSize
	region := buf[off : off+pages*pageSize]
	p := NewMsync(region)
	f := &fakeSyncer{t: t, region: region, disk: map[int]uint64{}}
	p.sync = f.sync
	return p, f
}

func (f *fakeSyncer) sync(b []byte) error {
	lo := int(addr(b)-addr(f.region)) / pageSize
	if addr(b)%uintptr(pageSize) != 0 {
		f.t.Errorf("msync of a range that is not page-aligned: %#x", addr(b))
	}
	r := run{lo, lo + (len(b)+pageSize-1)/pageSize}
	if f.hook != nil {
		if err := f.hook(r); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r)
	for pg := r.lo; pg < r.hi; pg++ {
		f.disk[pg] = atomic.LoadUint64(f.word(pg))
	}
	return nil
}

// word returns the first 8-byte word of page pg.
func (f *fakeSyncer) word(pg int) *uint64 {
	return (*uint64)(ptr(f.region[pg*pageSize:]))
}

// takeCalls returns and forgets the calls recorded so far.
func (f *fakeSyncer) takeCalls() []run {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func pageBytes(region []byte, pg, from, to int) []byte {
	return region[pg*pageSize+from : pg*pageSize+to]
}

func TestMsyncCoalescesRuns(t *testing.T) {
	p, f := newFake(t, 16)
	r := p.region
	p.Flush(pageBytes(r, 7, 100, 101))                           // page 7
	p.Flush(r[1*pageSize+10 : 3*pageSize-1])                     // pages 1-2
	p.Flush(pageBytes(r, 3, 0, pageSize))                        // page 3 exactly
	p.Flush(pageBytes(r, 5, 5, 7))                               // page 5
	p.Flush(r[9*pageSize-1 : 9*pageSize+1])                      // pages 8-9
	p.Flush(pageBytes(r, 2, 0, 1))                               // page 2 again
	p.Flush(r[len(r)-1:])                                        // page 15, the last
	p.Copy(pageBytes(r, 13, pageSize-2, pageSize), []byte("ab")) // page 13
	p.mu.Lock()
	runs := slices.Clone(p.dirty)
	p.mu.Unlock()
	if want := []run{{1, 4}, {5, 6}, {7, 10}, {13, 14}, {15, 16}}; !slices.Equal(runs, want) {
		t.Fatalf("dirty runs %v, want %v", runs, want)
	}
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	// One msync over the span of the runs: one device flush per pass.
	if got, want := f.takeCalls(), []run{{1, 16}}; !slices.Equal(got, want) {
		t.Fatalf("msync calls %v, want %v", got, want)
	}
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	if got := f.takeCalls(); len(got) != 0 {
		t.Fatalf("Drain with nothing dirty made msync calls %v", got)
	}
}

// TestMsyncRunsMatchModel marks random page ranges and checks that the
// dirty set is exactly the maximal runs of a page bitmap, in order, and
// that Drain writes them back with one msync over their span.
func TestMsyncRunsMatchModel(t *testing.T) {
	const pages = 300
	rng := rand.New(rand.NewPCG(1, 2))
	p, f := newFake(t, pages)
	for round := range 200 {
		var model [pages]bool
		for range rng.IntN(40) + 1 {
			lo := rng.IntN(pages * pageSize)
			n := 1 + rng.IntN(min(3*pageSize, pages*pageSize-lo))
			if rng.IntN(3) == 0 {
				n = 1 + rng.IntN(pageSize/2)
				n = min(n, pages*pageSize-lo)
			}
			p.Flush(p.region[lo : lo+n])
			for pg := lo / pageSize; pg <= (lo+n-1)/pageSize; pg++ {
				model[pg] = true
			}
		}
		var want []run
		for pg := 0; pg < pages; pg++ {
			if !model[pg] {
				continue
			}
			lo := pg
			for pg < pages && model[pg] {
				pg++
			}
			want = append(want, run{lo, pg})
		}
		p.mu.Lock()
		runs := slices.Clone(p.dirty)
		p.mu.Unlock()
		if !slices.Equal(runs, want) {
			t.Fatalf("round %d: dirty runs %v, want %v", round, runs, want)
		}
		if err := p.Drain(); err != nil {
			t.Fatal(err)
		}
		span := []run{{want[0].lo, want[len(want)-1].hi}}
		if got := f.takeCalls(); !slices.Equal(got, span) {
			t.Fatalf("round %d: msync calls %v, want %v", round, got, span)
		}
	}
}

// TestMsyncRedirtyDuringWriteback stores to and flushes a page while its
// write-back is in progress. Because the dirty mark was cleared before the
// write-back, the Flush marks it again and the next Drain writes it back; if
// the mark were cleared after the write-back, the store would be lost.
func TestMsyncRedirtyDuringWriteback(t *testing.T) {
	p, f := newFake(t, 8)
	calls := 0
	f.hook = func(r run) error {
		calls++
		if calls == 1 {
			// Mid write-back of pages 2-4: page 3 is stored to again,
			// and page 6, not dirty so far, for the first time.
			atomic.StoreUint64(f.word(3), 33)
			p.Flush(pageBytes(p.region, 3, 0, 8))
			atomic.StoreUint64(f.word(6), 66)
			p.Flush(pageBytes(p.region, 6, 0, 8))
		}
		return nil
	}
	for pg := 2; pg <= 4; pg++ {
		atomic.StoreUint64(f.word(pg), uint64(pg))
		p.Flush(pageBytes(p.region, pg, 0, 8))
	}
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	if got, want := f.takeCalls(), []run{{2, 5}}; !slices.Equal(got, want) {
		t.Fatalf("first Drain: msync calls %v, want %v", got, want)
	}
	if err := p.Drain(); err != nil {
		t.Fatal(err)
	}
	if got, want := f.takeCalls(), []run{{3, 7}}; !slices.Equal(got, want) {
		t.Fatalf("second Drain: msync calls %v, want %v (a store during write-back was forgotten)", got, want)
	}
	if f.disk[3] != 33 || f.disk[6] != 66 {
		t.Fatalf("durable image has page 3 = %d, page 6 = %d; want 33, 66", f.disk[3], f.disk[6])
	}
}

// TestMsyncGroupCommit has N goroutines flush a page each and Drain at once.
// The first write-back waits until every page is dirty, so at most two passes
// can run, and each caller must see its own page durable when Drain returns.
func TestMsyncGroupCommit(t *testing.T) {
	const n = 8
	p, f := newFake(t, 2*n)
	var flushed sync.WaitGroup
	flushed.Add(n)
	var first sync.Once
	f.hook = func(run) error {
		first.Do(flushed.Wait)
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range n {
		wg.Go(func() {
			pg := 2 * g // not adjacent: one run per page
			atomic.StoreUint64(f.word(pg), uint64(100+g))
			p.Flush(pageBytes(p.region, pg, 0, 8))
			flushed.Done()
			if err := p.Drain(); err != nil {
				errs <- err
				return
			}
			f.mu.Lock()
			got := f.disk[pg]
			f.mu.Unlock()
			if got != uint64(100+g) {
				errs <- fmt.Errorf("goroutine %d: Drain returned before its page was durable (image has %d)", g, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p.mu.Lock()
	passes := p.started
	p.mu.Unlock()
	if passes > 2 {
		t.Fatalf("%d goroutines draining at once ran %d msync passes, want at most 2", n, passes)
	}
	if calls := len(f.takeCalls()); uint64(calls) != passes {
		t.Fatalf("%d msync calls in %d passes, want one per pass", calls, passes)
	}
}

// TestMsyncConcurrentDurability hammers Flush and Drain from several
// goroutines while write-backs are slow, and checks after every Drain that
// the goroutine's last store is in the durable image.
func TestMsyncConcurrentDurability(t *testing.T) {
	const goroutines, rounds = 4, 300
	p, f := newFake(t, 2*goroutines)
	var drains atomic.Int64
	f.hook = func(run) error {
		for range 50 {
			drains.Load() // a slow write-back widens the races
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				pg := 2*g + i%2
				v := uint64(g)<<32 | uint64(i)
				atomic.StoreUint64(f.word(pg), v)
				p.Flush(pageBytes(p.region, pg, 0, 8))
				if err := p.Drain(); err != nil {
					errs <- err
					return
				}
				drains.Add(1)
				f.mu.Lock()
				got := f.disk[pg]
				f.mu.Unlock()
				if got != v {
					errs <- fmt.Errorf("goroutine %d round %d: durable image has %#x, want %#x", g, i, got, v)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started != p.done || len(p.dirty) != 0 {
		t.Fatalf("after the last Drain: %d passes started, %d done, dirty %v", p.started, p.done, p.dirty)
	}
}

var errInjected = errors.New("injected EIO")

// TestMsyncErrorIsFinal fails a pass's write-back and checks that Drain
// reports it with the offsets of the span, that the pass's runs are dirty
// again, and that every later Drain
// returns that failure even once msync works again: a later successful
// msync never counts as covering pages whose write-back failed.
func TestMsyncErrorIsFinal(t *testing.T) {
	p, f := newFake(t, 12)
	fail := true
	f.hook = func(r run) error {
		if fail {
			return errInjected
		}
		return nil
	}
	for _, pg := range []int{1, 5, 6, 9} {
		p.Flush(pageBytes(p.region, pg, 0, 1))
	}
	err := p.Drain()
	if !errors.Is(err, errInjected) {
		t.Fatalf("Drain = %v, want an error wrapping %v", err, errInjected)
	}
	if want := fmt.Sprintf("[%#x, %#x)", 1*pageSize, 10*pageSize); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the range %s", err, want)
	}
	if got := f.takeCalls(); len(got) != 0 {
		t.Fatalf("msync calls that succeeded %v, want none", got)
	}
	p.mu.Lock()
	dirty := slices.Clone(p.dirty)
	p.mu.Unlock()
	if want := []run{{1, 2}, {5, 7}, {9, 10}}; !slices.Equal(dirty, want) {
		t.Fatalf("after the failed pass: dirty %v, want %v (its runs marked again)", dirty, want)
	}
	fail = false
	for i := 0; i < 2; i++ {
		p.Flush(pageBytes(p.region, 10, 0, 1))
		if err := p.Drain(); !errors.Is(err, errInjected) {
			t.Fatalf("Drain %d after the failure, msync working again: %v, want the first failure", i+2, err)
		}
	}
}

// TestMsyncErrorReachesWaiter checks that a caller waiting on a failing pass
// gets its error rather than nil.
func TestMsyncErrorReachesWaiter(t *testing.T) {
	p, f := newFake(t, 4)
	inPass := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	f.hook = func(run) error {
		once.Do(func() { close(inPass) })
		<-release
		return errInjected
	}
	p.Flush(pageBytes(p.region, 1, 0, 1))
	leader := make(chan error)
	go func() { leader <- p.Drain() }()
	<-inPass
	// Nothing is dirty now; the page is in the pass in progress, so this
	// Drain must wait for that pass and share its result.
	waiter := make(chan error)
	go func() { waiter <- p.Drain() }()
	for {
		p.mu.Lock()
		parked := p.waiters
		p.mu.Unlock()
		if parked == 1 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	if err := <-leader; !errors.Is(err, errInjected) {
		t.Fatalf("leader Drain = %v, want %v", err, errInjected)
	}
	if err := <-waiter; !errors.Is(err, errInjected) {
		t.Fatalf("waiter Drain = %v, want %v", err, errInjected)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != 1 || !slices.Equal(p.dirty, []run{{1, 2}}) {
		t.Fatalf("after the failed pass: %d passes done, dirty %v; want 1, [{1 2}]", p.done, p.dirty)
	}
}

func TestMsyncRealMapping(t *testing.T) {
	region, file := mapFile(t, 8*pageSize)
	p := NewMsync(region)
	msg := []byte("durable through msync")
	p.Copy(region[3*pageSize-5:], msg)
	region[7*pageSize] = 'z'
	p.Flush(region[7*pageSize : 7*pageSize+1])
	if err := p.Drain(); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := file.ReadAt(got, int64(3*pageSize-5)); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(msg) {
		t.Fatalf("file has %q, want %q", got, msg)
	}
	p.mu.Lock()
	dirty, passes := len(p.dirty), p.done
	p.mu.Unlock()
	if dirty != 0 || passes != 1 {
		t.Fatalf("after Drain: %d dirty runs, %d passes; want 0, 1", dirty, passes)
	}
}

func TestMsyncRejectsOutsideRegion(t *testing.T) {
	p, _ := newFake(t, 4)
	r := p.region
	other := make([]byte, 10)
	mustPanic(t, func() { p.Flush(other) })
	mustPanic(t, func() { p.Flush(r[:cap(r)][len(r)-1 : len(r)+1]) })
	mustPanic(t, func() { NewMsync(r[1:]) })
	p.Flush(r[len(r)-1:]) // the last byte is inside
	p.Flush(r[len(r):])   // empty: nothing to do
}

// TestMsyncPanicInWriteback checks that a write-back that panics leaves the
// Msync's lock released and counts as a failure: every later Drain reports
// it instead of trusting the pages.
func TestMsyncPanicInWriteback(t *testing.T) {
	p, f := newFake(t, 4)
	f.hook = func(run) error { panic("boom") }
	p.Flush(pageBytes(p.region, 2, 0, 1))
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("recovered %v, want boom", r)
			}
		}()
		p.Drain()
	}()
	f.hook = nil
	if err := p.Drain(); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("Drain after a panicking write-back: %v, want the failure", err)
	}
	if got := f.takeCalls(); len(got) != 0 {
		t.Fatalf("msync calls %v after the failure, want none", got)
	}
}
