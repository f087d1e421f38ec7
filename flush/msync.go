package flush

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
)

// Msync is the page-cache path Persister. Flush marks the pages covering the
// bytes dirty; Drain writes every dirty page back with msync(MS_SYNC).
//
// Drain is group commit: concurrent callers share one pass, and a caller
// returns only once every page it dirtied before calling Drain has been
// written back successfully, by its own pass or by another caller's. The
// dirty mark of a page is cleared under the lock before the page is written
// back, so a store that races with the write-back re-marks the page and a
// later Drain writes it again: nothing dirty is ever forgotten.
//
// A failure is final. When msync fails, the error is returned, wrapped with
// the offset range of the pages, and every later Drain returns it too,
// without writing anything back: after a failed write-back the kernel may
// have dropped the pages' dirty state (the fsyncgate lesson of PostgreSQL),
// so a later msync that succeeds proves nothing about them. The caller
// must stop trusting the mapping and recover from the file.
//
// The dirty pages are kept as runs, adjacent pages coalesced; a pass writes
// them all back with one msync call over the span from the first run to the
// last, so that a Drain costs one device flush however scattered its pages.
type Msync struct {
	region []byte  // the whole reserved range; immutable
	base   uintptr // address of region[0]; page-aligned
	shift  uint    // log2 of the page size

	// sync writes one run of pages back; msync(MS_SYNC) except in tests,
	// which set it before the first Flush.
	sync func(b []byte) error

	mu sync.Mutex // protects dirty, spare, started, done, lastErr and waiters
	// passDone is signalled, with mu held, each time a pass completes.
	passDone sync.Cond
	// dirty holds the dirty pages as sorted, disjoint, non-adjacent runs.
	dirty []run
	// spare is the buffer of the previous pass, reused as the next dirty
	// set so that a steady state allocates nothing.
	spare []run
	// started and done count the passes begun and finished. Passes run one
	// at a time, so a pass is in progress exactly when started > done.
	started, done uint64
	// lastErr is the result of pass number done.
	lastErr error
	// failed is the first pass's error, returned by every Drain after it.
	failed error
	// waiters counts the Drain callers parked in passDone.Wait; tests read
	// it to know a caller is waiting.
	waiters int
}

// run is the page range [lo, hi) of region.
type run struct {
	lo, hi int
}

var _ Persister = (*Msync)(nil)

// NewMsync returns the msync-path Persister for region, the whole reserved
// address range of the pool mapping. Its start must be page-aligned. Only
// pages that were flushed are ever written back, so the parts of region that
// are reserved but not mapped are never touched, as long as nothing outside
// the mapped chunks is flushed.
func NewMsync(region []byte) *Msync {
	page := os.Getpagesize()
	if len(region) > 0 && addr(region)%uintptr(page) != 0 {
		panic(fmt.Sprintf("daxkv: assertion failed: msync region at %#x is not page-aligned", addr(region)))
	}
	p := &Msync{region: region, sync: msync}
	if len(region) > 0 {
		p.base = addr(region)
	}
	for 1<<p.shift < page {
		p.shift++
	}
	p.passDone.L = &p.mu
	return p
}

// Flush marks the pages covering b dirty. b must lie inside the region.
func (p *Msync) Flush(b []byte) {
	if len(b) == 0 {
		return
	}
	a := addr(b)
	if a < p.base || a-p.base > uintptr(len(p.region)) || uintptr(len(b)) > uintptr(len(p.region))-(a-p.base) {
		panic(fmt.Sprintf("daxkv: assertion failed: flush of [%#x, %#x) outside the msync region [%#x, %#x)",
			a, a+uintptr(len(b)), p.base, p.base+uintptr(len(p.region))))
	}
	off := a - p.base
	lo := int(off >> p.shift)
	hi := int((off+uintptr(len(b))-1)>>p.shift) + 1
	p.mu.Lock()
	p.mark(lo, hi)
	p.mu.Unlock()
}

// Copy copies src into dst (min(len(dst), len(src)) bytes) and marks the
// pages of the copied bytes dirty.
func (p *Msync) Copy(dst, src []byte) {
	n := copy(dst, src)
	p.Flush(dst[:n])
}

// Drain writes back every page dirtied before the call and returns nil once
// they are all durable, or the error of the pass that was to write them.
// After any pass has failed, Drain returns that first failure.
func (p *Msync) Drain() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failed != nil {
		return p.failed
	}
	running := p.started > p.done
	if len(p.dirty) == 0 && !running {
		// Every page ever dirtied was written back: a failed pass would
		// have marked its pages dirty again.
		return nil
	}
	// target is the first pass that covers every page dirtied before this
	// call. Such pages are either still dirty, and then a pass that starts
	// after now is needed, or were taken by the pass in progress.
	target := p.started + 1
	if len(p.dirty) == 0 {
		target = p.started
	}
	for p.done < target {
		if p.started == p.done {
			p.pass()
			continue
		}
		p.waiters++
		p.passDone.Wait()
		p.waiters--
	}
	if p.failed != nil {
		return p.failed
	}
	return p.lastErr
}

// pass takes the dirty set, writes it back with mu released, and records the
// result. Called with mu held and no pass in progress; returns with mu held,
// even if the write-back panics, so that waiters are never stranded.
func (p *Msync) pass() {
	p.started++
	runs := p.dirty
	// Clear the marks before the write-back: a store from now on marks its
	// page again, and a later pass catches it.
	p.dirty = p.spare[:0]
	p.spare = nil
	p.mu.Unlock()

	var err error
	written := 0 // runs[:written] are durable
	defer func() {
		p.mu.Lock()
		if written < len(runs) && err == nil {
			err = errors.New("daxkv: msync panicked")
		}
		for _, r := range runs[written:] {
			p.mark(r.lo, r.hi)
		}
		p.spare = runs[:0]
		p.done++
		p.lastErr = err
		if err != nil && p.failed == nil {
			p.failed = err
		}
		p.passDone.Broadcast()
	}()
	if len(runs) == 0 {
		return
	}
	// One call over the span of the runs, not one per run: each msync
	// ends in a device flush (and on a journaling filesystem perhaps a
	// commit), while the clean pages between the runs cost the kernel
	// next to nothing (it walks the dirty pages of the range). Pages of
	// the span that another writer dirtied and has not flushed yet may be
	// written back too, as the kernel's own write-back may do at any time.
	lo := runs[0].lo << p.shift
	hi := min(runs[len(runs)-1].hi<<p.shift, len(p.region))
	if e := p.sync(p.region[lo:hi]); e != nil {
		err = fmt.Errorf("daxkv: msync of pool range [%#x, %#x): %w", lo, hi, e)
		return
	}
	written = len(runs)
}

// mark adds pages [lo, hi) to the dirty set, merging it with the runs it
// overlaps or touches. Called with mu held.
func (p *Msync) mark(lo, hi int) {
	d := p.dirty
	// i is the first run that ends at or after lo, so the first that can
	// merge; j is the first run after i that starts after hi.
	i, _ := slices.BinarySearchFunc(d, lo, func(r run, lo int) int { return r.hi - lo })
	j := i
	for j < len(d) && d[j].lo <= hi {
		j++
	}
	if i == j {
		p.dirty = slices.Insert(d, i, run{lo, hi})
		return
	}
	d[i] = run{min(lo, d[i].lo), max(hi, d[j-1].hi)}
	p.dirty = slices.Delete(d, i+1, j)
}
