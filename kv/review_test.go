package kv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/seam"
	"github.com/daxkv/daxkv/recovery"
)

// Regression tests for the defects found by reading the store to break it
// (concurrency, I/O errors, bad bytes). Each failed on the code before its
// fix.

// TestGetWhileGrowing: readers must read through a view of the mapping that
// covers every offset the index can hold. A Get that took the mapping's
// length before its index lookup could find the key's newest record in a
// chunk that a concurrent Put had just grown into, and slice past the stale
// length: a runtime panic that is not a memory fault, which killed the
// process. The reader is stalled at its lookup while the writer grows the
// pool and publishes the key in the new chunk.
func TestGetWhileGrowing(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		t.Run(mode.String(), func(t *testing.T) {
			stalled, resume := make(chan struct{}), make(chan struct{})
			var once sync.Once
			opts := &Options{Size: 64 << 10, ChunkSize: 64 << 10, DAX: mode}
			opts.hooks = &seam.Hooks{At: func(p seam.Point) {
				if p == seam.ReadLookup {
					once.Do(func() { close(stalled); <-resume })
				}
			}}
			db := openTest(t, filepath.Join(shmDir(t), "pool"), opts)
			k := key(1)
			mustPut(t, db, k, value(1, 0, 20<<10))
			got := make(chan error, 1)
			go func() {
				v, err := db.Get(k)
				if err == nil {
					err = checkValue(1, v)
				}
				got <- err
			}()
			<-stalled
			size := db.Stats().PoolSize
			for n := 1; db.Stats().PoolSize == size; n++ {
				mustPut(t, db, k, value(1, n, 20<<10))
			}
			close(resume)
			if err := <-got; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// errInjected is the I/O error the tests' Persister wrappers return.
var errInjected = errors.New("injected EIO")

// failNext is a Persister whose next Drain fails once armed.
type failNext struct {
	flush.Persister
	armed *atomic.Bool
}

func (f failNext) Drain() error {
	if f.armed.CompareAndSwap(true, false) {
		return errInjected
	}
	return f.Persister.Drain()
}

// failAt returns hooks whose Persister fails the first Drain after the
// write path passes point.
func failAt(point seam.Point) *seam.Hooks {
	armed := new(atomic.Bool)
	return &seam.Hooks{
		WrapPersister: func(p flush.Persister, _ func() []byte) flush.Persister { return failNext{p, armed} },
		At: func(p seam.Point) {
			if p == point {
				armed.Store(true)
			}
		},
	}
}

// TestFenceErrorFailsTheDB: after a failed Drain, memory and media may
// disagree, so the DB refuses every write. Before, a batch whose commit or
// settle fence failed stayed in the pool's log while the index kept the old
// version; a later Delete of the key, acknowledged, freed only the old
// version, and the next Open replayed the batch: the deleted key came back.
func TestFenceErrorFailsTheDB(t *testing.T) {
	for _, mode := range []DAXMode{DAXEmulated, DAXOff} {
		for _, point := range []seam.Point{seam.BatchCommit, seam.BatchSettling} {
			t.Run(mode.String()+"/"+string(point), func(t *testing.T) {
				path := filepath.Join(shmDir(t), "pool")
				opts := smallOpts(mode)
				opts.hooks = failAt(point)
				db, err := Open(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				k := []byte("k")
				mustPut(t, db, k, []byte("v1"))
				b := db.NewBatch()
				b.Put(k, []byte("v2"))
				if err := db.Apply(b); !errors.Is(err, errInjected) {
					t.Fatalf("Apply with a failing fence: %v, want the injected error", err)
				}
				delErr := db.Delete(k)
				if !errors.Is(delErr, ErrFailed) || !errors.Is(delErr, errInjected) {
					t.Errorf("Delete after the failure: %v, want ErrFailed naming the first failure", delErr)
				}
				if err := db.Put([]byte("other"), []byte("x")); !errors.Is(err, ErrFailed) {
					t.Errorf("Put after the failure: %v, want ErrFailed", err)
				}
				if err := db.Apply(db.NewBatch()); err != nil {
					t.Errorf("an empty Apply writes nothing: %v", err)
				}
				if err := db.Sync(); !errors.Is(err, ErrFailed) {
					t.Errorf("Sync after the failure: %v, want ErrFailed", err)
				}
				if err := db.SetPreferredMode(DAXOff); !errors.Is(err, ErrFailed) {
					t.Errorf("SetPreferredMode after the failure: %v, want ErrFailed", err)
				}
				if v, err := db.Get(k); err != nil || string(v) != "v1" {
					t.Errorf("Get after the failure: %q, %v; reads keep working on memory", v, err)
				}
				if err := db.Close(); !errors.Is(err, ErrFailed) {
					t.Errorf("Close after the failure: %v, want ErrFailed", err)
				}
				db = openTest(t, path, smallOpts(mode))
				v, err := db.Get(k)
				switch {
				case delErr == nil && !errors.Is(err, ErrNotFound):
					t.Fatalf("the acknowledged Delete was undone by the reopen: %q, %v", v, err)
				case err == nil && string(v) != "v1" && string(v) != "v2":
					t.Fatalf("after reopen: %q", v)
				case err != nil && !errors.Is(err, ErrNotFound):
					t.Fatal(err)
				}
				if s := db.Stats(); !s.Recovered {
					t.Error("the failed DB was marked cleanly closed")
				}
			})
		}
	}
}

// TestCheckFaultIsAnError: Check's scan workers read the mapping on their
// own goroutines; with the pool truncated underneath, each memory fault
// must become an error wrapping ErrCorrupt with the offset. Before, the
// workers had no guard and the fault killed the process.
func TestCheckFaultIsAnError(t *testing.T) {
	db := truncatedUnderneath(t, filepath.Join(shmDir(t), "pool"), 512<<10, 800)
	err := db.Check()
	var ce *recovery.CorruptError
	if !errors.As(err, &ce) || ce.Off < 64<<10 {
		t.Fatalf("Check of a pool truncated underneath: %v, want ErrCorrupt past offset 64 KiB", err)
	}
}

// TestIndexBuildFaultIsAnError builds the index of Open from records whose
// keys lie in a range truncated underneath the mapping: the builder's
// goroutines read the long keys' tails, and each must report the fault
// instead of killing the process.
func TestIndexBuildFaultIsAnError(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	m, err := daxmap.Open(path, daxmap.Options{Size: 256 << 10, ChunkSize: 64 << 10, Sync: daxmap.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := os.Truncate(path, 64<<10); err != nil {
		t.Fatal(err)
	}
	var list []recovery.Listed
	for n := range 10000 { // enough for several workers
		list = append(list, recovery.Listed{Ref: makeRef(128<<10+int64(n%1000)*64, 40), P0: uint64(n)})
	}
	x, err := buildIndex(m.Bytes(), m.Bytes, list, 4)
	var ce *recovery.CorruptError
	if !errors.As(err, &ce) || ce.Off < 128<<10 || x != nil {
		t.Fatalf("index build over a truncated mapping: %v, %v; want ErrCorrupt at the entry's offset", x, err)
	}
}

// nopPersister makes nothing durable: for editing pool images in memory.
type nopPersister struct{}

func (nopPersister) Flush([]byte)         {}
func (nopPersister) Copy(dst, src []byte) { copy(dst, src) }
func (nopPersister) Drain() error         { return nil }

// TestNewerFormatCopyIsRefused: when the newest superblock copy was
// written by a newer format and the other copy is valid, Open must refuse
// the pool with ErrVersion and write nothing. Before, it opened through
// the older copy and wrote its next generation over the newer-version copy.
func TestNewerFormatCopyIsRefused(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	db, err := Open(path, smallOpts(DAXEmulated))
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, key(1), value(1, 0, 100))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	img, sb := poolImage(t, path)
	sb.Version = recovery.Version + 1
	if err := sb.Write(img, nopPersister{}); err != nil { // the next generation, into the older copy
		t.Fatal(err)
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		o := smallOpts(DAXEmulated)
		o.ReadOnly = ro
		if db, err := Open(path, o); !errors.Is(err, ErrVersion) {
			if err == nil {
				db.Close()
			}
			t.Fatalf("Open (read-only %v) of a pool whose newest copy is a newer format: %v, want ErrVersion", ro, err)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, img) {
		t.Fatal("the refused Open wrote to the pool")
	}
}

// TestOverlappingExtentsAfterOpen writes a valid record of another key into
// the slack of a large record's extent (whole pages; the record ends inside
// its last page), as a damaged pool could hold. A read-only Check must
// report the overlap with both offsets; a writable Open keeps the record
// with the higher sequence number (FORMAT.md) and frees the other, so that
// no two live extents overlap. Before, the scan accepted both, Check said
// nothing, and reusing the large extent later silently destroyed the
// other key.
func TestOverlappingExtentsAfterOpen(t *testing.T) {
	for _, slackNewer := range []bool{true, false} {
		t.Run(map[bool]string{true: "slack-newer", false: "slack-older"}[slackNewer], func(t *testing.T) {
			path := filepath.Join(shmDir(t), "pool")
			db, err := Open(path, smallOpts(DAXEmulated))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 8; i++ {
				mustPut(t, db, key(100+i), value(100+i, 0, 40))
			}
			big, small := []byte("big"), []byte("small")
			mustPut(t, db, big, value(1, 0, 5000))
			it, _ := db.idx.lookup(big, hashKey(big))
			hdr, _ := recovery.ReadHeader(db.m.Bytes(), it.off())
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			img, sb := poolImage(t, path)
			seq := hdr.Seq - 3
			if slackNewer {
				seq = hdr.Seq + 3
			}
			at := it.off() + hdr.Size()
			rec := img[at : at+recovery.RecordSize(len(small), 40)]
			recovery.NewCodec(&sb).Write(nopPersister{}, rec, at, recovery.TagLive, seq, 0, small, value(2, 0, 40))
			if err := os.WriteFile(path, img, 0o600); err != nil {
				t.Fatal(err)
			}

			ro := smallOpts(DAXEmulated)
			ro.ReadOnly = true
			rdb, err := Open(path, ro)
			if err != nil {
				t.Fatal(err)
			}
			kept, dropped := it.off(), at
			if slackNewer {
				kept, dropped = at, it.off()
			}
			cerr := rdb.Check()
			rdb.Close()
			if want := fmt.Sprintf("offset %d: record overlaps the extent of the record at offset %d", dropped, kept); cerr == nil || !strings.Contains(cerr.Error(), want) {
				t.Fatalf("read-only Check: %v, want it to report %q", cerr, want)
			}

			db = openTest(t, path, smallOpts(DAXEmulated))
			if err := db.Check(); err != nil {
				t.Fatalf("Check after a writable Open: %v", err)
			}
			survivor, sv, gone := small, value(2, 0, 40), big
			if !slackNewer {
				survivor, sv, gone = big, value(1, 0, 5000), small
			}
			if _, err := db.Get(gone); !errors.Is(err, ErrNotFound) {
				t.Fatalf("the overlapped record with the lower sequence number: %v, want it dropped", err)
			}
			// Reuse the pool's space many times: the survivor's extent must
			// never be handed out while it lives.
			for n := 0; n < 300; n++ {
				mustPut(t, db, gone, value(3, n, 40+n%5000))
				mustPut(t, db, key(n%20), value(n%20, n, 40+(n*37)%3000))
				if n%3 == 0 {
					if err := db.Delete(gone); err != nil {
						t.Fatal(err)
					}
				}
			}
			if v, err := db.Get(survivor); err != nil || !bytes.Equal(v, sv) {
				t.Fatalf("the surviving record after reuse of the space: %.30q, %v", v, err)
			}
		})
	}
}

// within fails the test unless f returns within d.
func within(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(d):
		t.Fatalf("%s did not complete within %v: a deadlock", what, d)
	}
}

// TestSwitchModeWithNestedCalls: a read nested in a View or Scan callback
// while SwitchMode runs always completes, and so does a nested write.
// Before, SwitchMode blocked new readers and waited for the ones in
// progress, so a nested Get waited for the switch, which waited for the
// outer reader: with context.Background() both waited forever.
func TestSwitchModeWithNestedCalls(t *testing.T) {
	db := openTest(t, filepath.Join(shmDir(t), "pool"), smallOpts(DAXOff))
	for i := 0; i < 50; i++ {
		mustPut(t, db, key(i), value(i, 0, 60))
	}
	modes := []DAXMode{DAXEmulated, DAXOff}
	for round := 0; round < 4; round++ {
		to := modes[round%2]
		switched := make(chan error, 1)
		within(t, 10*time.Second, "a Get nested in View during SwitchMode", func() error {
			return db.View(key(1), func([]byte) error {
				go func() { switched <- db.SwitchMode(context.Background(), to) }()
				time.Sleep(20 * time.Millisecond) // the switch is under way
				v, err := db.Get(key(2))
				if err == nil {
					err = checkValue(2, v)
				}
				return err
			})
		})
		within(t, 10*time.Second, "SwitchMode with a reader nested", func() error { return <-switched })
		within(t, 10*time.Second, "a Put nested in Scan during SwitchMode", func() error {
			n := 0
			return db.Scan(key(10), key(13), func(k, v []byte) error {
				if n++; n == 1 {
					go func() { switched <- db.SwitchMode(context.Background(), modes[(round+1)%2]) }()
					time.Sleep(20 * time.Millisecond)
				}
				return db.Put(key(40+n), value(40+n, round+1, 60))
			})
		})
		within(t, 10*time.Second, "SwitchMode with a writer nested", func() error { return <-switched })
	}
	for i := 41; i <= 43; i++ {
		if err := checkValue(i, mustGet(t, db, key(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSwitchModeBusyWriter: SwitchMode waits for the writers in progress,
// and gives up with ErrBusy, changing nothing, when its context ends first.
func TestSwitchModeBusyWriter(t *testing.T) {
	inPut, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	opts := smallOpts(DAXOff)
	opts.hooks = &seam.Hooks{At: func(p seam.Point) {
		if p == seam.PutPublished {
			once.Do(func() { close(inPut); <-release })
		}
	}}
	db := openTest(t, filepath.Join(shmDir(t), "pool"), opts)
	put := make(chan error)
	go func() { put <- db.Put(key(1), value(1, 0, 60)) }()
	<-inPut
	short, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := db.SwitchMode(short, DAXEmulated); !errors.Is(err, ErrBusy) {
		t.Fatalf("SwitchMode while a Put holds its stripe: %v, want ErrBusy", err)
	}
	if s := db.Stats(); s.Mode != DAXOff {
		t.Fatalf("a busy switch changed the mode to %v", s.Mode)
	}
	close(release)
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	if err := db.SwitchMode(context.Background(), DAXEmulated); err != nil {
		t.Fatal(err)
	}
	if err := checkValue(1, mustGet(t, db, key(1))); err != nil {
		t.Fatal(err)
	}
}

// TestSwitchToPageCacheWritesBack: records written on a CPU-flush path over
// a page-cache mapping (the emulated mode) sit in the page cache; switching
// to DAXOff must write them back before it returns, since the msync path's
// dirty set starts empty and would never cover them. The pool lives on a
// disk filesystem here, where the kernel reports dirty page-cache pages.
func TestSwitchToPageCacheWritesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool")
	db := openTest(t, path, smallOpts(DAXEmulated))
	if _, err := db.m.DirtyBytes(); err != nil {
		t.Skipf("the kernel does not report dirty page-cache pages: %v", err)
	}
	for i := 0; i < 300; i++ {
		mustPut(t, db, key(i), value(i, 0, 200))
	}
	if n, _ := db.m.DirtyBytes(); n == 0 {
		t.Skip("the page cache was written back before the switch; nothing to show")
	}
	if err := db.SwitchMode(context.Background(), DAXOff); err != nil {
		t.Fatal(err)
	}
	if n, err := db.m.DirtyBytes(); err != nil || n != 0 {
		t.Fatalf("after switching to DAXOff, %d bytes of the pool are still only in the page cache (%v)", n, err)
	}
	// Every switch writes back what a mapping without MAP_SYNC left (on a
	// DAX filesystem, the metadata of blocks first written through it), to
	// whichever path it goes.
	if err := db.SwitchMode(context.Background(), DAXEmulated); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		mustPut(t, db, key(i), value(i, 1, 200))
	}
	if err := db.SwitchMode(context.Background(), DAXEmulated); err != nil {
		t.Fatal(err)
	}
	if n, err := db.m.DirtyBytes(); err != nil || n != 0 {
		t.Fatalf("after a switch from emulated, %d bytes of the pool are still only in the page cache (%v)", n, err)
	}
}

// TestSequenceNumbersNeverReused takes process-crash images of a pool at
// random moments (its file, copied while it is open) and checks that the
// first write after recovering each one gets a sequence number above every
// number handed out before the image was taken, including the numbers of
// records that were deleted since. Before, the floor was one above the
// highest number found in a valid record, so the numbers of deleted or torn
// records were handed out again.
func TestSequenceNumbersNeverReused(t *testing.T) {
	for _, lease := range []uint64{0, 3} {
		t.Run(fmt.Sprintf("lease=%d", lease), func(t *testing.T) {
			dir := shmDir(t)
			path := filepath.Join(dir, "pool")
			opts := smallOpts(DAXEmulated)
			opts.hooks = &seam.Hooks{SeqLease: lease}
			db := openTest(t, path, opts)
			type image struct {
				path   string
				handed uint64
			}
			var images []image
			r := rand.New(rand.NewPCG(lease, 1))
			for n := 0; n < 300; n++ {
				k := key(r.IntN(4))
				del := r.IntN(3) == 0
				if del {
					if err := db.Delete(k); err != nil {
						t.Fatal(err)
					}
				} else {
					mustPut(t, db, k, value(0, n, 30))
				}
				// After a delete the newest number handed out may belong
				// to no valid record any more.
				if del || r.IntN(10) == 0 {
					img, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					p := filepath.Join(dir, fmt.Sprintf("image-%d", len(images)))
					if err := os.WriteFile(p, img, 0o600); err != nil {
						t.Fatal(err)
					}
					images = append(images, image{p, db.seq.Load()})
				}
			}
			for _, im := range images {
				db2, err := Open(im.path, smallOpts(DAXEmulated))
				if err != nil {
					t.Fatal(err)
				}
				k := []byte("after-the-crash")
				mustPut(t, db2, k, []byte("x"))
				it, _ := db2.idx.lookup(k, hashKey(k))
				h, _ := recovery.ReadHeader(db2.m.Bytes(), it.off())
				db2.Close()
				if h.Seq <= im.handed {
					t.Fatalf("after recovering an image taken when %d sequence numbers were handed out, the next write got %d", im.handed, h.Seq)
				}
			}
		})
	}
}

// Found by the adversarial review of the fixes above.

// slowDrain adds a disk's latency to every Drain.
type slowDrain struct{ flush.Persister }

func (s slowDrain) Drain() error {
	time.Sleep(time.Millisecond)
	return s.Persister.Drain()
}

// TestSwitchModeNotStarvedByAHotKey: SwitchMode took the stripes with
// TryLock in a loop; a sync.Mutex that writers of one hot key keep busy
// goes into starvation mode, where TryLock always fails, so the switch
// never got in (and held every lower stripe meanwhile). It now queues like
// any writer.
func TestSwitchModeNotStarvedByAHotKey(t *testing.T) {
	opts := smallOpts(DAXOff)
	opts.hooks = &seam.Hooks{WrapPersister: func(p flush.Persister, _ func() []byte) flush.Persister { return slowDrain{p} }}
	db := openTest(t, filepath.Join(shmDir(t), "pool"), opts)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 0; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := db.Put([]byte("hot"), value(7, v, 100)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(100 * time.Millisecond) // the hot stripe's mutex starves
	within(t, 5*time.Second, "SwitchMode under writers of one hot key", func() error {
		return db.SwitchMode(context.Background(), DAXEmulated)
	})
	within(t, 5*time.Second, "SwitchMode back", func() error {
		return db.SwitchMode(context.Background(), DAXOff)
	})
}

// TestNewerFormatSmallPoolIsRefused: Open peeks at the superblock for the
// chunk size before it maps the pool; a newer-format copy made the peek
// report no superblock, the pool was mapped with the caller's (larger)
// chunk size as 0 bytes, and Open called a healthy newer pool corrupt, or
// empty. It must say ErrVersion, and write nothing.
func TestNewerFormatSmallPoolIsRefused(t *testing.T) {
	path := filepath.Join(shmDir(t), "pool")
	db, err := Open(path, smallOpts(DAXEmulated)) // 64 KiB chunks, 128 KiB pool
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, db, key(1), value(1, 0, 100))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	img, sb := poolImage(t, path)
	sb.Version = recovery.Version + 1
	if err := sb.Write(img, nopPersister{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*Options{nil, {DAX: DAXEmulated}, {ReadOnly: true}} {
		db, err := Open(path, o)
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, ErrVersion) {
			t.Errorf("Open(%+v) of a small newer-format pool: %v, want ErrVersion", o, err)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, img) {
		t.Fatal("the refused Open wrote to the pool")
	}
}

// TestWriteInFlightSeesAFailure: a writer already past its checks when
// another goroutine's write fails the DB must not acknowledge: memory and
// media may disagree from the failure on. Before, it checked once, when it
// took its stripe.
func TestWriteInFlightSeesAFailure(t *testing.T) {
	armed := new(atomic.Bool)
	var once sync.Once
	var db *DB
	other := make(chan error, 1)
	opts := smallOpts(DAXEmulated)
	opts.hooks = &seam.Hooks{
		WrapPersister: func(p flush.Persister, _ func() []byte) flush.Persister { return failNext{p, armed} },
		At: func(p seam.Point) {
			switch p {
			case seam.Superblock:
				armed.Store(true) // SetPreferredMode's drain fails
			case seam.PutWritten:
				once.Do(func() {
					go func() { other <- db.SetPreferredMode(DAXOff) }()
					if err := <-other; !errors.Is(err, errInjected) {
						t.Errorf("SetPreferredMode with a failing drain: %v", err)
					}
				})
			}
		},
	}
	db = openTest(t, filepath.Join(shmDir(t), "pool"), opts)
	if err := db.Put(key(1), value(1, 0, 50)); !errors.Is(err, ErrFailed) {
		t.Fatalf("a Put in flight when another write failed the DB: %v, want ErrFailed", err)
	}
}

// TestLeaseFailureReachesWaiters: when the write of a sequence-number
// lease fails, a writer that waited for it must not take a number past the
// durable lease. Before, the in-memory floor was raised already and the
// waiter took the "another writer extended it" path and acknowledged.
func TestLeaseFailureReachesWaiters(t *testing.T) {
	armed := new(atomic.Bool)
	var once sync.Once
	var db *DB
	second := make(chan error, 1)
	opts := smallOpts(DAXEmulated)
	opts.hooks = &seam.Hooks{
		SeqLease:      4,
		WrapPersister: func(p flush.Persister, _ func() []byte) flush.Persister { return failNext{p, armed} },
		At: func(p seam.Point) {
			if p == seam.SeqLease {
				once.Do(func() {
					armed.Store(true) // this lease's write fails
					go func() { second <- db.Put(key(2), value(2, 0, 50)) }()
					time.Sleep(50 * time.Millisecond) // the second writer waits for the lease
				})
			}
		},
	}
	db = openTest(t, filepath.Join(shmDir(t), "pool"), opts)
	var first error
	for i := 0; first == nil && i < 10; i++ {
		first = db.Put(key(1), value(1, i, 50))
	}
	if !errors.Is(first, errInjected) {
		t.Fatalf("the Put whose lease write failed: %v", first)
	}
	if err := <-second; !errors.Is(err, ErrFailed) {
		t.Fatalf("a Put that waited for the failed lease: %v, want ErrFailed", err)
	}
}

// TestFaultInAWriteFailsTheDB: a memory fault in the middle of a write (a
// bad block, a file truncated underneath) may leave media and memory apart
// like a failed drain; the DB must refuse writes after it.
func TestFaultInAWriteFailsTheDB(t *testing.T) {
	db := truncatedUnderneath(t, filepath.Join(shmDir(t), "pool"), 256<<10, 400)
	var err error
	for i := 0; i < 400 && !errors.Is(err, ErrCorrupt); i++ {
		err = db.Put(key(i), value(i, 1, 300)) // frees old versions past the end
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("no write hit the truncated range")
	}
	if !errors.Is(err, ErrFailed) {
		t.Errorf("the write that faulted: %v, want ErrFailed too", err)
	}
	if err := db.Delete(key(0)); !errors.Is(err, ErrFailed) {
		t.Fatalf("a write after the fault: %v, want ErrFailed", err)
	}
}
