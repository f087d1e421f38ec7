package kv

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// mediaPool writes a closed pool of n keys (300-byte values, 64 KiB
// chunks) and returns, for two pages (pool offsets, 4 KiB aligned) taken as
// bad, which keys are intact, which have their newest record crossing into
// one with header and key readable (damaged), and which have it unreadable
// (lost).
func mediaPool(t *testing.T, path string, n int) (pages []int64, intact, damaged, lost []int) {
	t.Helper()
	db, err := Open(path, &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ off, size int64 }
	recs := make([]rec, n)
	for i := 0; i < n; i++ {
		mustPut(t, db, key(i), value(i, 0, 300))
	}
	for i := 0; i < n; i++ {
		it, ok := db.idx.lookup(key(i), hashKey(key(i)))
		if !ok {
			t.Fatal("key lost")
		}
		h, _ := recovery.ReadHeader(db.m.Bytes(), it.off())
		recs[i] = rec{it.off(), h.Size()}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Two pages past the first chunk that a record runs into.
	for _, r := range recs {
		p := (r.off + r.size - 1) / 4096 * 4096
		if r.off >= 64<<10 && r.off < p && r.off+recovery.HeaderSize+16 <= p && len(pages) < 2 && (len(pages) == 0 || p > pages[0]+4096) {
			pages = append(pages, p)
		}
	}
	if len(pages) < 2 {
		t.Fatal("no two records cross page boundaries")
	}
	slices.Sort(pages)
	for i, r := range recs {
		state := 0 // intact
		for _, page := range pages {
			switch {
			case r.off+r.size <= page || r.off >= page+4096:
			case r.off+recovery.HeaderSize+16 <= page:
				state = 1
			default:
				state = 2
			}
		}
		switch state {
		case 0:
			intact = append(intact, i)
		case 1:
			damaged = append(damaged, i)
		default:
			lost = append(lost, i)
		}
	}
	if len(damaged) < 2 || len(lost) == 0 {
		t.Fatalf("pages %d: %d damaged, %d lost; the test needs both", pages, len(damaged), len(lost))
	}
	return pages, intact, damaged, lost
}

// TestPoisonedLine: an unknown bad block (a page whose reads fault) in the
// middle of a pool. Open and Check report ErrCorrupt with its offset; Repair
// salvages every record off that page into a new pool.
func TestPoisonedLine(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	pages, intact, damaged, lost := mediaPool(t, path, 600)
	page := pages[0]
	inPage := func(err error) bool {
		var ce *recovery.CorruptError
		return errors.As(err, &ce) && ce.Off >= page && ce.Off < page+4096
	}
	opts := &Options{ChunkSize: 64 << 10, DAX: DAXEmulated}
	opts.hooks = &seam.Hooks{Poison: pages}
	if db, err := Open(path, opts); !inPage(err) {
		if err == nil {
			db.Close()
		}
		t.Fatalf("Open of a pool with a poisoned page at %d: %v, want ErrCorrupt at its offset", page, err)
	}
	db, err := Open(path, &Options{ChunkSize: 64 << 10, DAX: DAXEmulated})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.m.Poison(page); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(); !inPage(err) {
		t.Fatalf("Check of an open pool with a poisoned page: %v, want ErrCorrupt at %d", err, page)
	}
	db.Close()

	rep, err := Repair(path, filepath.Join(dir, "repaired"), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []daxmap.Range{{Off: pages[0], Len: 4096}, {Off: pages[1], Len: 4096}}
	if rep.Keys != len(intact) || !slices.Equal(rep.Bad, want) {
		t.Fatalf("repair: %d keys, bad %v; want %d keys and %v", rep.Keys, rep.Bad, len(intact), want)
	}
	out := openTest(t, filepath.Join(dir, "repaired"), nil)
	for _, i := range intact {
		if v := mustGet(t, out, key(i)); !bytes.Equal(v, value(i, 0, 300)) {
			t.Fatalf("repaired key %d: wrong value", i)
		}
	}
	for _, i := range append(damaged, lost...) {
		if _, err := out.Get(key(i)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("repaired pool has key %d, whose record was on the poisoned page: %v", i, err)
		}
	}
	if _, err := Repair(path, filepath.Join(dir, "repaired"), opts); err == nil {
		t.Fatal("Repair overwrote an existing pool")
	}
}

// TestKnownBadBlocks: with the kernel listing a page of the pool as bad
// (and reads of it faulting), Open works around it: keys off the page read
// as before, a key whose newest record runs into it reads as ErrCorrupt at
// that record's offset, Stats and Check say so, and writing or deleting
// such a key makes it whole again, across a reopen.
func TestKnownBadBlocks(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	pages, intact, damaged, lost := mediaPool(t, path, 600)
	opts := badMediaOpts(badPages(pages), pages)
	db, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open with a known bad block: %v", err)
	}
	s := db.Stats()
	if s.BadBytes != 8192 || s.DamagedKeys != len(damaged) || s.Keys != int64(len(intact)) {
		t.Fatalf("stats: bad %d bytes, %d damaged keys, %d keys; want 8192, %d, %d", s.BadBytes, s.DamagedKeys, s.Keys, len(damaged), len(intact))
	}
	for _, i := range intact {
		if v := mustGet(t, db, key(i)); !bytes.Equal(v, value(i, 0, 300)) {
			t.Fatalf("key %d off the bad page: wrong value", i)
		}
	}
	for _, i := range damaged {
		var ce *recovery.CorruptError
		if _, err := db.Get(key(i)); !errors.As(err, &ce) || ce.Off >= pages[1] {
			t.Fatalf("damaged key %d: %v, want ErrCorrupt at its record's offset", i, err)
		}
	}
	for _, i := range lost {
		if _, err := db.Get(key(i)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("key %d, unreadable on the bad page: %v", i, err)
		}
	}
	if err := db.Check(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check of a pool with a bad block: %v", err)
	}
	checkDamagedKeys(t, db, damaged)
	mustPut(t, db, key(damaged[0]), value(damaged[0], 1, 50))
	if err := db.Delete(key(damaged[1])); err != nil {
		t.Fatal(err)
	}
	db = reopen(t, db, path, opts)
	defer db.Close()
	if v := mustGet(t, db, key(damaged[0])); !bytes.Equal(v, value(damaged[0], 1, 50)) {
		t.Fatal("a damaged key written anew lost its new value across a reopen")
	}
	if _, err := db.Get(key(damaged[1])); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a damaged key deleted came back: %v", err)
	}
	if s := db.Stats(); s.DamagedKeys != len(damaged)-2 {
		t.Fatalf("after writing and deleting damaged keys: %d damaged", s.DamagedKeys)
	}
	checkDamagedKeys(t, db, damaged[2:])
	db.Close()
	if _, err := db.DamagedKeys(nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("DamagedKeys after Close: %v", err)
	}
}

// checkDamagedKeys checks DB.DamagedKeys against the damaged key numbers,
// unbounded and within bounds.
func checkDamagedKeys(t *testing.T, db *DB, damaged []int) {
	t.Helper()
	want := make([][]byte, 0, len(damaged))
	for _, i := range damaged {
		want = append(want, key(i))
	}
	slices.SortFunc(want, bytes.Compare)
	type bounded struct {
		lower, upper []byte
		want         [][]byte
	}
	cases := []bounded{{nil, nil, want}}
	if len(want) >= 2 {
		cases = append(cases,
			bounded{want[1], nil, want[1:]},
			bounded{nil, want[len(want)-1], want[:len(want)-1]},
			bounded{want[0], want[1], want[:1]},
			bounded{append(bytes.Clone(want[0]), 0), want[1], nil})
	}
	for _, c := range cases {
		got, err := db.DamagedKeys(c.lower, c.upper)
		if err != nil || !slices.EqualFunc(got, c.want, bytes.Equal) {
			t.Fatalf("DamagedKeys(%q, %q) = %q, %v; want %q", c.lower, c.upper, got, err, c.want)
		}
	}
}

// TestUnsafeShutdown: a pool left open (a crash) while the memory's
// unsafe-shutdown count moved is checked in full before writes, and Stats
// says so; the same count does not trigger it.
func TestUnsafeShutdown(t *testing.T) {
	dir := shmDir(t)
	path := filepath.Join(dir, "pool")
	withCount := func(n int64) *Options {
		o := &Options{Size: 256 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated}
		o.hooks = &seam.Hooks{Media: func(m *daxmap.Media) { m.UnsafeShutdowns = n }}
		return o
	}
	db, err := Open(path, withCount(5))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		mustPut(t, db, key(i), value(i, 0, 100))
	}
	img, err := os.ReadFile(path) // the pool as a crash leaves it: open
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, c := range []struct {
		count  int64
		unsafe bool
	}{{5, false}, {6, true}, {-1, false}} {
		crashed := filepath.Join(dir, "crashed")
		if err := os.WriteFile(crashed, img, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(crashed, withCount(c.count))
		if err != nil {
			t.Fatalf("count %d: %v", c.count, err)
		}
		s := db.Stats()
		db.Close()
		if s.UnsafeShutdown != c.unsafe || s.Keys != 100 {
			t.Fatalf("count 5, then %d at the reopen: UnsafeShutdown %v (%d keys), want %v", c.count, s.UnsafeShutdown, s.Keys, c.unsafe)
		}
	}
}

// TestReopenSkipsHoles: a large sparse pool holding a few keys reopens
// without reading its never-written chunks. On tmpfs a read of a hole
// allocates the page, so before the scan passed over holes a reopen
// allocated the whole pool; now it allocates at most the preparer's
// reserve beyond what the first open had.
func TestReopenSkipsHoles(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	opts := &Options{Size: 256 * (64 << 10), ChunkSize: 64 << 10, DAX: DAXEmulated}
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		mustPut(t, db, key(i), value(i, 0, 100))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ { // a clean reopen, then one after a crash
		db = openTest(t, path, opts)
		s := db.Stats()
		if s.AllocatedBytes > 8*s.ChunkSize {
			t.Fatalf("round %d: after the reopen %d bytes of a %d-byte pool are allocated (chunks of %d): the scan read its holes",
				round, s.AllocatedBytes, s.FileSize, s.ChunkSize)
		}
		for i := 0; i < 50; i++ {
			if v := mustGet(t, db, key(i)); !bytes.Equal(v, value(i, 0, 100)) {
				t.Fatalf("round %d: key %d reads %q", round, i, v)
			}
		}
		if round == 0 {
			// Leave it as a crash does: copy the file while it is open.
			img, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			// Write only the non-zero pages: the copy stays sparse.
			for off := 0; off < len(img); off += 4096 {
				if p := img[off : off+4096]; !bytes.Equal(p, make([]byte, 4096)) {
					if _, err := f.WriteAt(p, int64(off)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := f.Truncate(int64(len(img))); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
}
