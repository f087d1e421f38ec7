// Package raftstore is the durable storage of a hashicorp/raft node on one
// daxkv pool: a raft.LogStore, raft.StableStore and raft.MonotonicLogStore.
//
// Log entries live under the key prefix 'l' followed by the entry's index,
// big-endian, so that the pool's key order is the log's order; stable keys
// under the prefix 's'. StoreLogs is one atomic, durable batch (one commit,
// however many entries), and DeleteRange deletes without reading an entry.
// FirstIndex and LastIndex are kept in memory, found at open from the two
// ends of the ordered index.
//
// It lives in its own module so that daxkv itself never depends on raft.
package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/daxkv/daxkv/kv"
)

// ErrKeyNotFound is what Get and GetUint64 return for a stable key never
// set. raft recognises it by its message, "not found".
var ErrKeyNotFound = errors.New("not found")

// ErrCorrupt wraps every error about an entry whose bytes do not decode.
var ErrCorrupt = kv.ErrCorrupt

const (
	logPrefix    = 'l'
	stablePrefix = 's'
	// deleteBatch bounds the deletes of one DeleteRange batch.
	deleteBatch = 4096
	// encodingV1 is the first byte of every encoded entry.
	encodingV1 = 1
)

var (
	_ raft.LogStore          = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
	_ io.Closer              = (*Store)(nil)
)

// Store is a raft node's log and stable store on one daxkv pool. It is
// safe for concurrent use (raft deletes old entries from its snapshot
// goroutine while its main loop appends).
type Store struct {
	db *kv.DB

	mu          sync.Mutex // serializes writes of the log and protects the fields below
	first, last uint64     // the log's ends; 0, 0 when it is empty
	batch       *kv.Batch  // reused by StoreLogs and DeleteRange (Reset keeps its buffer)
	buf         []byte     // an entry's encoding, reused
}

// New opens (or creates) the pool at path with opts (nil: defaults) and
// finds the log's ends.
func New(path string, opts *kv.Options) (*Store, error) {
	db, err := kv.Open(path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, batch: db.NewBatch()}
	if err := s.loadBounds(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// DB is the pool underneath, for Stats.
func (s *Store) DB() *kv.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// IsMonotonic reports true: the log has no gaps (raft then removes every
// entry after restoring a snapshot instead of leaving a gap).
func (s *Store) IsMonotonic() bool { return true }

func logKey(index uint64) []byte {
	var k [9]byte
	return putLogKey(&k, index)
}

// putLogKey writes index's key into k and returns it: no allocation where
// the caller's array does not escape (the batch copies the key).
func putLogKey(k *[9]byte, index uint64) []byte {
	k[0] = logPrefix
	binary.BigEndian.PutUint64(k[1:], index)
	return k[:]
}

func indexOf(key []byte) (uint64, error) {
	if len(key) != 9 || key[0] != logPrefix {
		return 0, fmt.Errorf("raftstore: %w: key %q in the log's range is not a log key", ErrCorrupt, key)
	}
	return binary.BigEndian.Uint64(key[1:]), nil
}

// loadBounds finds the log's ends from the keys (at open, and after a
// DeleteRange, which may have met a gap or failed part way).
func (s *Store) loadBounds() error {
	it, err := s.db.NewIterator(&kv.IterOptions{LowerBound: []byte{logPrefix}, UpperBound: []byte{logPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	s.first, s.last = 0, 0
	if it.First() {
		if s.first, err = indexOf(it.Key()); err != nil {
			return err
		}
		if !it.Last() {
			return fmt.Errorf("raftstore: the log's last entry vanished: %w", it.Error())
		}
		if s.last, err = indexOf(it.Key()); err != nil {
			return err
		}
	}
	return it.Error()
}

// FirstIndex returns the first index in the log, 0 when it is empty.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, nil
}

// GetLog reads the entry at index into log; raft.ErrLogNotFound when
// there is none.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	err := s.db.View(logKey(index), func(v []byte) error { return decode(v, index, log) })
	if errors.Is(err, kv.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	return err
}

// StoreLog appends one entry, durably.
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs writes the entries in one atomic, durable batch: after a crash
// all of them are in the log or none.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var k [9]byte
	if len(logs) == 1 { // one Put: one fence, where a batch takes two
		l := logs[0]
		s.buf = encode(s.buf[:0], l)
		if err := s.db.Put(putLogKey(&k, l.Index), s.buf); err != nil {
			return fmt.Errorf("raftstore: store log %d: %w", l.Index, err)
		}
		s.extend(l.Index, l.Index)
		return nil
	}
	b := s.batch
	b.Reset()
	lo, hi := logs[0].Index, logs[0].Index
	for _, l := range logs {
		s.buf = encode(s.buf[:0], l)
		b.Put(putLogKey(&k, l.Index), s.buf)
		lo, hi = min(lo, l.Index), max(hi, l.Index)
	}
	if err := s.db.Apply(b); err != nil {
		return fmt.Errorf("raftstore: store logs %d-%d: %w", lo, hi, err)
	}
	s.extend(lo, hi)
	return nil
}

// extend widens the log's ends to take in lo..hi, just stored. Called with
// mu held.
func (s *Store) extend(lo, hi uint64) {
	if s.first == 0 || lo < s.first {
		s.first = lo
	}
	s.last = max(s.last, hi)
}

// DeleteRange deletes the entries from to to, inclusive, without reading
// them. A range at the log's start is deleted from its low end and one at
// its end from its high end, in batches, so that a crash part way leaves
// the log whole (no gap); each batch is atomic. A batch writes a tombstone
// per key, which needs free space: on a full pool (ErrNoSpace) the keys
// are deleted one by one instead, in the same order, which needs none, so
// that raft can still compact a full log. The log's ends are found again
// from the keys afterwards, even after an error.
func (s *Store) DeleteRange(from, to uint64) (err error) {
	if from > to {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == 0 { // empty
		return nil
	}
	lo, hi := max(from, s.first), min(to, s.last)
	if lo > hi {
		return nil
	}
	defer func() {
		if berr := s.loadBounds(); berr != nil {
			err = errors.Join(err, berr)
		}
	}()
	fromTop := lo > s.first // a suffix (or a middle): delete downwards
	nth := func(n uint64) uint64 {
		if fromTop {
			return hi - n
		}
		return lo + n
	}
	var k [9]byte
	for start := uint64(0); start <= hi-lo; start += deleteBatch {
		end := min(start+deleteBatch-1, hi-lo) // this batch: the nth keys start..end
		b := s.batch
		b.Reset()
		for n := start; n <= end; n++ {
			b.Delete(putLogKey(&k, nth(n)))
		}
		err := s.db.Apply(b)
		if errors.Is(err, kv.ErrNoSpace) {
			err = nil
			for n := start; n <= end; n++ {
				if derr := s.db.Delete(putLogKey(&k, nth(n))); derr != nil && !errors.Is(derr, kv.ErrNotFound) {
					err = derr
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("raftstore: delete logs %d-%d: %w", lo, hi, err)
		}
	}
	return nil
}

func stableKey(k []byte) []byte { return append([]byte{stablePrefix}, k...) }

// Set stores a stable key, durably.
func (s *Store) Set(key, val []byte) error { return s.db.Put(stableKey(key), val) }

// Get returns a stable key's value, or ErrKeyNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(stableKey(key))
	if errors.Is(err, kv.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	return v, err
}

// SetUint64 stores a stable key holding a number, durably.
func (s *Store) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a stable number, or 0 and ErrKeyNotFound.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("raftstore: %w: stable key %q holds %d bytes, not a uint64", ErrCorrupt, key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// encode appends an entry's encoding to buf: a version byte, the term, the
// type, whether it has an append time and the time (Unix seconds and
// nanoseconds: exact for any time), then the data and the extensions, each
// after its length. The index is the key.
func encode(buf []byte, l *raft.Log) []byte {
	buf = append(buf, encodingV1)
	buf = binary.BigEndian.AppendUint64(buf, l.Term)
	buf = append(buf, byte(l.Type))
	if l.AppendedAt.IsZero() {
		buf = append(buf, 0)
		buf = append(buf, make([]byte, 12)...)
	} else {
		buf = append(buf, 1)
		buf = binary.BigEndian.AppendUint64(buf, uint64(l.AppendedAt.Unix()))
		buf = binary.BigEndian.AppendUint32(buf, uint32(l.AppendedAt.Nanosecond()))
	}
	buf = binary.AppendUvarint(buf, uint64(len(l.Data)))
	buf = append(buf, l.Data...)
	buf = binary.AppendUvarint(buf, uint64(len(l.Extensions)))
	return append(buf, l.Extensions...)
}

// headerSize is the fixed part of an encoded entry.
const headerSize = 1 + 8 + 1 + 1 + 8 + 4

// decode fills l from v, copying (v lies in the pool mapping).
func decode(v []byte, index uint64, l *raft.Log) error {
	bad := func(what string) error {
		return fmt.Errorf("raftstore: %w: log entry %d: %s", ErrCorrupt, index, what)
	}
	if len(v) < headerSize || v[0] != encodingV1 {
		return bad("not an entry of a known encoding")
	}
	l.Index = index
	l.Term = binary.BigEndian.Uint64(v[1:])
	l.Type = raft.LogType(v[9])
	switch v[10] {
	case 0:
		l.AppendedAt = time.Time{}
	case 1:
		nsec := binary.BigEndian.Uint32(v[19:])
		if nsec >= 1e9 {
			return bad("an append time's nanoseconds out of range")
		}
		l.AppendedAt = time.Unix(int64(binary.BigEndian.Uint64(v[11:])), int64(nsec))
	default:
		return bad("an append time's flag is neither 0 nor 1")
	}
	rest := v[headerSize:]
	field := func() ([]byte, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, bad("a length runs past the entry")
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		if len(f) == 0 {
			return nil, nil
		}
		return append([]byte(nil), f...), nil
	}
	var err error
	if l.Data, err = field(); err != nil {
		return err
	}
	if l.Extensions, err = field(); err != nil {
		return err
	}
	if len(rest) != 0 {
		return bad("bytes after the extensions")
	}
	return nil
}
