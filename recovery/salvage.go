package recovery

import (
	"bytes"
	"errors"
	"os"

	"github.com/daxkv/daxkv/daxmap"
)

// SalvageReport is what Salvage saved and lost.
type SalvageReport struct {
	Keys    int            // keys handed to the callback
	Bytes   int64          // their keys' and values' bytes
	Bad     []daxmap.Range // ranges that could not be read: known bad blocks, and pages that faulted
	Damaged [][]byte       // keys whose newest record lies on a bad range (not saved)
}

// Salvage reads every key the recovery rule keeps in a damaged pool and
// hands it to fn (slices into mem, valid during the call), never writing to
// mem. Where Recover stops at the first memory fault, Salvage records the
// faulting page as bad and scans on around it, so that one bad block costs
// the records on it, not the pool. A key whose newest record meets a bad
// range is reported in Damaged, not saved; a key whose records all lie
// inside bad ranges cannot be seen at all (hence Bad). The holes of
// sc.Holes are passed over, as a scan at open passes them. An error from
// fn stops it.
func Salvage(mem []byte, poolSize int64, sb *Superblock, sc Scan, fn func(key, value []byte) error) (*SalvageReport, error) {
	c := NewCodec(sb)
	if poolSize%sb.ChunkSize != 0 || poolSize < sb.ChunkSize || poolSize > int64(len(mem)) {
		return nil, corruptf(poolSize, "pool size %d is not a whole number of %d-byte chunks", poolSize, sb.ChunkSize)
	}
	mem = mem[:poolSize] // a run's bytes must end inside the pool (Decode)
	rep := &SalvageReport{}
	var commits []Commit
	if err := Guard(mem, func() error {
		commits = c.Commits(mem)
		return nil
	}); err != nil {
		return nil, err // the log is in the first chunk's first pages
	}
	bad := append([]daxmap.Range(nil), sc.Bad...)
	var all []Entry
	chunks := poolSize / sb.ChunkSize
	page := int64(os.Getpagesize())
	// The runs first (findRuns), chunk by chunk: a page that faults is bad
	// from now on, and only that chunk is probed again.
	var runs []Entry
	for ch := int64(1); c.runs && ch < chunks; ch++ {
		for {
			var e Entry
			var ok bool
			err := Guard(mem, func() error {
				e, ok = runAt(c, mem, sb.ChunkSize, ch, bad, sc.Holes)
				return nil
			})
			if err == nil {
				if ok {
					runs = append(runs, e)
				}
				break
			}
			ce := asCorrupt(err)
			if ce == nil || ce.Off < 0 {
				return nil, err
			}
			bad = daxmap.MergeRanges(append(bad, daxmap.Range{Off: ce.Off / page * page, Len: page}))
		}
	}
	plan := planRuns(c, outermost(runs))
	for ch := int64(0); ch < chunks; ch++ {
		es, chBad := salvageChunk(c, mem, sb.ChunkSize, ch, bad, sc.Holes, plan[ch])
		all = append(all, es...)
		bad = chBad
		if sc.Progress != nil {
			sc.Progress(int(ch+1), int(chunks))
		}
	}
	rep.Bad = bad
	parts := [][]Entry{all}
	resolveRuns(c, parts)
	all = parts[0]
	committed := committedBatches(commits, all)
	// Sorting and grouping read long keys from the pool, which can fault
	// now (a file truncated since the scan): guarded, like every read.
	var stop error
	err := Guard(mem, func() error {
		stop = saveAll(mem, all, committed, sc, rep, fn)
		return nil
	})
	if stop != nil {
		return rep, stop
	}
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// saveAll hands the winner of every key in all to fn, as Salvage says; it
// returns fn's error. It runs under the caller's guard.
func saveAll(mem []byte, all []Entry, committed map[uint64]bool, sc Scan, rep *SalvageReport, fn func(key, value []byte) error) error {
	sortEntries(mem, all)
	keys, done := 0, 0
	if sc.Saving != nil {
		for range keyGroups(mem, all) {
			keys++
		}
	}
	for g := range keyGroups(mem, all) {
		if sc.Saving != nil && done > 0 && done%1000 == 0 {
			sc.Saving(done, keys) // the keys before this one are handed over
		}
		done++
		w := winner(g, committed)
		if w < 0 || g[w].Flags&FlagTombstone != 0 {
			continue
		}
		e := &g[w]
		if e.Damaged {
			saveDamaged(mem, e, rep, nil)
			continue
		}
		var stop error
		err := Guard(mem, func() error {
			h := Header{KeyLen: int(e.KeyLen), ValLen: int(e.ValLen)}
			k, v := Key(mem, e.Off, &h), Value(mem, e.Off, &h)
			if stop = fn(k, v); stop == nil {
				rep.Keys++
				rep.Bytes += int64(len(k) + len(v))
			}
			return nil
		})
		if stop != nil {
			return stop
		}
		var ce *CorruptError
		if errors.As(err, &ce) { // its value faulted after all
			saveDamaged(mem, e, rep, ce)
		}
	}
	if sc.Saving != nil {
		sc.Saving(keys, keys)
	}
	return nil
}

// saveDamaged reports the key of e, a winner that cannot be read whole, in
// rep.Damaged; when its key cannot be read either, the pages of the faults
// (the key's, and ce's if not nil) go into rep.Bad instead.
func saveDamaged(mem []byte, e *Entry, rep *SalvageReport, ce *CorruptError) {
	var k []byte
	err := Guard(mem, func() error {
		k = bytes.Clone(e.Key(mem))
		return nil
	})
	if err == nil {
		rep.Damaged = append(rep.Damaged, k)
		return
	}
	page := int64(os.Getpagesize())
	for _, c := range []*CorruptError{ce, asCorrupt(err)} {
		if c != nil && c.Off >= 0 {
			rep.Bad = daxmap.MergeRanges(append(rep.Bad, daxmap.Range{Off: c.Off / page * page, Len: page}))
		}
	}
}

// asCorrupt returns err as a CorruptError, or nil.
func asCorrupt(err error) *CorruptError {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return ce
	}
	return nil
}

// salvageChunk scans chunk ch, as plan says (findRuns), around the bad ranges, adding the page of
// every fault it meets to them, and returns the chunk's entries and the
// bad ranges as they are now.
func salvageChunk(c *Codec, mem []byte, chunkSize, ch int64, bad, holes []daxmap.Range, plan runPlan) ([]Entry, []daxmap.Range) {
	page := int64(os.Getpagesize())
	for {
		var es []Entry
		var ov []Overlap
		err := Guard(mem, func() error {
			es = scanChunk(c, mem, chunkSize, ch, bad, holes, plan, nil, &ov, true)
			return nil
		})
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Off < 0 {
			return es, bad
		}
		// A page that faults: bad from now on, and scan the chunk again.
		bad = append(bad, daxmap.Range{Off: ce.Off / page * page, Len: page})
		bad = daxmap.MergeRanges(bad)
	}
}
