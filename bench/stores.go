package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/daxkv/daxkv/kv"
	badger "github.com/dgraph-io/badger/v4"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// store is what the plan drives. Every write method returns only once the
// write is durable in the store's own persistence model (unless the
// configuration says it is not, as pebble-nosync does).
type store interface {
	put(k, v []byte) error
	// del deletes k blindly: no store is asked to read before it deletes
	// (pebble and badger cannot tell a missing key without one).
	del(k []byte) error
	// get looks k up and returns the value's length; a miss is an error.
	get(k []byte) (int, error)
	// putBatch writes every pair in one durable commit.
	putBatch(ks, vs [][]byte) error
	// scan visits every key in ascending order.
	scan(fn func(k, v []byte)) error
	close() error
}

// config is one row of the comparison: a store, how it is configured, and
// the filesystem its files live on.
type config struct {
	name  string // e.g. "daxkv-emulated-shm"
	store string // "daxkv", "bbolt", "pebble", "badger", "pmdk"
	// desc is printed with the results: how the store is configured.
	desc string
	disk bool // on the disk directory (ext4) rather than the shm one
	// limited: only the durable write workloads, on --ops-limit keys.
	limited bool
	// open opens (creating when absent) the store at path.
	open func(path string) (store, error)
	// raft: a raft LogStore, run on the raft set (raft.go) through openLog,
	// which opens (creating when absent) the log in a directory.
	raft    bool
	openLog func(dir string) (logStore, error)
}

var errMiss = errors.New("key not found")

func configs() []config {
	daxkvOpen := func(mode kv.DAXMode) func(string) (store, error) {
		// The pool lives in a directory of its own, with the index
		// checkpoint its Close writes beside it: the disk figures count
		// both, and removing the directory removes both.
		return func(path string) (store, error) {
			if err := os.MkdirAll(path, 0o700); err != nil {
				return nil, err
			}
			db, err := kv.Open(filepath.Join(path, "pool"), &kv.Options{DAX: mode})
			if err != nil {
				return nil, err
			}
			return &daxkvStore{db: db}, nil
		}
	}
	return append([]config{
		{name: "daxkv-emulated-shm", store: "daxkv", open: daxkvOpen(kv.DAXEmulated),
			desc: "DAXEmulated on tmpfs: CPU cache-line flushes + one fence per write, no system call (durable against process crashes; the path a DAX pool takes on pmem). Default options."},
		{name: "daxkv-off-shm", store: "daxkv", open: daxkvOpen(kv.DAXOff),
			desc: "DAXOff on tmpfs: page-cache mapping, every write made durable with msync. Default options."},
		{name: "daxkv-off-ext4", store: "daxkv", open: daxkvOpen(kv.DAXOff), disk: true, limited: true,
			desc: "DAXOff on the disk filesystem: msync per write (a device flush). Default options."},
		{name: "bbolt-shm", store: "bbolt", open: openBolt,
			desc: "bbolt v1.5.0, default options (NoSync false, fdatasync per commit): one Update per put/delete, one Update per 1000 puts for fillbatch, one View per get. Concurrent writers call Update too: db.Batch, whose 10 ms MaxBatchDelay waits for callers that never come with 8 writers, ran 60x slower here."},
		{name: "pebble-sync-shm", store: "pebble", open: openPebble(pebble.Sync),
			desc: "pebble v2.1.7, default options (8 MiB cache) but FormatMajorVersion = FormatNewest (its docs: set it explicitly; the default is the oldest supported): Set/Delete with pebble.Sync, Batch.Commit(pebble.Sync) for fillbatch; Get with its closer."},
		{name: "pebble-nosync-shm", store: "pebble", open: openPebble(pebble.NoSync),
			desc: "pebble v2.1.7, as pebble-sync-shm but every write with pebble.NoSync: NOT durable, a reference for the cost of sync."},
		{name: "pebble-sync-ext4", store: "pebble", open: openPebble(pebble.Sync), disk: true, limited: true,
			desc: "pebble v2.1.7 on the disk filesystem, as pebble-sync-shm: Set with pebble.Sync (WAL fsync per write, group commit across writers)."},
		{name: "badger-sync-shm", store: "badger", open: openBadger,
			desc: "badger v4.9.6, DefaultOptions with SyncWrites=true, logger off: one Update per put/delete, one Update of 1000 sets for fillbatch, one View per get."},
		{name: "pmdk-btree-shm", store: "pmdk",
			desc: "PMDK libpmemobj (Debian's package) through bench/pmdk/driver.c: a B-tree in a pmemobj pool, one transaction per put/delete (one per 1000 puts for fillbatch), a rwlock for threads; PMEM_IS_PMEM_FORCE=1 (CPU flushes, no msync). The pool is sized at create (24 MiB + 1.25 x N x (V+160)) and its disk bytes are the whole pool. reopen-crash closes the original before opening the copy (libpmemobj refuses two pools with one id)."},
	}, raftConfigs()...)
}

// --- daxkv

type daxkvStore struct{ db *kv.DB }

func (s *daxkvStore) put(k, v []byte) error { return s.db.Put(k, v) }
func (s *daxkvStore) del(k []byte) error    { return s.db.Delete(k) }
func (s *daxkvStore) close() error          { return s.db.Close() }

func (s *daxkvStore) get(k []byte) (n int, err error) {
	err = s.db.View(k, func(v []byte) error { n = len(v); return nil })
	return n, err
}

func (s *daxkvStore) putBatch(ks, vs [][]byte) error {
	b := s.db.NewBatch()
	for i := range ks {
		b.Put(ks[i], vs[i])
	}
	return s.db.Apply(b)
}

func (s *daxkvStore) scan(fn func(k, v []byte)) error {
	return s.db.Scan(nil, nil, func(k, v []byte) error { fn(k, v); return nil })
}

// --- bbolt

var boltBucket = []byte("b")

type boltStore struct{ db *bolt.DB }

func openBolt(path string) (store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &boltStore{db: db}, nil
}

func (s *boltStore) put(k, v []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put(k, v) })
}

func (s *boltStore) del(k []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Delete(k) })
}

func (s *boltStore) get(k []byte) (n int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(boltBucket).Get(k)
		if v == nil {
			return errMiss
		}
		n = len(v)
		return nil
	})
	return n, err
}

func (s *boltStore) putBatch(ks, vs [][]byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for i := range ks {
			if err := b.Put(ks[i], vs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) scan(fn func(k, v []byte)) error {
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			fn(k, v)
		}
		return nil
	})
}

func (s *boltStore) close() error { return s.db.Close() }

// --- pebble

type pebbleStore struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
	os.Exit(1)
}

func openPebble(wo *pebble.WriteOptions) func(string) (store, error) {
	return func(path string) (store, error) {
		db, err := pebble.Open(path, &pebble.Options{Logger: quietLogger{}, FormatMajorVersion: pebble.FormatNewest})
		if err != nil {
			return nil, err
		}
		return &pebbleStore{db: db, wo: wo}, nil
	}
}

func (s *pebbleStore) put(k, v []byte) error { return s.db.Set(k, v, s.wo) }

// quiesce waits (up to 10 s) until no flush or compaction runs, so that a
// copy of the open store's files is not taken while pebble deletes the
// inputs of a compaction: a moment a crash could also hit, but one a
// file-by-file copy cannot capture atomically.
func (s *pebbleStore) quiesce() {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		m := s.db.Metrics()
		if m.Compact.NumInProgress == 0 && m.Flush.NumInProgress == 0 {
			return
		}
	}
}
func (s *pebbleStore) close() error { return s.db.Close() }

func (s *pebbleStore) del(k []byte) error { return s.db.Delete(k, s.wo) }

func (s *pebbleStore) get(k []byte) (int, error) {
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, errMiss
	}
	if err != nil {
		return 0, err
	}
	n := len(v)
	return n, c.Close()
}

func (s *pebbleStore) putBatch(ks, vs [][]byte) error {
	b := s.db.NewBatch()
	for i := range ks {
		if err := b.Set(ks[i], vs[i], nil); err != nil {
			return err
		}
	}
	return b.Commit(s.wo)
}

func (s *pebbleStore) scan(fn func(k, v []byte)) error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		fn(it.Key(), it.Value())
	}
	if err := it.Error(); err != nil {
		it.Close()
		return err
	}
	return it.Close()
}

// --- badger

type badgerStore struct{ db *badger.DB }

func openBadger(path string) (store, error) {
	db, err := badger.Open(badger.DefaultOptions(path).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		return nil, err
	}
	return &badgerStore{db: db}, nil
}

func (s *badgerStore) put(k, v []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

func (s *badgerStore) del(k []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(k) })
}

func (s *badgerStore) get(k []byte) (n int, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return errMiss
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error { n = len(v); return nil })
	})
	return n, err
}

func (s *badgerStore) putBatch(ks, vs [][]byte) error {
	return s.db.Update(func(txn *badger.Txn) error {
		for i := range ks {
			if err := txn.Set(ks[i], vs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *badgerStore) scan(fn func(k, v []byte)) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if err := item.Value(func(v []byte) error { fn(item.Key(), v); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *badgerStore) close() error { return s.db.Close() }

// copyTree copies the file or directory at src to dst (a crash image when
// src is open: everything acknowledged so far is in the files). Files are
// copied sparsely: only their data segments (SEEK_DATA/SEEK_HOLE), so that a
// store's preallocated or sparse files cost no more to open from the copy
// than from the original.
//
// A store that runs background work (an LSM's compactions) may delete a
// file while the copy runs: such a file is skipped, as it was obsolete (the
// store deletes compaction inputs only once nothing refers to them). A copy
// that misses a file the store still needs fails the store's open, and so
// the run: never a silent wrong figure.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p != src {
			return nil
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if err := copySparse(p, to, fi); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

func copySparse(from, to string, fi os.FileInfo) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, fi.Mode().Perm())
	if err != nil {
		return err
	}
	size := fi.Size()
	fd := int(in.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			data = off // no SEEK_DATA here: copy the rest whole
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, data), io.NewSectionReader(in, data, hole-data)); err != nil {
			out.Close()
			return err
		}
		off = hole
	}
	if err := out.Truncate(size); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
