package recovery

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/invariants"
)

// Entry is one valid record found by the scan. P0 and P1 hold the first 16
// key bytes big-endian (zero padded) so that sorting compares integers first
// and touches the mapping only on a tie.
type Entry struct {
	P0, P1 uint64
	Off    int64
	Seq    uint64
	KeyLen uint16
	Flags  uint16
	ValLen uint32
	Tag    uint8
	// Damaged: the record's header and key are readable but some of its
	// bytes lie on a bad block (Scan.Bad), so its checksum could not be
	// verified.
	Damaged bool
}

// Prefix returns the two big-endian prefix words of key.
func Prefix(key []byte) (p0, p1 uint64) {
	var buf [16]byte
	copy(buf[:], key)
	return binary.BigEndian.Uint64(buf[0:]), binary.BigEndian.Uint64(buf[8:])
}

// Size is the entry's extent size.
func (e *Entry) Size() int64 { return RecordSize(int(e.KeyLen), int(e.ValLen)) }

// Key returns the entry's key (a slice of mem).
func (e *Entry) Key(mem []byte) []byte {
	return mem[e.Off+HeaderSize : e.Off+HeaderSize+int64(e.KeyLen)]
}

// Result is what Recover found and did.
type Result struct {
	Live      []Entry          // the winning record of every present key, in key order
	Alloc     *alloc.Allocator // free space: everything but Live (nil when read-only)
	Floor     uint64           // first sequence number the store may hand out
	Records   int              // valid records seen
	Discarded int              // older versions, tombstones and uncommitted records freed
	Replayed  int              // committed batches whose records were still pending
	Dropped   int              // batches found uncommitted, their records freed
	Commits   []Commit         // valid log slots found (all cleared when writable)
	Chunks    int              // chunks scanned
	Used      int64            // bytes the allocator counts live: the winners' extents, bad ranges and damaged records set aside
	Damaged   []DamagedKey     // keys whose newest record meets a bad block (Scan.Bad), in key order
}

// Recover scans the heap of a pool of poolSize bytes, decides the winner of
// every key by the recovery rule, replays committed batches and frees
// everything that lost. With p == nil it only reads (a read-only open): the
// media is not touched and Result.Alloc is nil. Otherwise it makes every fix
// durable before it returns, in an order that is itself crash-safe: first the
// committed pending records turn live and every loser is freed (drain), then
// winning tombstones are freed and the log is cleared (drain).
func Recover(mem []byte, poolSize int64, sb *Superblock, p flush.Persister, sc Scan) (*Result, error) {
	return RecoverStream(mem, poolSize, sb, p, sc, nil)
}

// liveBatch is how many winners RecoverStream hands over at a time.
const liveBatch = 4096

// RecoverStream is Recover, handing the winners to live in key order, in
// batches, as soon as they are decided, so that the caller can build its
// index while recovery goes on; Result.Live is then empty. total is the
// number of valid records scanned, an upper bound of the winners, for
// sizing. live runs on Recover's goroutine and must not retain a batch
// after returning unless it copies it: batches are not reused, so keeping
// them is fine.
func RecoverStream(mem []byte, poolSize int64, sb *Superblock, p flush.Persister, sc Scan, live func(batch []Entry, total int)) (res *Result, err error) {
	err = Guard(mem, func() error {
		res, err = recoverStream(mem, poolSize, sb, p, sc, live)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// recoverStream is RecoverStream's work, on the caller's goroutine, under
// its guard.
func recoverStream(mem []byte, poolSize int64, sb *Superblock, p flush.Persister, sc Scan, live func(batch []Entry, total int)) (*Result, error) {
	c := NewCodec(sb)
	if poolSize%sb.ChunkSize != 0 || poolSize < sb.ChunkSize || poolSize > int64(len(mem)) {
		return nil, corruptf(poolSize, "pool size %d is not a whole number of %d-byte chunks", poolSize, sb.ChunkSize)
	}
	mem = mem[:poolSize] // a run's bytes must end inside the pool (Decode)
	res := &Result{Floor: sb.SeqFloor, Chunks: int(poolSize / sb.ChunkSize)}
	res.Commits = c.Commits(mem)
	for _, cm := range res.Commits {
		res.Floor = raise(res.Floor, cm.Seq)
	}

	entries, overlaps, err := scanChunks(c, mem, sb.ChunkSize, res.Chunks, sc, resolveOverlaps())
	if err != nil {
		return nil, err
	}
	// Records dropped because they overlap a later record's extent are
	// losers like any older version: freed with the first fence.
	for _, o := range overlaps {
		res.Floor = raise(res.Floor, o.DroppedSeq)
		res.Discarded++
		if p != nil {
			Free(p, mem[o.Dropped:])
		}
	}
	res.Records = len(overlaps)
	for i := range entries {
		res.Records += len(entries[i])
	}
	all, err := mergeSorted(mem, entries, sc.Workers)
	if err != nil {
		return nil, err
	}
	committed := committedBatches(res.Commits, all)

	// The builder runs on a read-only open too, for Result.Used; only a
	// writable one builds the allocator from it.
	b := alloc.NewBuilder(sb.ChunkSize, HeapStart, poolSize)
	for _, r := range sc.Bad {
		b.Reserve(r.Off, r.Len) // never handed out
	}
	var tombs []int64
	replayed := map[uint64]bool{}
	dropped := map[uint64]bool{}
	var winners []Entry
	if live == nil {
		winners = make([]Entry, 0, len(all))
	} else {
		winners = make([]Entry, 0, liveBatch)
	}
	for g := range keyGroups(mem, all) {
		w := winner(g, committed)
		for k := range g {
			e := &g[k]
			res.Floor = raise(res.Floor, e.Seq)
			if e.Tag == TagPending {
				if committed[e.Seq] {
					replayed[e.Seq] = true
				} else {
					dropped[e.Seq] = true
				}
			}
			switch {
			case e.Damaged:
				// On a bad block: its extent (page-rounded, as the
				// allocator handed it out) is never reused; a damaged
				// winner makes the key unreadable, and, a replayed one,
				// is settled live (its header is readable) so that it
				// still wins when the log slot is gone.
				if k == w && e.Flags&FlagTombstone == 0 {
					res.Damaged = append(res.Damaged, DamagedKey{Key: bytes.Clone(e.Key(mem)), Off: e.Off})
				}
				b.Reserve(e.Off, b.SizeOf(e.Size()))
				if p != nil && k == w && e.Tag == TagPending {
					settle(p, mem[e.Off:])
				}
				if p != nil && k != w {
					// A loser is freed like any other (its header,
					// which the scan read, is on a good page; its bad
					// pages stay reserved at every open, from the
					// kernel's list): kept, it would win again once the
					// key's winner is deleted, and bring the key back.
					res.Discarded++
					Free(p, mem[e.Off:])
				}
			case k == w && e.Flags&FlagTombstone != 0:
				tombs = append(tombs, e.Off)
			case k == w:
				winners = append(winners, *e)
				if live != nil && len(winners) == liveBatch {
					live(winners, len(all))
					winners = make([]Entry, 0, liveBatch)
				}
				// A valid record the allocator could never have placed (a
				// large one off a page boundary) is a crafted or damaged
				// pool, not something to build on; a read-only open only
				// leaves it out of Used.
				if err := b.ValidExtent(e.Off, e.Size()); err != nil {
					if p != nil {
						return nil, corruptf(e.Off, "record extent: %v", err)
					}
				} else {
					if _, bad := firstBad(sc.Bad, e.Off, e.Off+b.SizeOf(e.Size())); invariants.Enabled && !bad && b.Overlaps(e.Off, e.Size()) {
						// scanChunk drops every record overlapping another.
						panic(fmt.Sprintf("daxkv: assertion failed: winning record at %d overlaps another live extent", e.Off))
					}
					b.Use(e.Off, e.Size())
				}
				if p != nil && e.Tag == TagPending {
					settle(p, mem[e.Off:])
				}
			default:
				res.Discarded++
				if p != nil {
					Free(p, mem[e.Off:])
				}
			}
		}
	}
	if live != nil {
		if len(winners) > 0 {
			live(winners, len(all))
		}
	} else {
		res.Live = winners
	}
	res.Replayed = len(replayed)
	res.Dropped = len(dropped)
	res.Used = b.LiveBytes()
	if p == nil {
		return res, nil
	}
	clearLogEarly(p, mem, res.Commits)
	if err := p.Drain(); err != nil {
		return nil, err
	}
	for _, off := range tombs {
		Free(p, mem[off:])
		res.Discarded++
	}
	for _, slot := range usedSlots(mem) { // the commits, and stale words
		ClearCommit(p, mem, slot)
	}
	if err := p.Drain(); err != nil {
		return nil, err
	}
	res.Alloc = b.Build()
	return res, nil
}

// Empty is the Result for a pool Format has just written: nothing to scan,
// every heap byte free.
func Empty(sb *Superblock, poolSize int64) *Result {
	return &Result{
		Floor:  sb.SeqFloor,
		Alloc:  alloc.New(sb.ChunkSize, HeapStart, poolSize),
		Chunks: int(poolSize / sb.ChunkSize),
	}
}

// Overlap is a pair of valid records whose extents overlap. The allocator
// never hands out overlapping extents, but it reuses a reclaimed extent
// before the next fence has made the lazy free of its previous record
// durable, so a crash can leave the old record beside a newer one written
// into its extent; damage or a crafted pool can too. The record with the
// higher sequence number is kept: it was written later, into space the
// other's free had released (a lazily freed record is always superseded by
// a durable newer version, or deleted durably, so dropping it loses
// nothing).
type Overlap struct {
	Kept, Dropped int64  // offsets of the two records
	DroppedSeq    uint64 // the dropped record's sequence number
}

// scanChunks decodes every valid record of every chunk, workers chunks at a
// time. Each worker's slice comes back sorted by key, then by sequence
// number descending; no two entries' extents overlap (see scanChunk and
// resolveRuns), and the records dropped to make it so come back in the
// overlaps. A memory fault in any worker is returned as a CorruptError at
// its offset.
//
// It works in two passes. The first finds the runs whose check verifies at
// chunk starts (findRuns): the bytes of such a run are its own, so the
// second pass, the per-chunk scan, never parses them (a value may hold
// anything, header images included) and takes the run itself without
// hashing its value again.
func scanChunks(c *Codec, mem []byte, chunkSize int64, chunks int, sc Scan, resolve bool) ([][]Entry, []Overlap, error) {
	workers := sc.Workers
	workers = max(1, min(workers, chunks))
	runs, err := findRuns(c, mem, chunkSize, chunks, sc.Bad, sc.Holes, workers)
	if err != nil {
		return nil, nil, err
	}
	plan := planRuns(c, runs)
	out := make([][]Entry, workers)
	ovs := make([][]Overlap, workers)
	first := newFirstError()
	var wg sync.WaitGroup
	var (
		progressMu sync.Mutex // calls in order, one at a time
		done       int
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			first.set(Guard(mem, func() error {
				var es []Entry
				willNeed := func(ch int) {
					lo := int64(ch) * chunkSize
					if sc.WillNeed != nil && ch < chunks && !inHoles(sc.Holes, lo, lo+chunkSize) {
						sc.WillNeed(lo, chunkSize)
					}
				}
				willNeed(w)
				for ch := w; ch < chunks; ch += workers {
					willNeed(ch + workers)
					es = scanChunk(c, mem, chunkSize, int64(ch), sc.Bad, sc.Holes, plan[int64(ch)], es, &ovs[w], resolve)
					if sc.Progress != nil {
						progressMu.Lock()
						done++
						sc.Progress(done, chunks)
						progressMu.Unlock()
					}
				}
				out[w] = es
				return nil
			}))
		}(w)
	}
	wg.Wait()
	ov := slices.Concat(ovs...)
	if err := first.get(); err != nil {
		return nil, nil, err
	}
	if resolve {
		ov = append(ov, resolveRuns(c, out)...)
	}
	for w := range out {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			first.set(Guard(mem, func() error {
				sortEntries(mem, out[w])
				return nil
			}))
		}(w)
	}
	wg.Wait()
	if err := first.get(); err != nil {
		return nil, nil, err
	}
	return out, ov, nil
}

// findRuns returns the runs found at chunk starts whose check verifies,
// in offset order, leaving out any whose head lies inside the bytes of an
// earlier one (an image inside a value: the earlier run's check vouches
// for those bytes). Workers verify chunks in parallel.
func findRuns(c *Codec, mem []byte, chunkSize int64, chunks int, bad, holes []daxmap.Range, workers int) ([]Entry, error) {
	if !c.runs {
		return nil, nil
	}
	found := make([][]Entry, workers)
	first := newFirstError()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first.set(Guard(mem, func() error {
				for ch := int64(1 + w); ch < int64(chunks); ch += int64(workers) {
					if e, ok := runAt(c, mem, chunkSize, ch, bad, holes); ok {
						found[w] = append(found[w], e)
					}
				}
				return nil
			}))
		}()
	}
	wg.Wait()
	if err := first.get(); err != nil {
		return nil, err
	}
	return outermost(slices.Concat(found...)), nil
}

// runAt returns the run at chunk ch's start when there is one and its
// check verifies.
func runAt(c *Codec, mem []byte, chunkSize, ch int64, bad, holes []daxmap.Range) (Entry, bool) {
	off := ch * chunkSize
	if _, hit := firstBad(holes, off, off+HeaderSize); hit {
		return Entry{}, false
	}
	// Most chunks start with a short record, or nothing: the header says
	// so without the whole record being hashed.
	if _, hit := firstBad(bad, off, off+HeaderSize); hit {
		return Entry{}, false
	}
	if h, ok := c.plausible(mem, off, off+chunkSize); !ok || h.Flags&FlagRun == 0 {
		return Entry{}, false
	}
	e, _, ok := probe(c, mem, off, off+chunkSize, bad)
	return e, ok && !e.Damaged && e.Flags&FlagRun != 0
}

// outermost sorts runs by offset and leaves out every one whose head lies
// inside the bytes of an earlier one kept.
func outermost(runs []Entry) []Entry {
	slices.SortFunc(runs, func(a, b Entry) int { return cmp.Compare(a.Off, b.Off) })
	kept := runs[:0]
	for _, e := range runs {
		if n := len(kept); n > 0 && e.Off < kept[n-1].Off+kept[n-1].Size() {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// runPlan is what the per-chunk scan knows of a chunk from findRuns: the
// verified run at its start (taken without hashing it again), and where
// its scan starts (past the bytes of the run that owns the chunk).
type runPlan struct {
	head  *Entry
	start int64
}

// planRuns maps the chunks of the verified runs to their plans.
func planRuns(c *Codec, runs []Entry) map[int64]runPlan {
	if len(runs) == 0 {
		return nil
	}
	plan := make(map[int64]runPlan, len(runs))
	for i := range runs {
		r := &runs[i]
		head := r.Off / c.chunk
		plan[head] = runPlan{head: r}
		end := alignUp(r.Off + r.Size())
		for ch := head + 1; ch < (r.Off+c.Extent(r.Size()))/c.chunk; ch++ {
			plan[ch] = runPlan{start: max(ch*c.chunk, end)}
		}
	}
	return plan
}

// resolveRuns settles the runs among the entries of parts (each slice in
// any order, which it keeps): a run's continuation chunks are scanned like
// any other, past the run's bytes when its check verified (findRuns), so a
// valid record can be found in the slack of its last chunk, or, for a run
// whose value meets a bad block (Damaged, unverified), anywhere in them;
// and a run's head can lie inside an earlier run. Of two such records,
// the later-placed one's head inside the other's extent (see pick): when
// it lies inside the other's bytes and the other verified, it is an image
// inside a value and is dropped without a word (nothing is written there:
// those bytes are the value's); when it lies inside an unverified run's
// bytes and itself verified, the run is the false one; otherwise, as
// inside a chunk (scanChunk), the higher sequence number is kept (a tie
// keeps the lower offset) and the other is dropped and returned. Records
// within one chunk are already settled, so only records in a kept run's
// continuation chunks, and run heads, are compared here. No entry is
// removed when no run was found.
func resolveRuns(c *Codec, parts [][]Entry) []Overlap {
	var runs []Entry
	for _, part := range parts {
		for i := range part {
			if part[i].Flags&FlagRun != 0 {
				runs = append(runs, part[i])
			}
		}
	}
	if len(runs) == 0 {
		return nil
	}
	slices.SortFunc(runs, func(a, b Entry) int { return cmp.Compare(a.Off, b.Off) })
	var ov []Overlap
	dropped := map[int64]bool{}
	// settle decides between x and y, y's head inside x's extent, and
	// reports whether y is kept.
	settle := func(x, y *Entry) bool {
		keepY, silent := pick(x, y)
		lost, kept := y, x
		if keepY {
			lost, kept = x, y
		}
		dropped[lost.Off] = true
		if !silent {
			ov = append(ov, Overlap{Kept: kept.Off, Dropped: lost.Off, DroppedSeq: lost.Seq})
		}
		return keepY
	}
	kept := runs[:0:0]
	for i := range runs {
		r := &runs[i]
		if n := len(kept); n > 0 && kept[n-1].Off+c.Extent(kept[n-1].Size()) > r.Off {
			if settle(&kept[n-1], r) {
				kept[n-1] = *r
			}
			continue
		}
		kept = append(kept, *r)
	}
	// covered maps each continuation chunk of a kept run to the run.
	covered := map[int64]int{}
	for i := range kept {
		r := &kept[i]
		for ch := r.Off/c.chunk + 1; ch < (r.Off+c.Extent(r.Size()))/c.chunk; ch++ {
			covered[ch] = i
		}
	}
	inRun := func(e *Entry) (int, bool) {
		if dropped[e.Off] {
			return 0, false
		}
		i, ok := covered[e.Off/c.chunk]
		return i, ok
	}
	// A run loses to any record in its continuation chunks that pick
	// keeps over it; the others lose to it.
	lost := make([]bool, len(kept))
	for _, part := range parts {
		for k := range part {
			if i, ok := inRun(&part[k]); ok {
				if keepY, _ := pick(&kept[i], &part[k]); keepY {
					lost[i] = true
				}
			}
		}
	}
	reported := make([]bool, len(kept))
	for i := range kept {
		if lost[i] {
			dropped[kept[i].Off] = true
		}
	}
	for _, part := range parts {
		for k := range part {
			e := &part[k]
			i, ok := inRun(e)
			switch {
			case !ok:
			case !lost[i]:
				settle(&kept[i], e)
			case !reported[i]:
				if keepY, _ := pick(&kept[i], e); keepY { // the run is dropped once
					ov = append(ov, Overlap{Kept: e.Off, Dropped: kept[i].Off, DroppedSeq: kept[i].Seq})
					reported[i] = true
				}
			}
		}
	}
	for w, part := range parts {
		parts[w] = slices.DeleteFunc(part, func(e Entry) bool { return dropped[e.Off] })
	}
	return ov
}

// pick decides between two records whose extents overlap, y's head inside
// x's extent: whether y is kept, and whether the loser is dropped silently
// (nothing written: it lies inside x's bytes, and freeing it would write
// into x's value).
//
//   - y inside x's bytes: if x verified, y is an image inside its value; if
//     y verified and x did not (its value meets a bad block), x is stale
//     (a newer x would have overwritten y); if neither verified, y is
//     taken for an image too: the bytes belong to the record placed first.
//   - y in x's slack (past its bytes): a y that did not verify loses (its
//     header may be an image of old bytes left there, its sequence number
//     anything); else the higher sequence number wins, a tie keeps x.
//
// What this gives up: a newer record on a bad block, written into the
// chunks of a record freed lazily before a crash, loses to the older one.
func pick(x, y *Entry) (keepY, silent bool) {
	inBytes := y.Off < x.Off+x.Size()
	switch {
	case inBytes && !x.Damaged:
		return false, true
	case inBytes && !y.Damaged:
		return true, false
	case inBytes:
		return false, true
	case y.Damaged:
		return false, false
	}
	return y.Seq > x.Seq, false
}

// scanChunk appends the valid records of chunk ch to es, in offset order.
// At each 64-byte offset a valid record is taken and skipped by its length;
// anything else advances 64 bytes. A record's extent, as the allocator
// hands it out, can be longer than the record (large extents are whole
// pages, runs whole chunks), so a valid record may start inside the extent
// of the one before it. Of two such records only the one with the higher
// sequence number is kept (ties keep the lower offset); the other is
// reported in *ov. The entries kept never overlap: each starts at or after
// the end of the extent of the one kept before it; a record that did not
// verify (Damaged) never wins that way (pick). (Only the mutation gate
// passes resolve false.) plan says what findRuns learned of the chunk: a
// verified run at its start, taken as it is, or the offset past the bytes
// of the run that owns it, where the scan starts.
//
// The bad ranges are never read: the scan jumps over them. A record whose
// header and key are readable but whose value meets a bad range is taken as
// Damaged, unverified.
func scanChunk(c *Codec, mem []byte, chunkSize, ch int64, bad, holes []daxmap.Range, plan runPlan, es []Entry, ov *[]Overlap, resolve bool) []Entry {
	start, limit := ch*chunkSize, (ch+1)*chunkSize
	if ch == 0 {
		start = HeapStart
	}
	start = max(start, plan.start)
	first := len(es) // this chunk's entries are es[first:]
	for off := start; off+HeaderSize <= limit; {
		if r, hit := firstBad(holes, off, off+HeaderSize); hit { // zeros: no header
			off = max(off+RecordAlign, alignUp(r.End()))
			continue
		}
		var e Entry
		var ok bool
		if plan.head != nil && plan.head.Off == off {
			e, ok = *plan.head, true
		} else {
			var next int64
			if e, next, ok = probe(c, mem, off, limit, bad); !ok {
				off = next
				continue
			}
		}
		off += e.Size()
		if n := len(es); resolve && n > first && es[n-1].Off+c.Extent(es[n-1].Size()) > e.Off {
			prev := &es[n-1]
			if keep, _ := pick(prev, &e); keep { // e lies in prev's slack: the scan skips prev's bytes
				*ov = append(*ov, Overlap{Kept: e.Off, Dropped: prev.Off, DroppedSeq: prev.Seq})
				*prev = e
			} else {
				*ov = append(*ov, Overlap{Kept: prev.Off, Dropped: e.Off, DroppedSeq: e.Seq})
			}
			continue
		}
		es = append(es, e)
	}
	return es
}

// probe decodes the record at off, whose extent must end by limit (a run's
// bytes by the end of mem), jumping over the bad ranges: a record whose
// header and key are readable but whose value meets one is returned
// Damaged, unverified. When there is no record at off it returns the next
// offset to try.
func probe(c *Codec, mem []byte, off, limit int64, bad []daxmap.Range) (e Entry, next int64, ok bool) {
	if r, hit := firstBad(bad, off, off+HeaderSize); hit {
		return e, max(off+RecordAlign, alignUp(r.End())), false
	}
	damaged := false
	h, ok := c.plausible(mem, off, limit)
	if ok {
		if r, hit := firstBad(bad, off, off+h.Size()); hit {
			if _, keyHit := firstBad(bad, off, off+HeaderSize+int64(h.KeyLen)); keyHit {
				return e, max(off+RecordAlign, alignUp(r.End())), false
			}
			damaged = true
		} else {
			h, ok = c.Decode(mem, off, limit)
		}
	}
	if !ok {
		return e, off + RecordAlign, false
	}
	p0, p1 := Prefix(Key(mem, off, &h))
	return Entry{P0: p0, P1: p1, Off: off, Seq: h.Seq, KeyLen: uint16(h.KeyLen), Flags: h.Flags, ValLen: uint32(h.ValLen), Tag: h.Tag, Damaged: damaged}, 0, true
}

// keyGroups yields the runs of entries of one key in all (sorted by
// compareEntries: each run is highest sequence number first).
func keyGroups(mem []byte, all []Entry) iter.Seq[[]Entry] {
	return func(yield func([]Entry) bool) {
		for i := 0; i < len(all); {
			j := i + 1
			for j < len(all) && sameKey(mem, &all[i], &all[j]) {
				j++
			}
			if !yield(all[i:j]) {
				return
			}
			i = j
		}
	}
}

// CompareKeys orders two keys given as their 16-byte prefixes (Prefix), the
// bytes past the first 16 (empty for shorter keys) and their lengths; the
// result equals bytes.Compare of the whole keys. It is the one definition of
// key order: the scan sorts records by it, and package kv's B-tree orders
// its items by it (their key tails are strings, hence the type parameter).
func CompareKeys[T ~string | ~[]byte](a0, a1 uint64, aRest T, aLen int, b0, b1 uint64, bRest T, bLen int) int {
	switch {
	case a0 != b0:
		return cmp.Compare(a0, b0)
	case a1 != b1:
		return cmp.Compare(a1, b1)
	}
	// Equal zero-padded prefixes: the tails decide, then the lengths (a
	// key that is a prefix of the other is the smaller).
	for i := range min(len(aRest), len(bRest)) {
		if aRest[i] != bRest[i] {
			return cmp.Compare(aRest[i], bRest[i])
		}
	}
	return cmp.Compare(aLen, bLen)
}

// compareKeys orders two entries by key bytes.
func compareKeys(mem []byte, a, b *Entry) int {
	var aRest, bRest []byte
	if a.KeyLen > 16 {
		aRest = a.Key(mem)[16:]
	}
	if b.KeyLen > 16 {
		bRest = b.Key(mem)[16:]
	}
	return CompareKeys(a.P0, a.P1, aRest, int(a.KeyLen), b.P0, b.P1, bRest, int(b.KeyLen))
}

func sameKey(mem []byte, a, b *Entry) bool { return compareKeys(mem, a, b) == 0 }

// sortEntries sorts es by key, then by sequence number descending.
func sortEntries(mem []byte, es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int { return compareEntries(mem, &a, &b) })
}

// compareEntries orders by key, then by sequence number descending, then by
// offset so that the order is total.
func compareEntries(mem []byte, a, b *Entry) int {
	if c := compareKeys(mem, a, b); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Seq, a.Seq); c != 0 {
		return c
	}
	return cmp.Compare(a.Off, b.Off)
}

// mergeSorted merges the workers' sorted slices into one, pairwise and in
// parallel (comparing long keys reads the pool, so each merge is guarded).
func mergeSorted(mem []byte, parts [][]Entry, workers int) ([]Entry, error) {
	for len(parts) > 1 {
		next := make([][]Entry, (len(parts)+1)/2)
		first := newFirstError()
		var wg sync.WaitGroup
		for i := 0; i < len(parts); i += 2 {
			if i+1 == len(parts) {
				next[i/2] = parts[i]
				continue
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				first.set(Guard(mem, func() error {
					next[i/2] = merge2(mem, parts[i], parts[i+1])
					return nil
				}))
			}(i)
		}
		wg.Wait()
		if err := first.get(); err != nil {
			return nil, err
		}
		parts = next
	}
	if len(parts) == 0 {
		return nil, nil
	}
	return parts[0], nil
}

func merge2(mem []byte, a, b []Entry) []Entry {
	out := make([]Entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if compareEntries(mem, &a[0], &b[0]) <= 0 {
			out = append(out, a[0])
			a = a[1:]
		} else {
			out = append(out, b[0])
			b = b[1:]
		}
	}
	out = append(out, a...)
	return append(out, b...)
}
