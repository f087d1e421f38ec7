package alloc

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Unit states in the model.
const (
	stFree  = 0
	stLive  = 1
	stLimbo = 2
)

// model drives an Allocator with random operations and keeps, unit by unit,
// what every byte of the pool should be.
type model struct {
	t       *testing.T
	a       *Allocator
	rng     *rand.Rand
	chunk   int64
	heap    int64
	pool    int64
	maxPool int64
	state   []byte         // per unit of the pool
	live    []liveExt      // outstanding extents
	limbo   []limboExt     // retired extents
	epoch   uint64         // the current reader epoch
	used    int64          // bytes live
	inLimbo int64          // bytes in limbo
	stats   map[string]int // operations done, by kind
}

type liveExt struct{ off, n int64 }

type limboExt struct {
	off, size int64
	epoch     uint64
}

func newModel(t *testing.T, seed uint64, chunk, heap, pool, maxPool int64) *model {
	m := &model{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		chunk: chunk, heap: heap, pool: pool, maxPool: maxPool,
		a:     checked(t, New(chunk, heap, pool)),
		state: make([]byte, maxPool/Unit),
		stats: map[string]int{},
	}
	return m
}

func (m *model) set(off, size int64, from, to byte) {
	m.t.Helper()
	for u := off / Unit; u < (off+size)/Unit; u++ {
		if m.state[u] != from {
			m.t.Fatalf("unit at %d of extent [%d, %d) is in state %d, want %d", u*Unit, off, off+size, m.state[u], from)
		}
		m.state[u] = to
	}
}

// capacity returns the largest small and large extents the allocator must
// be able to hand out, from the model's free units: any run inside a chunk
// gives up to SmallMax, and its whole pages (two or more) a large extent.
func (m *model) capacity() (small, large int64) {
	for c := int64(0); c < m.pool; c += m.chunk {
		for u := c / Unit; u < (c+m.chunk)/Unit; {
			if m.state[u] != stFree || u*Unit < m.heap {
				u++
				continue
			}
			s := u
			for u < (c+m.chunk)/Unit && m.state[u] == stFree {
				u++
			}
			off, end := s*Unit, u*Unit
			small = max(small, min(end-off, SmallMax))
			lo, hi := (off+Page-1)&^(Page-1), end&^(Page-1)
			if hi-lo > SmallMax {
				large = max(large, min(hi-lo, m.chunk/2))
			}
		}
	}
	return small, large
}

func (m *model) fits(size int64) bool {
	small, large := m.capacity()
	if size <= SmallMax {
		return size <= small
	}
	return size <= large
}

func (m *model) randomSize() int64 {
	switch r := m.rng.IntN(100); {
	case r < 30:
		return 192
	case r < 70:
		return 1 + m.rng.Int64N(SmallMax)
	case r < 95:
		return SmallMax + 1 + m.rng.Int64N(4*Page)
	default:
		return SmallMax + 1 + m.rng.Int64N(m.chunk/2-SmallMax)
	}
}

func (m *model) alloc(n int64) {
	m.t.Helper()
	off, err := m.a.Alloc(n)
	if err == ErrFull {
		m.stats["full"]++
		if m.fits(SizeOf(n)) {
			small, large := m.capacity()
			m.t.Fatalf("Alloc(%d) = ErrFull, but the model has room (small %d, large %d)", n, small, large)
		}
		if m.pool == m.maxPool {
			m.freeHalf()
		} else {
			m.pool = min(m.maxPool, m.pool+m.chunk*(1+m.rng.Int64N(3)))
			m.a.Grow(m.pool)
			m.stats["grow"]++
		}
		off, err = m.a.Alloc(n)
		if err != nil && m.fits(SizeOf(n)) {
			m.t.Fatalf("Alloc(%d) after making room: %v", n, err)
		}
		if err != nil {
			return
		}
	}
	if err != nil {
		m.t.Fatalf("Alloc(%d): %v", n, err)
	}
	assertPlaced(m.t, m.a, off, n)
	m.set(off, SizeOf(n), stFree, stLive)
	m.live = append(m.live, liveExt{off, n})
	m.used += SizeOf(n)
	m.stats["alloc"]++
}

func (m *model) pick() liveExt {
	k := m.rng.IntN(len(m.live))
	e := m.live[k]
	m.live[k] = m.live[len(m.live)-1]
	m.live = m.live[:len(m.live)-1]
	return e
}

func (m *model) free() {
	e := m.pick()
	m.a.Free(e.off, e.n)
	m.set(e.off, SizeOf(e.n), stLive, stFree)
	m.used -= SizeOf(e.n)
	m.stats["free"]++
}

func (m *model) freeHalf() {
	for k := len(m.live) / 2; k > 0; k-- {
		m.free()
	}
}

func (m *model) retire() {
	e := m.pick()
	epoch := m.epoch
	if m.rng.IntN(5) == 0 && epoch > 2 {
		epoch -= uint64(1 + m.rng.IntN(2)) // a writer that read the epoch a moment ago
	}
	size := SizeOf(e.n)
	m.a.Retire(e.off, e.n, epoch)
	m.set(e.off, size, stLive, stLimbo)
	m.limbo = append(m.limbo, limboExt{e.off, size, epoch})
	m.used -= size
	m.inLimbo += size
	m.stats["retire"]++
}

func (m *model) reclaim() {
	upTo := m.epoch - uint64(m.rng.IntN(4))
	if upTo > m.epoch { // wrapped below zero
		upTo = 0
	}
	var want int64
	kept := m.limbo[:0]
	for _, l := range m.limbo {
		if l.epoch <= upTo {
			want += l.size
			m.set(l.off, l.size, stLimbo, stFree)
		} else {
			kept = append(kept, l)
		}
	}
	m.limbo = kept
	if got := m.a.Reclaim(upTo); got != want {
		m.t.Fatalf("Reclaim(%d) = %d, want %d", upTo, got, want)
	}
	m.inLimbo -= want
	m.stats["reclaim"]++
}

// probeLargest checks Stats.LargestFree against the model, and that Alloc
// agrees: the next larger size fails, LargestFree itself succeeds.
func (m *model) probeLargest() {
	m.t.Helper()
	small, large := m.capacity()
	s := m.a.Stats()
	if want := max(small, large); s.LargestFree != want {
		m.t.Fatalf("LargestFree %d, model says %d", s.LargestFree, want)
	}
	if s.LargestFree == 0 {
		return
	}
	next := s.LargestFree + Unit
	if s.LargestFree >= SmallMax {
		next = s.LargestFree + Page
	}
	if next <= m.chunk/2 {
		if off, err := m.a.Alloc(next); err != ErrFull {
			m.t.Fatalf("Alloc(%d) above LargestFree %d = %d, %v; want ErrFull", next, s.LargestFree, off, err)
		}
	}
	m.alloc(s.LargestFree)
	m.stats["probe"]++
}

// verify checks the accounting against the model; with full it also runs
// Stats and Check, which merge and sort every free extent.
func (m *model) verify(full bool) {
	m.t.Helper()
	if !full {
		m.a.mu.Lock()
		free, limbo, pool := m.a.freeBytes, m.a.limboBytes, m.a.poolSize
		m.a.mu.Unlock()
		if limbo != m.inLimbo || pool-m.heap-free-limbo != m.used || pool != m.pool {
			m.t.Fatalf("free %d limbo %d pool %d; model used %d limbo %d pool %d", free, limbo, pool, m.used, m.inLimbo, m.pool)
		}
		return
	}
	assertAccounting(m.t, m.a, m.used, m.inLimbo)
	if err := m.a.Check(); err != nil {
		m.t.Fatal(err)
	}
}

// drain frees everything and checks that the whole heap comes back in
// half-chunk extents, then in Units: merging loses nothing.
func (m *model) drain() {
	m.t.Helper()
	for len(m.live) > 0 {
		m.free()
	}
	m.epoch++
	m.reclaimAll()
	m.verify(true)
	// Merge now, whether or not a periodic merge is due.
	m.a.mu.Lock()
	m.a.coalesce(true)
	m.a.mu.Unlock()
	half := m.chunk / 2
	want := m.pool / m.chunk * 2
	if m.heap > 0 {
		want -= 2 - (m.chunk-m.heap)/half
	}
	var got int64
	for {
		_, err := m.a.Alloc(half)
		if err == ErrFull {
			break
		}
		if err != nil {
			m.t.Fatal(err)
		}
		got++
	}
	if got != want {
		m.t.Fatalf("after draining, %d half-chunk extents, want %d", got, want)
	}
	rest := m.a.Stats().Free
	for {
		_, err := m.a.Alloc(Unit)
		if err == ErrFull {
			break
		}
		if err != nil {
			m.t.Fatal(err)
		}
		rest -= Unit
	}
	if rest != 0 {
		m.t.Fatalf("after filling with Units, %d bytes were left unreachable", rest)
	}
	if s := m.a.Stats(); s.Used != m.pool-m.heap {
		m.t.Fatalf("full pool Used %d, want %d", s.Used, m.pool-m.heap)
	}
}

func (m *model) reclaimAll() {
	for _, l := range m.limbo {
		m.set(l.off, l.size, stLimbo, stFree)
	}
	m.limbo = m.limbo[:0]
	m.a.Reclaim(m.epoch)
	m.inLimbo = 0
}

func TestModel(t *testing.T) {
	ops := 6000
	if testing.Short() {
		ops = 1500
	}
	for _, g := range []struct {
		chunk, heap int64
	}{
		{64 * kib, 4 * kib},
		{64 * kib, 0},
		{256 * kib, 60 * kib},
	} {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("chunk=%dK/heap=%dK/seed=%d", g.chunk/kib, g.heap/kib, seed), func(t *testing.T) {
				t.Parallel()
				m := newModel(t, seed, g.chunk, g.heap, 2*g.chunk, 24*g.chunk)
				for i := 0; i < ops; i++ {
					switch r := m.rng.IntN(100); {
					case r < 45 || len(m.live) == 0:
						m.alloc(m.randomSize())
					case r < 67:
						m.free()
					case r < 82:
						m.retire()
					case r < 90:
						m.reclaim()
					case r < 97:
						m.epoch++
					default:
						m.probeLargest()
					}
					m.verify(i%16 == 0)
				}
				m.verify(true)
				for _, k := range []string{"alloc", "free", "retire", "reclaim", "full", "grow", "probe"} {
					if m.stats[k] == 0 {
						t.Errorf("the random run never did %q: %v", k, m.stats)
					}
				}
				m.drain()
			})
		}
	}
}
