package recovery

import (
	"fmt"
)

// Report is what Check found in a pool.
type Report struct {
	Chunks   int      // chunks scanned
	Records  int      // valid records
	Keys     int      // distinct keys with a live record
	Bytes    int64    // bytes in the extents of valid records
	Problems []string // one line per inconsistency; empty when the pool is clean
}

// Check verifies a quiescent pool (closed, or open with every writer
// stopped) without changing it: both superblock copies, the batch log, and
// every record. A clean pool has one valid copy of each superblock, no
// committed batch left in the log, no pending record, exactly one live
// record per key, and no two records whose extents overlap. Crash images
// are not clean until Recover has run on them. It returns an error wrapping
// ErrCorrupt when the pool cannot be read at all (a memory fault among
// them); inconsistencies go into Report.Problems, with their offsets.
func Check(mem []byte, poolSize int64, workers int) (rep *Report, err error) {
	err = Guard(mem, func() error {
		rep, err = check(mem, poolSize, workers)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// check is Check's work, on the caller's goroutine, under its Guard.
func check(mem []byte, poolSize int64, workers int) (*Report, error) {
	sb, err := ReadSuperblock(mem)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	for i, off := range []int64{superOff0, superOff1} {
		if _, err := decodeSuperblock(mem[off:], off); err != nil {
			rep.Problems = append(rep.Problems, fmt.Sprintf("superblock copy %d: %v", i, err))
		}
	}
	if poolSize%sb.ChunkSize != 0 || poolSize < sb.ChunkSize || poolSize > int64(len(mem)) {
		return nil, corruptf(poolSize, "pool size %d is not a whole number of %d-byte chunks", poolSize, sb.ChunkSize)
	}
	c := NewCodec(&sb)
	for _, cm := range c.Commits(mem) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("batch log slot %d still holds committed batch %d", cm.Slot, cm.Seq))
	}
	rep.Chunks = int(poolSize / sb.ChunkSize)
	parts, overlaps, err := scanChunks(c, mem, sb.ChunkSize, rep.Chunks, workers)
	if err != nil {
		return nil, err
	}
	for _, o := range overlaps {
		rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: record overlaps the extent of the record at offset %d, which has the higher sequence number (recovery frees the first)", o.Dropped, o.Kept))
	}
	all, err := mergeSorted(mem, parts, workers)
	if err != nil {
		return nil, err
	}
	rep.Records = len(all) + len(overlaps)
	for i := range all {
		e := &all[i]
		rep.Bytes += e.Size()
		if e.Tag == TagPending {
			rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: pending record of batch %d", e.Off, e.Seq))
		}
		if e.Flags&FlagTombstone != 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: tombstone left behind by batch %d", e.Off, e.Seq))
		}
		if e.Seq >= sb.SeqFloor && sb.Clean() {
			rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: sequence number %d at or above the floor %d of a cleanly closed pool", e.Off, e.Seq, sb.SeqFloor))
		}
		if i > 0 && sameKey(mem, &all[i-1], e) {
			rep.Problems = append(rep.Problems, fmt.Sprintf("offset %d: second valid record of key %q (other at offset %d)", e.Off, e.Key(mem), all[i-1].Off))
			continue
		}
		rep.Keys++
	}
	return rep, nil
}
