package crash

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/daxkv/daxkv/kv"
)

// OpKind is the kind of one operation of a workload.
type OpKind int

const (
	OpPut     OpKind = iota // Put(Key, value of Size bytes)
	OpDelete                // Delete(Key)
	OpBatch                 // Apply of Batch (puts and deletes)
	OpMode                  // SetPreferredMode(Mode)
	OpSwitch                // SwitchMode(Mode): the live pool changes durability path
	OpSnap                  // NewSnapshot: held, so that the extents it reaches stay out of reuse
	OpRelease               // check the oldest held snapshot still shows its instant, and close it
	OpCompact               // Compact: records move out of sparse chunks, emptied chunks are punched
)

// Op is one operation. Values are derived from the key, the operation's
// index in its workload and Size, so a workload is fully described by its
// text form and every value ever written is distinct.
type Op struct {
	Kind  OpKind
	Key   string
	Size  int
	Batch []Op // OpBatch: OpPut and OpDelete entries
	Mode  kv.DAXMode
}

// Workload is a named sequence of operations run on a fresh pool. With Grow
// the pool starts at one chunk, so that the operations make it grow.
type Workload struct {
	Name string
	Ops  []Op
	Grow bool
	// Cap, when above zero, is the pool's MaxSize: the pool cannot grow
	// past it, so writes run out of space. An operation refused with
	// ErrNoSpace changes nothing: the model keeps the state before it, and
	// the durable image after it must hold that state. A capped workload
	// must be refused at least once, or the run reports a violation.
	Cap int64
	// Sample, when above zero, caps the images of a crash point with many
	// dirty units: each unit alone and the pairs are sampled down to about
	// Sample each (the runs' values leave thousands of lines dirty before
	// their fence, which would make a crash point cost thousands of images).
	Sample int
}

// valueOf is the value the n-th operation of a workload writes for key.
func valueOf(key string, n, size int) []byte {
	b := fmt.Appendf(nil, "%s@%d:", key, n)
	for len(b) < size {
		b = append(b, byte('a'+(len(b)*7+n)%26))
	}
	return b[:max(size, len(fmt.Sprintf("%s@%d:", key, n)))]
}

// String renders an operation in the syntax Parse reads.
func (o Op) String() string {
	switch o.Kind {
	case OpPut:
		return fmt.Sprintf("put %s %d", o.Key, o.Size)
	case OpDelete:
		return "del " + o.Key
	case OpMode:
		return "mode " + o.Mode.String()
	case OpSwitch:
		return "switch " + o.Mode.String()
	case OpSnap:
		return "snap"
	case OpRelease:
		return "release"
	case OpCompact:
		return "compact"
	}
	parts := make([]string, len(o.Batch))
	for i, b := range o.Batch {
		parts[i] = b.String()
	}
	return "batch{" + strings.Join(parts, ", ") + "}"
}

func (w Workload) String() string {
	parts := make([]string, len(w.Ops))
	for i, o := range w.Ops {
		parts[i] = o.String()
	}
	return strings.Join(parts, "; ")
}

// Parse reads a workload from its text form: operations separated by ';'
// or newlines, each one of
//
//	put KEY SIZE        put a SIZE-byte value under KEY
//	del KEY             delete KEY
//	batch{OP, OP, ...}  apply puts and dels atomically
//	mode auto|on|off|emulated   SetPreferredMode
//	switch off|emulated         SwitchMode (the page cache, or CPU flushes)
//	snap                take a snapshot and hold it
//	release             check the oldest held snapshot, then close it
//
// Snapshots still held when the workload ends are closed by the DB's Close.
// Keys are 1 to 64 bytes without spaces, commas, braces or semicolons.
func Parse(name, text string) (Workload, error) {
	w := Workload{Name: name}
	for _, raw := range splitTop(text) {
		s := strings.TrimSpace(raw)
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		op, err := parseOp(s, true)
		if err != nil {
			return w, fmt.Errorf("crash: %q: %w", s, err)
		}
		w.Ops = append(w.Ops, op)
	}
	if len(w.Ops) == 0 {
		return w, fmt.Errorf("crash: workload %q has no operations", name)
	}
	return w, nil
}

// splitTop splits on ';' and newlines outside braces.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch {
		case c == '{':
			depth++
		case c == '}':
			depth--
		case (c == ';' || c == '\n') && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func parseOp(s string, top bool) (Op, error) {
	if strings.HasPrefix(s, "batch{") && strings.HasSuffix(s, "}") && top {
		op := Op{Kind: OpBatch}
		for _, part := range strings.Split(s[len("batch{"):len(s)-1], ",") {
			b, err := parseOp(strings.TrimSpace(part), false)
			if err != nil {
				return op, err
			}
			if b.Kind != OpPut && b.Kind != OpDelete {
				return op, fmt.Errorf("a batch holds puts and dels only")
			}
			op.Batch = append(op.Batch, b)
		}
		if len(op.Batch) == 0 {
			return op, fmt.Errorf("empty batch")
		}
		return op, nil
	}
	f := strings.Fields(s)
	switch {
	case len(f) == 3 && f[0] == "put" && validKey(f[1]):
		n, err := strconv.Atoi(f[2])
		if err != nil || n < 0 || n > 1<<20 {
			return Op{}, fmt.Errorf("size must be 0..1048576")
		}
		return Op{Kind: OpPut, Key: f[1], Size: n}, nil
	case len(f) == 2 && f[0] == "del" && validKey(f[1]):
		return Op{Kind: OpDelete, Key: f[1]}, nil
	case len(f) == 2 && f[0] == "mode" && top:
		m, err := kv.ParseDAXMode(f[1])
		if err != nil {
			return Op{}, err
		}
		return Op{Kind: OpMode, Mode: m}, nil
	case len(f) == 1 && f[0] == "snap" && top:
		return Op{Kind: OpSnap}, nil
	case len(f) == 1 && f[0] == "release" && top:
		return Op{Kind: OpRelease}, nil
	case len(f) == 1 && f[0] == "compact" && top:
		return Op{Kind: OpCompact}, nil
	case len(f) == 2 && f[0] == "switch" && top:
		m, err := kv.ParseDAXMode(f[1])
		if err != nil {
			return Op{}, err
		}
		if m != kv.DAXOff && m != kv.DAXEmulated {
			return Op{}, fmt.Errorf("switch to off or emulated (the modes a machine without persistent memory has)")
		}
		return Op{Kind: OpSwitch, Mode: m}, nil
	}
	return Op{}, fmt.Errorf("not an operation (want put KEY SIZE, del KEY, batch{...}, mode M, switch M, snap, release or compact)")
}

func validKey(k string) bool {
	return len(k) > 0 && len(k) <= 64 && !strings.ContainsAny(k, ",{};")
}

// Generated returns n random workloads of length ops over keys keys each:
// puts of small, non-temporal (>= 256 B) and large (> 4 KiB) values,
// overwrites, deletes, batches, preferred-mode changes, switches of the
// live pool between the two paths, and snapshots held across the writes
// that follow (which keeps the extents they free out of reuse), and
// compactions. Every other
// workload starts at one chunk so that it grows.
func Generated(seed uint64, n, ops, keys int) []Workload {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	sizes := []int{0, 10, 100, 300, 1000, 5000, 12000}
	key := func() string { return fmt.Sprintf("k%d", r.IntN(keys)) }
	out := make([]Workload, n)
	for i := range out {
		w := Workload{Name: fmt.Sprintf("gen-%d-%d", seed, i), Grow: i%2 == 0}
		for j := 0; j < ops; j++ {
			switch x := r.IntN(23); {
			case x < 11:
				w.Ops = append(w.Ops, Op{Kind: OpPut, Key: key(), Size: sizes[r.IntN(len(sizes))]})
			case x < 15:
				w.Ops = append(w.Ops, Op{Kind: OpDelete, Key: key()})
			case x < 19:
				b := Op{Kind: OpBatch}
				for k := 0; k < 2+r.IntN(4); k++ {
					if r.IntN(3) == 0 {
						b.Batch = append(b.Batch, Op{Kind: OpDelete, Key: key()})
					} else {
						b.Batch = append(b.Batch, Op{Kind: OpPut, Key: key(), Size: sizes[r.IntN(len(sizes))]})
					}
				}
				w.Ops = append(w.Ops, b)
			case x == 20:
				w.Ops = append(w.Ops, Op{Kind: OpSnap})
			case x == 21:
				w.Ops = append(w.Ops, Op{Kind: OpRelease})
			case x == 22:
				w.Ops = append(w.Ops, Op{Kind: OpCompact})
			case r.IntN(2) == 0:
				w.Ops = append(w.Ops, Op{Kind: OpMode, Mode: []kv.DAXMode{kv.DAXAuto, kv.DAXOff, kv.DAXEmulated}[r.IntN(3)]})
			default:
				w.Ops = append(w.Ops, Op{Kind: OpSwitch, Mode: []kv.DAXMode{kv.DAXOff, kv.DAXEmulated}[r.IntN(2)]})
			}
		}
		out[i] = w
	}
	return out
}

// Exhaustive returns every sequence of 1 to length operations over the
// given keys, from the alphabet: a small put, a large put (non-temporal,
// page-aligned extent) and a delete of each key, and the batches that put
// or delete every key (all combinations).
func Exhaustive(keys []string, length int) []Workload {
	var alpha []Op
	for _, k := range keys {
		alpha = append(alpha,
			Op{Kind: OpPut, Key: k, Size: 20},
			Op{Kind: OpPut, Key: k, Size: 5000},
			Op{Kind: OpDelete, Key: k})
	}
	for mask := 0; mask < 1<<len(keys); mask++ {
		b := Op{Kind: OpBatch}
		for i, k := range keys {
			if mask&(1<<i) != 0 {
				b.Batch = append(b.Batch, Op{Kind: OpDelete, Key: k})
			} else {
				b.Batch = append(b.Batch, Op{Kind: OpPut, Key: k, Size: 40})
			}
		}
		alpha = append(alpha, b)
	}
	var out []Workload
	var rec func(prefix []Op)
	rec = func(prefix []Op) {
		if len(prefix) > 0 {
			w := Workload{Ops: append([]Op(nil), prefix...)}
			w.Name = fmt.Sprintf("exh-%d-%d", len(keys), len(out))
			out = append(out, w)
		}
		if len(prefix) == length {
			return
		}
		for _, op := range alpha {
			rec(append(prefix, op))
		}
	}
	rec(nil)
	return out
}

// state is the model of a pool: keys to values, and the preferred mode.
type state struct {
	kv   map[string]string
	mode kv.DAXMode
}

func (s state) clone() state {
	c := state{kv: make(map[string]string, len(s.kv)), mode: s.mode}
	for k, v := range s.kv {
		c.kv[k] = v
	}
	return c
}

// apply returns the state after the n-th operation of a workload.
func (s state) apply(op Op, n int) state {
	c := s.clone()
	switch op.Kind {
	case OpPut:
		c.kv[op.Key] = string(valueOf(op.Key, n, op.Size))
	case OpDelete:
		delete(c.kv, op.Key)
	case OpMode:
		c.mode = op.Mode
	case OpBatch:
		for _, b := range op.Batch { // the last operation on a key wins
			if b.Kind == OpPut {
				c.kv[b.Key] = string(valueOf(b.Key, n, b.Size))
			} else {
				delete(c.kv, b.Key)
			}
		}
	}
	return c
}

// String is a canonical rendering, for comparisons and reports.
func (s state) String() string {
	keys := make([]string, 0, len(s.kv))
	for k := range s.kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	fmt.Fprintf(&b, "mode=%s", s.mode)
	for _, k := range keys {
		v := s.kv[k]
		fmt.Fprintf(&b, " %s=%.12s(%d)", k, v, len(v))
	}
	return b.String()
}

func (s state) equal(o state) bool {
	if s.mode != o.mode || len(s.kv) != len(o.kv) {
		return false
	}
	for k, v := range s.kv {
		if w, ok := o.kv[k]; !ok || w != v {
			return false
		}
	}
	return true
}
