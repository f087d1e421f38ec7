package recovery

import (
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
// inside bad ranges cannot be seen at all (hence Bad). An error from fn
// stops it.
func Salvage(mem []byte, poolSize int64, sb *Superblock, sc Scan, fn func(key, value []byte) error) (*SalvageReport, error) {
	c := NewCodec(sb)
	if poolSize%sb.ChunkSize != 0 || poolSize < sb.ChunkSize || poolSize > int64(len(mem)) {
		return nil, corruptf(poolSize, "pool size %d is not a whole number of %d-byte chunks", poolSize, sb.ChunkSize)
	}
	mem = mem[:poolSize] // a run's bytes must end inside the pool (Decode)
	rep := &SalvageReport{}
	committed := map[uint64]bool{}
	if err := Guard(mem, func() error {
		for _, cm := range c.Commits(mem) {
			committed[cm.Seq] = true
		}
		return nil
	}); err != nil {
		return nil, err // the log is in the first chunk's first pages
	}
	bad := append([]daxmap.Range(nil), sc.Bad...)
	var all []Entry
	chunks := poolSize / sb.ChunkSize
	page := int64(os.Getpagesize())
	var runs []Entry
	for {
		var err error
		if runs, err = findRuns(c, mem, sb.ChunkSize, int(chunks), bad, nil, 1); err == nil {
			break
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Off < 0 {
			return nil, err
		}
		// A page that faults: bad from now on, and look again.
		bad = daxmap.MergeRanges(append(bad, daxmap.Range{Off: ce.Off / page * page, Len: page}))
	}
	plan := planRuns(c, runs)
	for ch := int64(0); ch < chunks; ch++ {
		es, chBad := salvageChunk(c, mem, sb.ChunkSize, ch, bad, plan[ch])
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
			rep.Damaged = append(rep.Damaged, append([]byte(nil), e.Key(mem)...))
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
			return rep, stop
		}
		var ce *CorruptError
		if errors.As(err, &ce) { // its value faulted after all
			rep.Damaged = append(rep.Damaged, append([]byte(nil), e.Key(mem)...))
		}
	}
	if sc.Saving != nil {
		sc.Saving(keys, keys)
	}
	return rep, nil
}

// salvageChunk scans chunk ch, as plan says (findRuns), around the bad ranges, adding the page of
// every fault it meets to them, and returns the chunk's entries and the
// bad ranges as they are now.
func salvageChunk(c *Codec, mem []byte, chunkSize, ch int64, bad []daxmap.Range, plan runPlan) ([]Entry, []daxmap.Range) {
	page := int64(os.Getpagesize())
	for {
		var es []Entry
		var ov []Overlap
		err := Guard(mem, func() error {
			es = scanChunk(c, mem, chunkSize, ch, bad, nil, plan, nil, &ov, true)
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
