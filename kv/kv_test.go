package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
)

// modes are the durability paths that run on this machine (DAXOn needs a
// DAX filesystem; the guest harness covers it).
var modes = []DAXMode{DAXAuto, DAXOff, DAXEmulated}

func TestReopenKeepsAcknowledgedWrites(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(shmDir(t), "pool")
			opts := smallOpts(mode)
			db, err := Open(path, opts)
			if err != nil {
				t.Fatal(err)
			}
			model := map[string][]byte{}
			r := rand.New(rand.NewPCG(1, uint64(mode)))
			for n := 0; n < 3000; n++ {
				i := r.IntN(500)
				switch r.IntN(4) {
				case 0:
					if err := db.Delete(key(i)); err != nil {
						t.Fatal(err)
					}
					delete(model, string(key(i)))
				default:
					v := value(i, n, r.IntN(300))
					mustPut(t, db, key(i), v)
					model[string(key(i))] = v
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			db = openTest(t, path, opts)
			verifyModel(t, db, model)
			if s := db.Stats(); s.Recovered {
				t.Errorf("Stats.Recovered after a clean close")
			}
		})
	}
}

// verifyModel checks that db holds exactly model: every key with its value,
// nothing else, in order.
func verifyModel(t *testing.T, db *DB, model map[string][]byte) {
	t.Helper()
	for k, v := range model {
		got, err := db.Get([]byte(k))
		if err != nil {
			t.Fatalf("Get(%q): %v", k, err)
		}
		if !bytes.Equal(got, v) {
			t.Fatalf("Get(%q) = %q, want %q", k, got, v)
		}
	}
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var seen []string
	err := db.Scan(nil, nil, func(k, v []byte) error {
		if want, ok := model[string(k)]; !ok || !bytes.Equal(v, want) {
			return fmt.Errorf("scan: key %q value %q not in the model", k, v)
		}
		seen = append(seen, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, keys) {
		t.Fatalf("scan saw %d keys, model has %d (or out of order)", len(seen), len(keys))
	}
	if got := db.Stats().Keys; got != int64(len(model)) {
		t.Fatalf("Stats.Keys = %d, want %d", got, len(model))
	}
}

func TestDeletedKeysStayDeleted(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := smallOpts(DAXEmulated)
	db := openTest(t, path, opts)
	for i := 0; i < 200; i++ {
		for v := 0; v < 3; v++ { // several versions, so old ones exist
			mustPut(t, db, key(i), value(i, v, 40))
		}
	}
	for i := 0; i < 200; i += 2 {
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Delete([]byte("never-there")); err != nil {
		t.Fatalf("Delete of an absent key: %v", err)
	}
	db.Close()
	db = openTest(t, path, opts)
	for i := 0; i < 200; i++ {
		v, err := db.Get(key(i))
		if i%2 == 0 {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted key %d: Get = %q, %v; want ErrNotFound", i, v, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(v, value(i, 2, 40)) {
			t.Fatalf("key %d: Get = %q, %v", i, v, err)
		}
	}
}

func TestScanOrderAndBounds(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	// Keys chosen to stress the inline 16-byte prefix: equal prefixes,
	// zero bytes, lengths around 16, and keys that are prefixes of others.
	raw := []string{"a", "a\x00", "a\x00\x00", "ab", "b", "0123456789abcdef", "0123456789abcdef\x00",
		"0123456789abcdefg", "0123456789abcdefh", "0123456789abcdeg", "\x00", "\xff\xff", "zzzz",
		"0123456789abcdefghijklmnopqrstuvwxyz", "0123456789abcdefghijklmnopqrstuvwxy"}
	for i := 0; i < 300; i++ {
		raw = append(raw, fmt.Sprintf("k%05d", i*7%300))
	}
	for _, k := range raw {
		mustPut(t, db, []byte(k), []byte("v:"+k))
	}
	sorted := slices.Clone(raw)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)

	collect := func(start, end []byte) []string {
		var out []string
		err := db.Scan(start, end, func(k, v []byte) error {
			if string(v) != "v:"+string(k) {
				return fmt.Errorf("key %q has value %q", k, v)
			}
			out = append(out, string(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := func(start, end string, hasEnd bool) []string {
		var out []string
		for _, k := range sorted {
			if k >= start && (!hasEnd || k < end) {
				out = append(out, k)
			}
		}
		return out
	}
	tests := []struct {
		name       string
		start, end []byte
	}{
		{"all", nil, nil},
		{"from", []byte("k00100"), nil},
		{"to", nil, []byte("k00100")},
		{"range", []byte("a"), []byte("b")},
		{"between keys", []byte("k00100x"), []byte("k00200x")},
		{"prefix ties", []byte("0123456789abcdef"), []byte("0123456789abcdefh")},
		{"empty", []byte("k00200"), []byte("k00100")},
		{"start equals end", []byte("ab"), []byte("ab")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(tc.start, tc.end)
			w := want(string(tc.start), string(tc.end), tc.end != nil)
			if !slices.Equal(got, w) {
				t.Fatalf("Scan(%q, %q) = %q, want %q", tc.start, tc.end, got, w)
			}
		})
	}
	t.Run("error stops the scan", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := db.Scan(nil, nil, func(k, v []byte) error {
			n++
			if n == 5 {
				return stop
			}
			return nil
		})
		if err != stop || n != 5 {
			t.Fatalf("Scan returned %v after %d keys, want the callback's error after 5", err, n)
		}
	})
}

func TestBatchAppliesAllOrNothing(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := smallOpts(DAXEmulated)
	db := openTest(t, path, opts)
	for i := 0; i < 10; i++ {
		mustPut(t, db, key(i), []byte("old"))
	}
	b := db.NewBatch()
	for i := 0; i < 10; i++ {
		if i%3 == 0 {
			b.Delete(key(i))
		} else {
			b.Put(key(i), []byte("new"))
		}
	}
	b.Put(key(100), []byte("first"))
	b.Put(key(100), []byte("last wins"))
	b.Delete(key(101)) // absent
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) {
		t.Helper()
		for i := 0; i < 10; i++ {
			v, err := db.Get(key(i))
			if i%3 == 0 {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("key %d deleted by the batch: %q, %v", i, v, err)
				}
			} else if string(v) != "new" {
				t.Fatalf("key %d = %q, %v; want new", i, v, err)
			}
		}
		if v := mustGet(t, db, key(100)); string(v) != "last wins" {
			t.Fatalf("key 100 = %q", v)
		}
	}
	check(db)
	db.Close()
	db = openTest(t, path, opts)
	check(db)

	t.Run("invalid op writes nothing", func(t *testing.T) {
		b := db.NewBatch()
		b.Put(key(200), []byte("x"))
		b.Put(nil, []byte("empty key"))
		if err := db.Apply(b); !errors.Is(err, ErrKeyRequired) {
			t.Fatalf("Apply with an empty key: %v", err)
		}
		if _, err := db.Get(key(200)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a rejected batch left key 200 behind: %v", err)
		}
	})
}

func TestGrowthFarPastInitialSize(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 64 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
	db := openTest(t, path, opts)
	start := db.Stats().PoolSize
	before := db.m.Bytes()
	model := map[string][]byte{}
	for i := 0; i < 4000; i++ {
		v := value(i, 0, 100+i%3000) // small and large values (the non-temporal path)
		mustPut(t, db, key(i), v)
		model[string(key(i))] = v
	}
	s := db.Stats()
	if s.PoolSize < 50*start {
		t.Fatalf("pool grew from %d to only %d bytes", start, s.PoolSize)
	}
	if &db.m.Bytes()[0] != &before[0] {
		t.Fatalf("the mapping moved during growth")
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != s.PoolSize {
		t.Fatalf("file size %v (%v), pool size %d", fi.Size(), err, s.PoolSize)
	}
	db.Close()
	db = openTest(t, path, opts)
	verifyModel(t, db, model)
}

func TestDAXOnUnsupportedHere(t *testing.T) {
	dirs := []string{t.TempDir()}
	if d := shmDir(t); d != dirs[0] {
		dirs = append(dirs, d)
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, "pool")
		db, err := Open(path, &Options{DAX: DAXOn, Size: 1 << 20, ChunkSize: 64 << 10})
		if err == nil {
			// A DAX filesystem after all: then it must really be MAP_SYNC.
			s := db.Stats()
			db.Close()
			if !s.MapSync || s.Mode != DAXOn {
				t.Fatalf("DAXOn open succeeded without MAP_SYNC: %+v", s)
			}
			continue
		}
		if !errors.Is(err, ErrDAXUnsupported) {
			t.Fatalf("DAXOn on %s: %v, want ErrDAXUnsupported", dir, err)
		}
		// DAXAuto on the same filesystem falls back to the page cache.
		db = openTest(t, path, &Options{Size: 1 << 20, ChunkSize: 64 << 10})
		if s := db.Stats(); s.Mode != DAXOff || s.MapSync || s.FlushMethod != "msync" {
			t.Fatalf("DAXAuto without MAP_SYNC: mode %v map_sync %v flush %s", s.Mode, s.MapSync, s.FlushMethod)
		}
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	db := openTest(t, path, smallOpts(DAXOff))
	if _, err := Open(path, smallOpts(DAXOff)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if _, err := Open(path, &Options{ReadOnly: true}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only Open beside a writer: %v, want ErrLocked", err)
	}
	mustPut(t, db, []byte("k"), []byte("v"))
	db.Close()
	r1, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("two read-only opens: %v", err)
	}
	defer r2.Close()
	if v := mustGet(t, r2, []byte("k")); string(v) != "v" {
		t.Fatalf("read-only Get = %q", v)
	}
	if err := r1.Put([]byte("k"), []byte("w")); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put on a read-only DB: %v", err)
	}
	if err := r1.Apply(r1.NewBatch()); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Apply on a read-only DB: %v", err)
	}
}

func TestClosedDB(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	db, err := Open(path, smallOpts(DAXEmulated))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, []byte("k"), []byte("v"))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	b.Put([]byte("k"), []byte("v"))
	calls := map[string]error{
		"Close":  db.Close(),
		"Put":    db.Put([]byte("k"), []byte("v")),
		"Delete": db.Delete([]byte("k")),
		"View":   db.View([]byte("k"), func([]byte) error { return nil }),
		"Scan":   db.Scan(nil, nil, func(k, v []byte) error { return nil }),
		"Apply":  db.Apply(b),
		"Sync":   db.Sync(),
		"Check":  db.Check(),
	}
	_, calls["Get"] = db.Get([]byte("k"))
	for name, err := range calls {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if s := db.Stats(); s != (Stats{}) {
		t.Errorf("Stats after Close = %+v, want zero", s)
	}
}

func TestArgumentLimits(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	maxV := db.Stats().MaxValueSize
	tests := []struct {
		name string
		k, v []byte
		want error
	}{
		{"empty key", nil, []byte("v"), ErrKeyRequired},
		{"key too large", make([]byte, MaxKeySize+1), nil, ErrKeyTooLarge},
		{"value too large", []byte("k"), make([]byte, maxV+1), ErrValueTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := db.Put(tc.k, tc.v); !errors.Is(err, tc.want) {
				t.Fatalf("Put: %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("largest key and a run value", func(t *testing.T) {
		// The largest value itself (1 GiB) is TestLargeValuesDefaultOptions'.
		k := bytes.Repeat([]byte("k"), MaxKeySize)
		v := bytes.Repeat([]byte("v"), 3*64<<10)
		mustPut(t, db, k, v)
		if got := mustGet(t, db, k); !bytes.Equal(got, v) {
			t.Fatal("largest key's value read back wrong")
		}
	})
	t.Run("empty value", func(t *testing.T) {
		mustPut(t, db, []byte("empty"), nil)
		v, err := db.Get([]byte("empty"))
		if err != nil || v == nil || len(v) != 0 {
			t.Fatalf("Get of an empty value = %q (nil=%v), %v", v, v == nil, err)
		}
	})
	if _, err := Open(filepath.Join(t.TempDir(), "p"), &Options{ChunkSize: 1000, Size: -1}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("bad options: %v", err)
	}
}

// TestOneFencePerPut counts Drain calls through the Persister seam: the CPU
// path pays exactly one fence per Put (new key or overwrite), two per Delete.
func TestOneFencePerPut(t *testing.T) {
	var c *flush.Counting
	opts := smallOpts(DAXEmulated)
	opts.hooks = &seam.Hooks{WrapPersister: func(p flush.Persister, _ func() []byte) flush.Persister {
		c = &flush.Counting{P: p}
		return c
	}}
	db := openTest(t, filepath.Join(shmDir(t), "pool"), opts)
	const n = 1000
	start := c.Drains.Load()
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i%100), value(i, 0, 100+i%500))
	}
	if got := c.Drains.Load() - start; got != n {
		t.Fatalf("%d Puts issued %d fences, want %d", n, got, n)
	}
	start = c.Drains.Load()
	for i := 0; i < 100; i++ {
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Drains.Load() - start; got != 200 {
		t.Fatalf("100 Deletes issued %d fences, want 200 (older versions' frees, then its own)", got)
	}
}

func TestViewAllocatesNothing(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXEmulated))
	for i := 0; i < 1000; i++ {
		mustPut(t, db, key(i), value(i, 0, 100))
	}
	k := key(500)
	var n int
	fn := func(v []byte) error { n += len(v); return nil }
	allocs := testing.AllocsPerRun(1000, func() {
		if err := db.View(k, fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("View allocates %.1f times per call, want 0", allocs)
	}
}

// TestPreferredMode: a default Open applies the pool's preferred mode only
// as far as it is as durable as DAXAuto, and opens wherever DAXAuto would,
// saying in Stats why a preference was not applied. Before, a preferred
// DAXEmulated made every default Open unsafe against power loss, silently,
// and a preferred DAXOn made Open fail where MAP_SYNC is refused.
func TestPreferredMode(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool") // tmpfs here: no MAP_SYNC
	cases := []struct {
		pref   DAXMode
		opts   *Options
		mode   DAXMode
		reason string // a word the note must hold; "" for no note
	}{
		{DAXOff, nil, DAXOff, ""},
		{DAXAuto, nil, DAXOff, ""},
		{DAXEmulated, nil, DAXOff, "power loss"},
		{DAXOn, nil, DAXOff, "MAP_SYNC"},
		{DAXEmulated, &Options{DAX: DAXEmulated}, DAXEmulated, ""},
		{DAXOn, &Options{DAX: DAXOff}, DAXOff, ""},
	}
	for _, c := range cases {
		db, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetPreferredMode(c.pref); err != nil {
			t.Fatal(err)
		}
		if s := db.Stats(); s.PreferredMode != c.pref {
			t.Fatalf("after SetPreferredMode(%v): preferred %v", c.pref, s.PreferredMode)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db, err = Open(path, c.opts)
		if err != nil {
			t.Fatalf("preferred %v, opened with %+v: %v; a default open must open wherever auto would", c.pref, c.opts, err)
		}
		s := db.Stats()
		db.Close()
		if s.Mode != c.mode || s.PreferredMode != c.pref {
			t.Fatalf("preferred %v, opened with %+v: effective %v (preferred %v), want %v", c.pref, c.opts, s.Mode, s.PreferredMode, c.mode)
		}
		if (c.reason == "") != (s.PreferenceIgnored == "") || !strings.Contains(s.PreferenceIgnored, c.reason) {
			t.Fatalf("preferred %v, opened with %+v: PreferenceIgnored %q, want it to mention %q", c.pref, c.opts, s.PreferenceIgnored, c.reason)
		}
	}
	checkPool(t, path, nil)
}

func TestSwitchModeOnline(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	db := openTest(t, path, smallOpts(DAXOff))
	for i := 0; i < 100; i++ {
		mustPut(t, db, key(i), value(i, 0, 50))
	}
	ctx := context.Background()
	if err := db.SwitchMode(ctx, DAXEmulated); err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.Mode != DAXEmulated || s.FlushMethod == "msync" {
		t.Fatalf("after switching to emulated: %v, %s", s.Mode, s.FlushMethod)
	}
	mustPut(t, db, key(100), value(100, 0, 50))
	if err := db.SwitchMode(ctx, DAXOn); !errors.Is(err, ErrDAXUnsupported) {
		t.Fatalf("switch to DAXOn without MAP_SYNC: %v", err)
	}
	if s := db.Stats(); s.Mode != DAXEmulated {
		t.Fatalf("a refused switch changed the mode to %v", s.Mode)
	}
	// A reader inside View does not hold the switch up: the mapping is
	// replaced at the same addresses, and the value it holds reads the same
	// before and after.
	inView, switched, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- db.View(key(1), func(v []byte) error {
			before := string(v)
			close(inView)
			<-switched
			if string(v) != before || before != string(value(1, 0, 50)) {
				return fmt.Errorf("value read across the switch: %q then %q", before, v)
			}
			return nil
		})
	}()
	<-inView
	if err := db.SwitchMode(ctx, DAXOff); err != nil {
		t.Fatal(err)
	}
	close(switched)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := db.Stats(); s.Mode != DAXOff || s.FlushMethod != "msync" {
		t.Fatalf("after switching back: %v, %s", s.Mode, s.FlushMethod)
	}
	for i := 0; i <= 100; i++ {
		if v := mustGet(t, db, key(i)); !bytes.Equal(v, value(i, 0, 50)) {
			t.Fatalf("key %d changed across switches", i)
		}
	}
}

// TestBatchReuseAfterReset: a Batch keeps its keys and values in one buffer
// that Reset reuses. Neither the caller's buffers (changed after each Put)
// nor a reused batch may change what an earlier Apply wrote or deleted,
// and the last operation on a key wins whatever the order of the others.
func TestBatchReuseAfterReset(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := smallOpts(DAXEmulated)
	db := openTest(t, path, opts)
	long := func(i int) []byte { return fmt.Appendf(nil, "a-key-longer-than-16-bytes-%04d", i) }
	for i := 0; i < 50; i++ {
		mustPut(t, db, long(i), []byte("old"))
	}
	b := db.NewBatch()
	buf := make([]byte, 0, 64)
	for i := 0; i < 50; i++ {
		buf = append(buf[:0], long(i)...)
		if i%2 == 0 {
			b.Delete(buf)
		} else {
			b.Put(buf, []byte(fmt.Sprintf("first-%d", i)))
		}
		buf[len(buf)-1] = 'X' // the batch must have copied
	}
	b.Put(long(0), []byte("put after its delete"))
	b.Delete(long(1)) // delete after its put
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	for i := 100; i < 150; i++ {
		b.Put(long(i), bytes.Repeat([]byte{byte(i)}, 40))
	}
	if err := db.Apply(b); err != nil {
		t.Fatal(err)
	}
	check := func(db *DB) {
		t.Helper()
		for i := 0; i < 50; i++ {
			v, err := db.Get(long(i))
			switch {
			case i == 0:
				if string(v) != "put after its delete" {
					t.Fatalf("key 0 = %q, %v", v, err)
				}
			case i%2 == 0 || i == 1:
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("key %d deleted by the batch: %q, %v", i, v, err)
				}
			default:
				if want := fmt.Sprintf("first-%d", i); string(v) != want {
					t.Fatalf("key %d = %q, %v; want %q", i, v, err, want)
				}
			}
		}
		for i := 100; i < 150; i++ {
			if v := mustGet(t, db, long(i)); !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 40)) {
				t.Fatalf("key %d = %q", i, v)
			}
		}
		n := 0
		if err := db.Scan(nil, nil, func(k, v []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if want := 1 + 24 + 50; n != want { // key 0, the odd keys but 1, the second batch
			t.Fatalf("scan found %d keys, want %d", n, want)
		}
	}
	check(db)
	db.Close()
	db = openTest(t, path, opts)
	check(db)
}

// TestNewPoolIsNotRecovered: a pool this open created did not crash, so
// Stats.Recovered is false for it, in both modes.
func TestNewPoolIsNotRecovered(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		path := filepath.Join(shmDir(t), "pool-"+mode.String())
		db := openTest(t, path, smallOpts(mode))
		if s := db.Stats(); s.Recovered {
			t.Errorf("%s: Stats.Recovered is true for a pool just created", mode)
		}
		db.Close()
	}
}

// TestReadOnlyStatsAgree: a read-only handle, which has no allocator,
// reports the same Used bytes and the same Used+Free as the writable open
// before it, and both report the file's size and allocated bytes.
func TestReadOnlyStatsAgree(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 1 << 20, ChunkSize: 64 << 10, DAX: DAXEmulated}
	db := openTest(t, path, opts)
	for i := 0; i < 500; i++ {
		mustPut(t, db, key(i), bytes.Repeat([]byte{byte(i)}, 50+i*13))
	}
	for i := 0; i < 500; i += 3 {
		if err := db.Delete(key(i)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db = openTest(t, path, opts) // a fresh open: nothing in limbo
	w := db.Stats()
	db.Close()
	ro := openTest(t, path, &Options{ReadOnly: true})
	r := ro.Stats()
	if r.Used != w.Used || r.Used+r.Free != w.Used+w.Free || r.Limbo != 0 || w.Used == 0 {
		t.Fatalf("read-only used %d free %d limbo %d; writable used %d free %d", r.Used, r.Free, r.Limbo, w.Used, w.Free)
	}
	if w.FileSize != w.PoolSize || w.AllocatedBytes <= 0 || w.AllocatedBytes > w.FileSize+1<<20 || r.FileSize != w.FileSize {
		t.Fatalf("file size %d (pool %d), allocated %d; read-only file size %d", w.FileSize, w.PoolSize, w.AllocatedBytes, r.FileSize)
	}
}
