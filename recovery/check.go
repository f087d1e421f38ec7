package recovery

import (
	"fmt"

	"github.com/daxkv/daxkv/alloc"
)

// Report is what Check found in a pool.
type Report struct {
	Chunks   int      // chunks scanned
	Records  int      // valid records
	Keys     int      // distinct keys with a live record
	Bytes    int64    // bytes in the extents of valid records
	Problems []string // one line per inconsistency; empty when the pool is clean

	// Unsettled lists, for a pool that was not closed cleanly, what the
	// crash left for the next writable open to settle (a torn superblock
	// copy, older versions, pending records of batches, tombstones,
	// committed log slots, overlapping records). They are not problems:
	// Keys counts the keys the recovery rule keeps.
	Unsettled []string
}

// Check verifies a quiescent pool (closed, or open with every writer
// stopped) without changing it: both superblock copies, the batch log, and
// every record. A cleanly closed pool has one valid copy of each
// superblock, no committed batch left in the log, no pending record,
// exactly one live record per key, no sequence number at or above the
// floor, and no two records whose extents overlap. In a pool that was not
// closed cleanly, what Recover would settle is listed in Unsettled instead. It returns an error wrapping
// ErrCorrupt when the pool cannot be read at all (a memory fault among
// them); inconsistencies go into Report.Problems, with their offsets.
func Check(mem []byte, poolSize int64, sc Scan) (rep *Report, err error) {
	err = Guard(mem, func() error {
		rep, err = check(mem, poolSize, sc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// check is Check's work, on the caller's goroutine, under its Guard.
func check(mem []byte, poolSize int64, sc Scan) (*Report, error) {
	sb, err := ReadSuperblock(mem)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	// In a pool that was not closed cleanly, what a crash leaves for the
	// next writable open to settle goes into Unsettled: a superblock copy
	// torn by an update, older versions, pending records, tombstones,
	// committed log slots, and records overlapping an extent whose previous
	// record's free had not reached the media (allocate reuses a reclaimed
	// extent before the next fence makes the free durable).
	leftover := &rep.Problems
	if !sb.Clean() {
		leftover = &rep.Unsettled
	}
	for i, off := range []int64{superOff0, superOff1} {
		if _, err := decodeSuperblock(mem[off:], off); err != nil {
			*leftover = append(*leftover, fmt.Sprintf("superblock copy %d: %v", i, err))
		}
	}
	if poolSize%sb.ChunkSize != 0 || poolSize < sb.ChunkSize || poolSize > int64(len(mem)) {
		return nil, corruptf(poolSize, "pool size %d is not a whole number of %d-byte chunks", poolSize, sb.ChunkSize)
	}
	mem = mem[:poolSize] // a run's bytes must end inside the pool (Decode)
	c := NewCodec(&sb)
	commits := c.Commits(mem)
	for _, cm := range commits {
		*leftover = append(*leftover, fmt.Sprintf("batch log slot %d still holds committed batch %d", cm.Slot, cm.Seq))
	}
	rep.Chunks = int(poolSize / sb.ChunkSize)
	for _, r := range sc.Bad {
		rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: %d bytes on a bad block", r.Off, r.Len))
	}
	parts, overlaps, err := scanChunks(c, mem, sb.ChunkSize, rep.Chunks, sc, true)
	if err != nil {
		return nil, err
	}
	for _, o := range overlaps {
		*leftover = append(*leftover, fmt.Sprintf("offset %d: record overlaps the extent of the record at offset %d, which has the higher sequence number (recovery frees the first)", o.Dropped, o.Kept))
	}
	all, err := mergeSorted(mem, parts, sc.Workers)
	if err != nil {
		return nil, err
	}
	rep.Records = len(all) + len(overlaps)
	committed := committedBatches(commits, all)
	for g := range keyGroups(mem, all) {
		w := winner(g, committed)
		for k := range g {
			e := &g[k]
			rep.Bytes += e.Size()
			if e.Damaged {
				rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: record of key %q lies on a bad block", e.Off, e.Key(mem)))
			}
			if err := alloc.ValidExtent(sb.ChunkSize, HeapStart, poolSize, e.Off, e.Size()); err != nil {
				// Never a crash leftover: no allocator places it so.
				rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: record extent: %v", e.Off, err))
			}
			if e.Seq >= sb.SeqFloor && sb.Clean() {
				rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: sequence number %d at or above the floor %d of a cleanly closed pool", e.Off, e.Seq, sb.SeqFloor))
			}
			switch {
			case e.Tag == TagPending:
				*leftover = append(*leftover, fmt.Sprintf("offset %d: pending record of batch %d", e.Off, e.Seq))
			case e.Flags&FlagTombstone != 0:
				*leftover = append(*leftover, fmt.Sprintf("offset %d: tombstone left behind by batch %d", e.Off, e.Seq))
			case k > 0:
				*leftover = append(*leftover, fmt.Sprintf("offset %d: older valid record of key %q (newest at offset %d)", e.Off, e.Key(mem), g[0].Off))
			}
		}
		if w >= 0 && g[w].Flags&FlagTombstone == 0 {
			rep.Keys++
		}
	}
	return rep, nil
}
