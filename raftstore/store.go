// Package raftstore is the durable storage of a hashicorp/raft node on one
// daxkv pool: a raft.LogStore, raft.StableStore and raft.MonotonicLogStore.
//
// The log lives under the key prefix 'l' followed by an index, big-endian,
// so that the pool's key order is the log's order; stable keys under the
// prefix 's'. One StoreLogs call writes its entries as one value, a group
// keyed by the index of its first entry: a Put of one record, one checksum
// and one fence (one msync off persistent memory) for 64 entries as for
// one. A group of one entry is that entry's encoding alone, the layout of
// every entry before groups, so older pools read unchanged; a group of
// several holds the entries in index order after a table of where each
// ends. The store keeps the groups' ranges in memory, found at open by one
// pass over the log's keys: FirstIndex and LastIndex read it, and GetLog
// finds an entry's group in it, then reads only that entry.
//
// DeleteRange deletes whole groups without reading them; a group the range
// cuts is read once and its kept entries written back as new groups, in
// the same atomic batch. On a full pool a compaction may leave the group
// it cuts whole (see DeleteRange).
//
// It lives in its own module so that daxkv itself never depends on raft.
package raftstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
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
	// deleteBatch bounds the groups one DeleteRange batch changes.
	deleteBatch = 4096
	// encodingV1 is the first byte of every encoded entry, and so of a
	// group of one entry.
	encodingV1 = 1
	// encodingGroup is the first byte of a group of several entries: then
	// the count (4 bytes), the end of each entry in the group's body (4
	// bytes each, from the body's start) and the body, the entries'
	// encodings one after the other. All big-endian.
	encodingGroup = 2
	groupHeader   = 1 + 4
	// maxGroup bounds a group's value (a group takes at least one entry,
	// however long): a quarter of a chunk, so that a group never becomes a
	// run of whole chunks (kv stores a value over half a chunk that way).
	maxGroup = 1 << 20
)

// errMoved is what a read of a group that no longer holds the entry the
// table placed there returns: a writer changed the group between the
// lookup and the read (GetLog then looks again with no writer running).
var errMoved = errors.New("raftstore: the entry's group changed under the read")

var (
	_ raft.LogStore          = (*Store)(nil)
	_ raft.StableStore       = (*Store)(nil)
	_ raft.MonotonicLogStore = (*Store)(nil)
	_ io.Closer              = (*Store)(nil)
)

// span is a group's indexes, first to last inclusive.
type span struct{ first, last uint64 }

// Store is a raft node's log and stable store on one daxkv pool. It is
// safe for concurrent use (raft deletes old entries from its snapshot
// goroutine while its main loop appends, and reads entries from its
// replication goroutines).
type Store struct {
	db       *kv.DB
	closed   atomic.Bool
	groupMax int // the longest group value written (a single entry may be longer)

	mu    sync.Mutex // serializes writes of the log; held, groups may be read without tmu
	batch *kv.Batch  // reused by StoreLogs and DeleteRange (Reset keeps its buffer)
	buf   []byte     // a group's encoding, reused
	logs  []*raft.Log

	tmu    sync.RWMutex // protects groups; never held across a write of the pool
	groups []span       // the log's groups in index order, as on the pool
}

// New opens (or creates) the pool at path with opts (nil: defaults) and
// finds the log's groups.
func New(path string, opts *kv.Options) (*Store, error) {
	db, err := kv.Open(path, opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, batch: db.NewBatch(), groupMax: int(min(db.Stats().ChunkSize/4, maxGroup))}
	if err := s.load(); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// DB is the pool underneath, for Stats.
func (s *Store) DB() *kv.DB { return s.db }

// Close closes the pool. The log's methods return kv.ErrClosed after it.
func (s *Store) Close() error {
	s.closed.Store(true)
	return s.db.Close()
}

// usable returns kv.ErrClosed after Close.
func (s *Store) usable() error {
	if s.closed.Load() {
		return kv.ErrClosed
	}
	return nil
}

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

// load finds the log's groups from the pool (at open, and after a write
// that failed, which may have been applied or not).
func (s *Store) load() error {
	it, err := s.db.NewIterator(&kv.IterOptions{LowerBound: []byte{logPrefix}, UpperBound: []byte{logPrefix + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	var groups []span
	for ok := it.First(); ok; ok = it.Next() {
		first, err := indexOf(it.Key())
		if err != nil {
			return err
		}
		n, err := groupLen(it.Value(), first)
		if err != nil {
			return err
		}
		g := span{first, first + n - 1}
		if g.last < g.first {
			return fmt.Errorf("raftstore: %w: the group at %d holds %d entries, past the last index", ErrCorrupt, first, n)
		}
		if k := len(groups); k > 0 && groups[k-1].last >= first {
			return fmt.Errorf("raftstore: %w: the group at %d overlaps the group %d-%d", ErrCorrupt, first, groups[k-1].first, groups[k-1].last)
		}
		groups = append(groups, g)
	}
	if err := it.Error(); err != nil {
		return err
	}
	// The iterator passes over a key whose newest record lies on a bad
	// block: its group would look absent, a hole in the log or a shorter
	// log, where its entries are lost. Refuse the log instead.
	bad, err := damagedKeys(s.db, []byte{logPrefix}, []byte{logPrefix + 1})
	if err != nil {
		return err
	}
	if len(bad) > 0 {
		return fmt.Errorf("raftstore: %w: %d log groups lie on bad blocks (the first under key %x): their entries cannot be read", ErrCorrupt, len(bad), bad[0])
	}
	s.tmu.Lock()
	s.groups = groups
	s.tmu.Unlock()
	return nil
}

// damagedKeys is kv.DB.DamagedKeys; a seam for tests (no bad block can be
// made from outside kv).
var damagedKeys = (*kv.DB).DamagedKeys

// reload is load after a failed write, its error joined to the write's.
func (s *Store) reload(err error) error {
	if lerr := s.load(); lerr != nil {
		return errors.Join(err, fmt.Errorf("raftstore: finding the log again: %w", lerr))
	}
	return err
}

// FirstIndex returns the first index in the log, 0 when it is empty.
func (s *Store) FirstIndex() (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	if len(s.groups) == 0 {
		return 0, nil
	}
	return s.groups[0].first, nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (s *Store) LastIndex() (uint64, error) {
	if err := s.usable(); err != nil {
		return 0, err
	}
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	if len(s.groups) == 0 {
		return 0, nil
	}
	return s.groups[len(s.groups)-1].last, nil
}

// find returns the group that holds index, if any.
func (s *Store) find(index uint64) (span, bool) {
	s.tmu.RLock()
	defer s.tmu.RUnlock()
	return findIn(s.groups, index)
}

func findIn(groups []span, index uint64) (span, bool) {
	i := sort.Search(len(groups), func(i int) bool { return groups[i].last >= index })
	if i == len(groups) || groups[i].first > index {
		return span{}, false
	}
	return groups[i], true
}

// GetLog reads the entry at index into log; raft.ErrLogNotFound when
// there is none.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	if err := s.usable(); err != nil {
		return err
	}
	err := s.getLog(index, log)
	if errors.Is(err, errMoved) {
		// A writer changed the group between the lookup and the read: look
		// again with none running, when the table and the pool agree.
		s.mu.Lock()
		err = s.getLog(index, log)
		s.mu.Unlock()
		if errors.Is(err, errMoved) {
			return fmt.Errorf("raftstore: %w: entry %d is not in the group that holds it", ErrCorrupt, index)
		}
	}
	return err
}

func (s *Store) getLog(index uint64, log *raft.Log) error {
	g, ok := s.find(index)
	if !ok {
		return raft.ErrLogNotFound
	}
	var k [9]byte
	err := s.db.View(putLogKey(&k, g.first), func(v []byte) error {
		e, err := entryAt(v, g.first, index-g.first)
		if err != nil {
			return err
		}
		return decode(e, index, log)
	})
	if errors.Is(err, kv.ErrNotFound) {
		return errMoved
	}
	return err
}

// StoreLog appends one entry, durably.
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs writes the entries in one atomic, durable write: after a crash
// all of them are in the log or none. Entries of consecutive indexes go
// into one group (several when they are over the group size); an entry
// that replaces one already stored cuts the group that held it, whose
// other entries are written back in the same batch.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if err := s.usable(); err != nil || len(logs) == 0 {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ls := s.sorted(logs)
	lo, hi := ls[0].Index, ls[len(ls)-1].Index
	// The new groups: runs of consecutive indexes, cut at the group size.
	var adds []span
	size := 0
	for i, l := range ls {
		n := entrySize(l)
		if i > 0 && l.Index == ls[i-1].Index+1 && size+4+n <= s.groupMax {
			adds[len(adds)-1].last = l.Index
			size += 4 + n
			continue
		}
		adds = append(adds, span{l.Index, l.Index})
		size = groupHeader + 4 + n
	}
	// The groups the new entries cut.
	var edits []edit
	if k := len(s.groups); k > 0 && lo <= s.groups[k-1].last {
		for _, g := range s.groups {
			if g.last >= lo && g.first <= hi && overlapsAny(g, adds) {
				edits = append(edits, edit{old: g, kept: cut(g, adds)})
			}
		}
	}
	if err := s.write(edits, adds, ls); err != nil {
		return fmt.Errorf("raftstore: store logs %d-%d: %w", lo, hi, err)
	}
	return nil
}

// sorted returns logs in index order, the last of equal indexes kept,
// without touching the caller's slice when it needs a sort.
func (s *Store) sorted(logs []*raft.Log) []*raft.Log {
	if slices.IsSortedFunc(logs, cmpIndex) && !hasDup(logs) {
		return logs
	}
	s.logs = append(s.logs[:0], logs...)
	slices.SortStableFunc(s.logs, cmpIndex)
	out := s.logs[:0]
	for i, l := range s.logs {
		if i+1 < len(s.logs) && s.logs[i+1].Index == l.Index {
			continue // a later one of the same index replaces it
		}
		out = append(out, l)
	}
	return out
}

func cmpIndex(a, b *raft.Log) int { return cmp.Compare(a.Index, b.Index) }

func hasDup(sorted []*raft.Log) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Index == sorted[i-1].Index {
			return true
		}
	}
	return false
}

// overlapsAny reports whether g shares an index with any of spans.
func overlapsAny(g span, spans []span) bool {
	for _, h := range spans {
		if h.last >= g.first && h.first <= g.last {
			return true
		}
	}
	return false
}

// edit is a change to one group: it goes, and the pieces of it kept are
// written back as groups of their own (the first under the same key when
// it starts where the group did).
type edit struct {
	old  span
	kept []span
}

// cut returns the pieces of g outside holes (sorted, disjoint), in order.
func cut(g span, holes []span) []span {
	var kept []span
	at := g.first
	for _, h := range holes {
		if h.last < at || h.first > g.last {
			continue
		}
		if h.first > at {
			kept = append(kept, span{at, h.first - 1})
		}
		if h.last >= g.last {
			return kept
		}
		at = h.last + 1
	}
	return append(kept, span{at, g.last})
}

// write applies edits and writes the groups adds of the entries ls (sorted;
// every entry of ls is in one of adds) in one atomic write, then updates
// the table. One Put or one Delete is written as such (one fence where a
// batch takes two). After an error the table is found again from the pool.
func (s *Store) write(edits []edit, adds []span, ls []*raft.Log) error {
	var k [9]byte
	var err error
	switch {
	case len(edits) == 0 && len(adds) == 1:
		s.buf = encodeGroup(s.buf[:0], ls)
		err = s.db.Put(putLogKey(&k, adds[0].first), s.buf)
	case len(edits) == 1 && len(edits[0].kept) == 0 && len(adds) == 0:
		err = s.db.Delete(putLogKey(&k, edits[0].old.first))
		if errors.Is(err, kv.ErrNotFound) {
			err = nil
		}
	default:
		b := s.batch
		b.Reset()
		for _, e := range edits {
			keepsKey := false
			for _, p := range e.kept {
				keepsKey = keepsKey || p.first == e.old.first
				if s.buf, err = s.readPiece(s.buf[:0], e.old, p); err != nil {
					return s.reload(err)
				}
				b.Put(putLogKey(&k, p.first), s.buf)
			}
			if !keepsKey {
				b.Delete(putLogKey(&k, e.old.first))
			}
		}
		i := 0
		for _, a := range adds {
			j := i + int(a.last-a.first) + 1
			s.buf = encodeGroup(s.buf[:0], ls[i:j])
			b.Put(putLogKey(&k, a.first), s.buf)
			i = j
		}
		err = s.db.Apply(b)
	}
	if err != nil {
		return s.reload(err)
	}
	s.replace(edits, adds)
	return nil
}

// readPiece appends to buf the group value of the entries p of the group g.
func (s *Store) readPiece(buf []byte, g, p span) ([]byte, error) {
	var k [9]byte
	err := s.db.View(putLogKey(&k, g.first), func(v []byte) (err error) {
		buf, err = appendGroup(buf, int(p.last-p.first+1), func(b []byte, i int) ([]byte, error) {
			e, err := entryAt(v, g.first, p.first-g.first+uint64(i))
			return append(b, e...), err
		})
		return err
	})
	if errors.Is(err, errMoved) || errors.Is(err, kv.ErrNotFound) {
		return buf, fmt.Errorf("raftstore: %w: the group %d-%d does not hold its entries", ErrCorrupt, g.first, g.last)
	}
	return buf, err
}

// replace updates the table after a write: the edits' groups go, their
// kept pieces and adds come in.
func (s *Store) replace(edits []edit, adds []span) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	k := len(s.groups)
	if len(edits) == 0 && (k == 0 || adds[0].first > s.groups[k-1].last) {
		s.groups = append(s.groups, adds...) // an append: the common case
		return
	}
	gone := make(map[uint64]bool, len(edits))
	in := slices.Clone(adds)
	for _, e := range edits {
		gone[e.old.first] = true
		in = append(in, e.kept...)
	}
	slices.SortFunc(in, func(a, b span) int { return cmp.Compare(a.first, b.first) })
	out := make([]span, 0, len(s.groups)-len(edits)+len(in))
	j := 0
	for _, g := range s.groups {
		if gone[g.first] {
			continue
		}
		for ; j < len(in) && in[j].first < g.first; j++ {
			out = append(out, in[j])
		}
		out = append(out, g)
	}
	s.groups = append(out, in[j:]...)
}

// DeleteRange deletes the entries from to to, inclusive. Whole groups are
// deleted without a read; a group the range cuts is read and its kept
// entries written back. A range at the log's start is deleted from its low
// end and one at its end from its high end, in batches of deleteBatch
// groups, so that a crash part way leaves the log whole (no gap); each
// batch is atomic. After an error the table is found again from the pool.
//
// A batch writes a tombstone per group, and a cut group's kept entries are
// a new value: both need free space. On a full pool (ErrNoSpace) the whole
// groups of a batch are deleted one by one instead, in the same order,
// which needs none, and only then are the cut groups written, in the space
// the deletes gave back. A cut at the log's start (raft's compaction) that
// still finds no space leaves its group whole: the log keeps up to a group
// more than asked at its start, which raft takes at its next compaction,
// and raft can always compact a full log. A cut anywhere else (a
// conflicting suffix) must not leave its entries, and returns the error
// with the log as it was before the cut.
func (s *Store) DeleteRange(from, to uint64) error {
	if err := s.usable(); err != nil {
		return err
	}
	if from > to {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	hole := []span{{from, to}}
	var edits []edit
	for _, g := range s.groups {
		if g.last >= from && g.first <= to {
			edits = append(edits, edit{old: g, kept: cut(g, hole)})
		}
	}
	if len(edits) == 0 {
		return nil
	}
	prefix := from <= s.groups[0].first
	if !prefix { // a suffix (or a middle): delete downwards
		slices.Reverse(edits)
	}
	for start := 0; start < len(edits); start += deleteBatch {
		chunk := edits[start:min(start+deleteBatch, len(edits))]
		err := s.write(chunk, nil, nil)
		if errors.Is(err, kv.ErrNoSpace) {
			err = s.onFullPool(chunk, prefix)
		}
		if err != nil {
			return fmt.Errorf("raftstore: delete logs %d-%d: %w", from, to, err)
		}
	}
	return nil
}

// onFullPool applies edits one at a time on a pool that had no space for
// them as a batch: the whole groups' deletes first, in order (a Delete
// needs no space), then the cuts. With prefix, a cut that still finds no
// space is skipped (its group stays whole; see DeleteRange).
func (s *Store) onFullPool(edits []edit, prefix bool) error {
	for i := range edits {
		if len(edits[i].kept) == 0 {
			if err := s.write(edits[i:i+1], nil, nil); err != nil {
				return err
			}
		}
	}
	for i := range edits {
		if len(edits[i].kept) == 0 {
			continue
		}
		err := s.write(edits[i:i+1], nil, nil)
		if errors.Is(err, kv.ErrNoSpace) && prefix {
			continue
		}
		if err != nil {
			return err
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

// entrySize is the length of l's encoding.
func entrySize(l *raft.Log) int {
	return headerSize + uvarintLen(len(l.Data)) + len(l.Data) + uvarintLen(len(l.Extensions)) + len(l.Extensions)
}

func uvarintLen(n int) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

// encodeGroup appends the group value of ls (consecutive indexes).
func encodeGroup(buf []byte, ls []*raft.Log) []byte {
	buf, _ = appendGroup(buf, len(ls), func(b []byte, i int) ([]byte, error) { return encode(b, ls[i]), nil })
	return buf
}

// appendGroup appends to buf (which must be empty: the ends are written at
// fixed offsets) the group value of n entries, each appended by entry: the
// entry's encoding alone for one, else the group layout (encodingGroup).
// It stops at entry's first error.
func appendGroup(buf []byte, n int, entry func(buf []byte, i int) ([]byte, error)) ([]byte, error) {
	if n == 1 {
		return entry(buf, 0)
	}
	buf = append(buf, encodingGroup)
	buf = binary.BigEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, make([]byte, 4*n)...)
	body := len(buf)
	for i := range n {
		var err error
		if buf, err = entry(buf, i); err != nil {
			return buf, err
		}
		binary.BigEndian.PutUint32(buf[groupHeader+4*i:], uint32(len(buf)-body))
	}
	return buf, nil
}

// groupLen returns how many entries the group value v at index first
// holds, checking its header.
func groupLen(v []byte, first uint64) (uint64, error) {
	if len(v) > 0 && v[0] == encodingV1 {
		return 1, nil
	}
	n, _, _, err := groupTable(v, first)
	return uint64(n), err
}

// groupTable checks the header of a group of several entries and returns
// its count, its end table and its body.
func groupTable(v []byte, first uint64) (n int, ends, body []byte, err error) {
	bad := func(what string) error {
		return fmt.Errorf("raftstore: %w: the log group at %d: %s", ErrCorrupt, first, what)
	}
	if len(v) < groupHeader || v[0] != encodingGroup {
		return 0, nil, nil, bad("not a group of a known encoding")
	}
	c := binary.BigEndian.Uint32(v[1:])
	if c < 2 || uint64(c) > uint64(len(v)-groupHeader)/(4+minEntry) {
		return 0, nil, nil, bad(fmt.Sprintf("a count of %d entries in %d bytes", c, len(v)))
	}
	n = int(c)
	ends, body = v[groupHeader:groupHeader+4*n], v[groupHeader+4*n:]
	at := uint64(0)
	for i := range n {
		end := uint64(binary.BigEndian.Uint32(ends[4*i:]))
		if end < at+minEntry {
			return 0, nil, nil, bad(fmt.Sprintf("entry %d ends at %d, %d bytes after the one before", i, end, int64(end)-int64(at)))
		}
		at = end
	}
	if at != uint64(len(body)) {
		return 0, nil, nil, bad("the last entry does not end at the group's end")
	}
	return n, ends, body, nil
}

// entryAt returns the encoding of the kth entry of the group value v at
// index first, or errMoved when the group holds fewer.
func entryAt(v []byte, first, k uint64) ([]byte, error) {
	if len(v) > 0 && v[0] == encodingV1 {
		if k != 0 {
			return nil, errMoved
		}
		return v, nil
	}
	n, ends, body, err := groupTable(v, first)
	if err != nil {
		return nil, err
	}
	if k >= uint64(n) {
		return nil, errMoved
	}
	start := uint32(0)
	if k > 0 {
		start = binary.BigEndian.Uint32(ends[4*(k-1):])
	}
	return body[start:binary.BigEndian.Uint32(ends[4*k:])], nil // groupTable checked the ends
}

// headerSize is the fixed part of an encoded entry; minEntry the shortest
// entry (two lengths of one byte each after it).
const (
	headerSize = 1 + 8 + 1 + 1 + 8 + 4
	minEntry   = headerSize + 2
)

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
