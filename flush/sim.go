package flush

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
)

// SimPath is the durability path a Sim models.
type SimPath int

const (
	// SimCPU models the CPU-flush path: a Flush captures the content of each
	// 64-byte line it covers at that moment, and the next Drain (the fence)
	// makes the captured content durable.
	SimCPU SimPath = iota
	// SimMsync models the page-cache path: a Flush marks pages dirty, and a
	// Drain (a completed msync) makes their content at that moment durable.
	SimMsync
)

func (p SimPath) String() string {
	if p == SimMsync {
		return "msync"
	}
	return "cpu"
}

// Tear selects how a simulated crash image treats a line that was written
// but is not yet durable.
type Tear int

const (
	// TearWords (the default, pessimistic): every aligned 8-byte word of such
	// a line is independently old or new. x86 persists the stores to one
	// line in program order, so real hardware makes only some of these
	// images; a protocol that survives all of them survives the hardware.
	TearWords Tear = iota
	// TearLines: each line is wholly old or wholly new.
	TearLines
)

// Resizer is implemented by a Persister that wants to know when the pool
// file grows: durable reports whether the new size was made durable
// (fdatasync) before any byte of the new range was used.
type Resizer interface {
	Resized(size int64, durable bool)
}

// Sim is a Persister for the crash-injection suite: it keeps, beside the
// real mapping, a durable image of what would survive a power failure, and
// builds crash images from it. It wraps no other Persister: the mapping it
// watches is never made durable by it (tests run on tmpfs).
//
// OnDrain, when set, is called at the start of every Drain, before the
// drain takes effect, with the Sim locked out of Flush by nobody: the
// callback may call Image and the other read methods.
type Sim struct {
	mapped func() []byte // the pool mapping, as it is now

	mu         sync.Mutex // protects every field below
	path       SimPath
	unit       int64                       // 64 (lines) or 4096 (pages)
	durable    []byte                      // the durable image
	durableLen int64                       // length of the file that survives (synced size)
	captured   map[int64]map[int64]capture // SimCPU: thread -> unit offset -> content captured at Flush
	marked     map[int64]bool              // SimMsync: pages flushed since the last Drain
	drains     int64

	// ver numbers the contents captured and made durable, in the order
	// they were taken; durVer[u] is the number of unit u's durable content
	// (0: as at NewSim). A capture older than the durable content never
	// replaces it: two threads that flush one line in turn write back its
	// contents in that order, so the line's durable content never goes
	// back to an older one (a later fence of the first thread once put the
	// first capture over the second, losing a record the second thread had
	// made durable, in about one run in a hundred of a concurrent history).
	ver    uint64
	durVer map[int64]uint64

	// PerThread makes the CPU path's model per thread of execution: a
	// flush becomes durable at a fence (Drain) of the goroutine that
	// issued it, or at an Order call of that goroutine, not at any
	// goroutine's fence. Set it before the first Flush. The msync path's
	// dirty set is shared by all writers (a Drain writes every marked
	// page), so it has no threads.
	PerThread bool

	// OnDrain is the crash-point hook; see the type's doc.
	OnDrain func(s *Sim)
	// OnFlush, when set, is called after every Flush (random crash points
	// between fences).
	OnFlush func(s *Sim)
}

var _ Persister = (*Sim)(nil)
var _ Resizer = (*Sim)(nil)

// NewSim returns a simulator for the mapping mapped returns. The durable
// image starts as the mapping's current content: call it right after the
// pool is created or opened.
func NewSim(path SimPath, mapped func() []byte) *Sim {
	s := &Sim{path: path, unit: 64, mapped: mapped, captured: map[int64]map[int64]capture{}, marked: map[int64]bool{}, durVer: map[int64]uint64{}}
	if path == SimMsync {
		s.unit = 4096
	}
	m := mapped()
	s.durable = bytes.Clone(m)
	s.durableLen = int64(len(m))
	return s
}

// capture is a unit's content as a Flush found it, with its number (ver).
type capture struct {
	data []byte
	ver  uint64
}

// Path is the path the Sim models.
func (s *Sim) Path() SimPath {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.path
}

// units returns the unit-aligned range covering b; called with mu held.
func (s *Sim) units(b []byte) (lo, hi int64, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	m := s.mapped()
	off := addrDiff(b, m)
	if off < 0 || off+int64(len(b)) > int64(len(m)) {
		panic("daxkv: assertion failed: Sim.Flush outside the pool mapping")
	}
	return off / s.unit * s.unit, off + int64(len(b)), true
}

// Flush implements Persister.
func (s *Sim) Flush(b []byte) {
	m := s.mapped()
	s.mu.Lock()
	lo, hi, ok := s.units(b)
	if !ok {
		s.mu.Unlock()
		return
	}
	var mine map[int64]capture
	if s.path == SimCPU {
		t := s.thread()
		if mine = s.captured[t]; mine == nil {
			mine = map[int64]capture{}
			s.captured[t] = mine
		}
	}
	for u := lo; u < hi; u += s.unit {
		if s.path == SimCPU {
			s.ver++
			mine[u] = capture{bytes.Clone(m[u : u+s.unit]), s.ver}
		} else {
			s.marked[u] = true
		}
	}
	s.mu.Unlock()
	if s.OnFlush != nil {
		s.OnFlush(s)
	}
}

// Copy implements Persister.
func (s *Sim) Copy(dst, src []byte) {
	n := copy(dst, src)
	s.Flush(dst[:n])
}

// Drain implements Persister: OnDrain first (a crash just before the fence
// or msync completes), then the drain takes effect.
func (s *Sim) Drain() error {
	if s.OnDrain != nil {
		s.OnDrain(s)
	}
	m := s.mapped()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(int64(len(m)))
	s.settle(s.thread())
	for u := range s.marked {
		copy(s.durable[u:u+s.unit], m[u:u+s.unit])
		s.ver++
		s.durVer[u] = s.ver
	}
	clear(s.marked)
	s.drains++
	return nil
}

// Order makes the calling goroutine's flushes on the CPU path durable, as a
// point the store's design claims orders them does (with PerThread): the
// key stripe's unlock, a LOCK-prefixed instruction that the Intel SDM lists
// among the store-fencing operations for CLWB and CLFLUSHOPT. It is not a
// crash point.
func (s *Sim) Order() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(int64(len(s.mapped())))
	s.settle(s.thread())
}

// settle makes thread t's captured lines durable; called with mu held.
func (s *Sim) settle(t int64) {
	for u, c := range s.captured[t] {
		if c.ver > s.durVer[u] {
			copy(s.durable[u:], c.data)
			s.durVer[u] = c.ver
		}
	}
	delete(s.captured, t)
}

// thread is the calling goroutine's identity with PerThread, else 0;
// called with mu held.
func (s *Sim) thread() int64 {
	if !s.PerThread {
		return 0
	}
	return goid()
}

// goid returns the calling goroutine's number, from the first line of its
// stack ("goroutine 123 [running]:"). The runtime hides it on purpose; the
// simulator needs it only to model per-thread fences.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// grow extends the durable image with zeros (what a file extension reads
// as) up to n bytes.
func (s *Sim) grow(n int64) {
	if n > int64(len(s.durable)) {
		s.durable = append(s.durable, make([]byte, n-int64(len(s.durable)))...)
	}
}

// Resized implements Resizer.
func (s *Sim) Resized(size int64, durable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(size)
	if durable && size > s.durableLen {
		s.durableLen = size
	}
}

// SetPath changes the path the Sim models, as the store's online switch
// between durability paths does. Flushes still pending (flushed on the old
// path but not yet made durable by one of its Drains) are dropped: the new
// path's Drain never covers them, so a store that switches without draining
// the old path first loses them, as it would for real. Their bytes stay
// non-durable, so crash images still include them or not.
func (s *Sim) SetPath(p SimPath) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path, s.unit = p, 64
	if p == SimMsync {
		s.unit = 4096
	}
	clear(s.captured)
	clear(s.marked)
}

// Drains is the number of Drain calls so far.
func (s *Sim) Drains() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drains
}

// Dirty returns the offsets of the units (lines or pages) whose current
// content is not durable, in ascending order.
func (s *Sim) Dirty() []int64 {
	m := s.mapped()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(int64(len(m)))
	var out []int64
	n := min(int64(len(m)), s.durableLen)
	for u := int64(0); u < n; u += s.unit {
		if !bytes.Equal(m[u:u+s.unit], s.durable[u:u+s.unit]) {
			out = append(out, u)
		}
	}
	return out
}

// Image builds one crash image: the durable image, with each unit in take
// replaced by a newer content. On the CPU path a unit's newer content is
// what the last Flush captured if it has not been overwritten since, else
// the current content (a cache line can be written back at any time);
// with TearWords and a non-nil r, each aligned 8-byte word of a taken unit
// is independently old or new. On the msync path pages are never torn
// (their content reaches the file whole or not at all, modelled at page
// granularity). The image is as long as the durable file.
func (s *Sim) Image(take []int64, tear Tear, r *rand.Rand) []byte {
	m := s.mapped()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.grow(int64(len(m)))
	img := bytes.Clone(s.durable[:s.durableLen])
	for _, u := range take {
		if u+s.unit > s.durableLen || u+s.unit > int64(len(m)) {
			continue
		}
		newer := m[u : u+s.unit]
		if r != nil && r.IntN(2) == 0 {
			// A version some flush captured, if any: a line may be
			// written back at any moment after it changed.
			var versions [][]byte
			for _, caps := range s.captured {
				if c, ok := caps[u]; ok && c.ver > s.durVer[u] {
					versions = append(versions, c.data)
				}
			}
			if len(versions) > 0 {
				newer = versions[r.IntN(len(versions))]
			}
		}
		if s.path == SimCPU && tear == TearWords && r != nil {
			for w := int64(0); w < s.unit; w += 8 {
				if r.IntN(2) == 0 {
					copy(img[u+w:u+w+8], newer[w:w+8])
				}
			}
			continue
		}
		copy(img[u:u+s.unit], newer)
	}
	return img
}

// Durable returns a copy of the durable image alone: the crash image in
// which nothing that was not made durable survives.
func (s *Sim) Durable() []byte { return s.Image(nil, TearLines, nil) }
