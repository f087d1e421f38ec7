package recovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
)

// Layout: index checkpoint (part of the format: do not change). A file of
// its own beside the pool, written by a clean Close; all integers
// little-endian.
//
//	 0 +----------------+ magic "DAXKVIX\x00"
//	 8 | version  u32   | checkpoint version (1)
//	12 | tweak    u32   | 0; 1 where the check would otherwise be 0
//	16 | uuid   [16]B   | the pool's identity (Superblock.UUID)
//	32 | count    u64   | live records listed
//	40 | list count*24B | per live record, in key order: ref u64 (offset<<16 | key
//	   |                | length), then the key's first 16 bytes as two big-endian
//	   |                | u64 (zero padded: Prefix)
//	   | check    u64   | xxhash64 (seed 0) of every byte before it
//	   +----------------+
//
// The superblock copy written by the same clean Close holds the file's
// check (Superblock.Index): a checkpoint is used only when the pool's
// superblock names exactly its bytes, which a writable open clears before
// its first write. The file is a cache: without it, or with any doubt
// about it, Open scans the pool as after a crash.
const (
	CheckpointVersion = 1
	checkpointHeader  = 40
	listedSize        = 24
)

// Listed is a checkpoint's line for one live record.
type Listed struct {
	Ref    uint64 // offset<<16 | key length
	P0, P1 uint64 // the key's first 16 bytes (Prefix)
}

// Off is the record's offset.
func (l *Listed) Off() int64 { return int64(l.Ref >> 16) }

// KeyLen is the record's key length.
func (l *Listed) KeyLen() int { return int(l.Ref & 0xffff) }

var checkpointMagic = [8]byte{'D', 'A', 'X', 'K', 'V', 'I', 'X', 0}

// ErrStaleCheckpoint is wrapped by the errors of DecodeCheckpoint and
// RecoverIndexed when a checkpoint cannot stand for the pool: the caller
// scans instead.
var ErrStaleCheckpoint = errors.New("daxkv: index checkpoint does not match the pool")

func stale(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrStaleCheckpoint, fmt.Sprintf(format, args...))
}

// EncodeCheckpoint returns the checkpoint of a pool with identity uuid
// whose live records are list, in key order, and its check, which is never
// zero (zero in the superblock means no checkpoint).
func EncodeCheckpoint(uuid [16]byte, list []Listed) ([]byte, uint64) {
	b := make([]byte, checkpointHeader+listedSize*len(list)+8)
	copy(b[0:8], checkpointMagic[:])
	binary.LittleEndian.PutUint32(b[8:], CheckpointVersion)
	copy(b[16:32], uuid[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(len(list)))
	for i, l := range list {
		o := checkpointHeader + listedSize*i
		binary.LittleEndian.PutUint64(b[o:], l.Ref)
		binary.BigEndian.PutUint64(b[o+8:], l.P0)
		binary.BigEndian.PutUint64(b[o+16:], l.P1)
	}
	end := len(b) - 8
	sum := xxhash.Sum64(b[:end])
	if sum == 0 {
		// Zero is "none" in the superblock; the tweak changes the sum.
		b[12] = 1
		sum = xxhash.Sum64(b[:end])
	}
	binary.LittleEndian.PutUint64(b[end:], sum)
	return b, sum
}

// IsCheckpoint reports whether head, a file's first 8 bytes, are a
// checkpoint's magic.
func IsCheckpoint(head []byte) bool { return len(head) >= 8 && [8]byte(head[:8]) == checkpointMagic }

// MaxCheckpointSize bounds the checkpoint of a pool of poolSize bytes: one
// ref per 64-byte record at most.
func MaxCheckpointSize(poolSize int64) int64 {
	return checkpointHeader + listedSize*(poolSize/RecordAlign) + 8
}

// DecodeCheckpoint returns the list of checkpoint b when b is the
// checkpoint sb names (Superblock.Index) for a pool that was closed
// cleanly, and an error wrapping ErrStaleCheckpoint otherwise.
func DecodeCheckpoint(b []byte, sb *Superblock) ([]Listed, error) {
	switch {
	case !sb.Clean() || sb.Index == 0:
		return nil, stale("the pool names no checkpoint")
	case len(b) < checkpointHeader+8 || (len(b)-checkpointHeader-8)%listedSize != 0:
		return nil, stale("checkpoint of %d bytes", len(b))
	case [8]byte(b[0:8]) != checkpointMagic:
		return nil, stale("bad checkpoint magic")
	}
	end := len(b) - 8
	sum := binary.LittleEndian.Uint64(b[end:])
	switch {
	case sum != sb.Index:
		return nil, stale("checkpoint %#x, the superblock names %#x", sum, sb.Index)
	case xxhash.Sum64(b[:end]) != sum:
		return nil, stale("checkpoint checksum mismatch")
	}
	n := binary.LittleEndian.Uint64(b[32:])
	switch {
	case binary.LittleEndian.Uint32(b[8:]) != CheckpointVersion:
		return nil, stale("checkpoint version %d", binary.LittleEndian.Uint32(b[8:]))
	case [16]byte(b[16:32]) != sb.UUID:
		return nil, stale("checkpoint of another pool")
	case n != uint64(end-checkpointHeader)/listedSize:
		return nil, stale("checkpoint lists %d records in %d bytes", n, end-checkpointHeader)
	}
	list := make([]Listed, n)
	for i := range list {
		o := checkpointHeader + listedSize*i
		list[i] = Listed{Ref: binary.LittleEndian.Uint64(b[o:]),
			P0: binary.BigEndian.Uint64(b[o+8:]), P1: binary.BigEndian.Uint64(b[o+16:])}
	}
	return list, nil
}

// RecoverIndexed recovers a cleanly closed pool whose live records are
// listed by its checkpoint (list, from DecodeCheckpoint), without the scan:
// a clean Close leaves exactly one valid record per key on the media
// (Check's rule for a clean pool), and the checkpoint lists them. Every
// listed record is still read and verified, in offset order: its checksum,
// that it is a live value below the floor, of the listed key length and
// prefix, inside the pool, in an extent the allocator could have handed
// out and overlapping no other; and the list must be in strict key order
// and the batch log empty. Any doubt returns an error wrapping
// ErrStaleCheckpoint: the caller then scans. A memory fault returns a
// CorruptError, as the scan would. The Result has no Live: the caller
// builds its index from list.
//
// progress, when set, is told the records verified so far, one call at a
// time. A clean pool needs no repair, so nothing is written; with p nil (a
// read-only open) the allocator is not built.
func RecoverIndexed(mem []byte, poolSize int64, sb *Superblock, p flush.Persister, list []Listed, sc Scan, progress func(done, total int)) (res *Result, err error) {
	err = Guard(mem, func() error {
		res, err = recoverIndexed(mem, poolSize, sb, p, list, sc, progress)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func recoverIndexed(mem []byte, poolSize int64, sb *Superblock, p flush.Persister, list []Listed, sc Scan, progress func(done, total int)) (*Result, error) {
	c := NewCodec(sb)
	if poolSize%sb.ChunkSize != 0 || poolSize < sb.ChunkSize || poolSize > int64(len(mem)) {
		return nil, corruptf(poolSize, "pool size %d is not a whole number of %d-byte chunks", poolSize, sb.ChunkSize)
	}
	mem = mem[:poolSize] // a run's bytes must end inside the pool (Decode)
	if len(sc.Bad) > 0 {
		return nil, stale("the media has bad blocks")
	}
	if cs := c.Commits(mem); len(cs) > 0 {
		return nil, stale("batch log slot %d holds committed batch %d", cs[0].Slot, cs[0].Seq)
	}
	if used := usedSlots(mem); len(used) > 0 && p != nil {
		// Words an older release left (see ClearCommit): the full open
		// clears them, once.
		return nil, stale("batch log slot %d holds the words of a cleared batch", used[0])
	}
	var want uint64 // the lines' digest, which the records must match
	for i := range list {
		want += lineDigest(list[i].Ref, list[i].P0, list[i].P1)
		if i == 0 {
			continue
		}
		a, b := &list[i-1], &list[i]
		if a.P0 < b.P0 || a.P0 == b.P0 && a.P1 < b.P1 {
			continue
		}
		// Equal prefixes: the tails decide (read from the pool: a record
		// whose prefix is not the listed one fails its check below).
		if compareListed(mem, poolSize, a, b) >= 0 {
			return nil, stale("offset %d: not in key order after offset %d", b.Off(), a.Off())
		}
	}
	refs, err := byOffset(list, poolSize, sc.Workers)
	if err != nil {
		return nil, err
	}
	sizes, got, err := verifyListed(c, mem, poolSize, sb, refs, sc.Workers, progress)
	if err != nil {
		return nil, err
	}
	if got != want {
		return nil, stale("the records' keys are not the listed ones")
	}
	// In offset order, an extent overlaps another only if it overlaps the
	// one before it.
	b := alloc.NewBuilder(sb.ChunkSize, HeapStart, poolSize)
	end := int64(0)
	for i, ref := range refs {
		off, n := int64(ref>>16), int64(sizes[i])
		if err := b.ValidExtent(off, n); err != nil {
			return nil, stale("offset %d: %v", off, err)
		}
		if off < end {
			return nil, stale("offset %d: overlaps the listed record before it", off)
		}
		end = off + b.SizeOf(n)
		b.Use(off, n)
	}
	res := &Result{Floor: sb.SeqFloor, Chunks: int(poolSize / sb.ChunkSize), Records: len(list), Used: b.LiveBytes()}
	if p != nil {
		res.Alloc = b.Build()
	}
	return res, nil
}

// compareListed orders two listed keys whose prefixes are equal, reading
// their tails from the pool.
func compareListed(mem []byte, poolSize int64, a, b *Listed) int {
	tail := func(l *Listed) []byte {
		off, n := l.Off(), int64(l.KeyLen())
		if n <= 16 || off < HeapStart || off+HeaderSize+n > poolSize {
			return nil
		}
		return mem[off+HeaderSize+16 : off+HeaderSize+n]
	}
	return CompareKeys(a.P0, a.P1, tail(a), a.KeyLen(), b.P0, b.P1, tail(b), b.KeyLen())
}

// verifyListed verifies the record of every ref (in offset order),
// workers at a time over parts of them, and returns their record sizes, in
// that order, and the sum of their lines' digests (lineDigest).
func verifyListed(c *Codec, mem []byte, poolSize int64, sb *Superblock, refs []uint64, workers int, progress func(done, total int)) ([]int32, uint64, error) {
	sizes := make([]int32, len(refs))
	workers, part := WorkParts(len(refs), workers)
	var (
		mu     sync.Mutex // progress calls in order, one at a time
		done   int
		wg     sync.WaitGroup
		digest atomic.Uint64
	)
	firstErr := newFirstError()
	for w := 0; w < workers; w++ {
		lo, hi := w*part, min((w+1)*part, len(refs))
		wg.Add(1)
		go func() {
			defer wg.Done()
			firstErr.set(Guard(mem, func() error {
				var sum uint64
				for j := lo; j < hi; j++ {
					n, d, err := verifyOne(c, mem, poolSize, sb, refs[j])
					if err != nil {
						return err
					}
					sizes[j], sum = int32(n), sum+d
					if progress != nil && ((j-lo)%4096 == 4095 || j == hi-1) {
						mu.Lock()
						done += (j-lo)%4096 + 1
						progress(done, len(refs))
						mu.Unlock()
					}
				}
				digest.Add(sum)
				return nil
			}))
		}()
	}
	wg.Wait()
	if err := firstErr.get(); err != nil {
		return nil, 0, err
	}
	return sizes, digest.Load(), nil
}

// byOffset returns the refs of list sorted by offset (a parallel LSD radix
// sort of the offsets in 64-byte units, 11 bits a pass, workers at a
// time), or an error for an offset outside the pool.
func byOffset(list []Listed, poolSize int64, workers int) ([]uint64, error) {
	src, dst := make([]uint64, len(list)), make([]uint64, len(list))
	for i := range list {
		if off := list[i].Off(); off < 0 || off >= poolSize {
			return nil, stale("listed offset %d, past the pool", off)
		}
		src[i] = list[i].Ref
	}
	const bitsPerPass = 11
	const digits = 1 << bitsPerPass
	workers, part := WorkParts(len(list), workers)
	counts := make([][digits]int, workers)
	// A ref is offset<<16 | key length, offsets 64-byte aligned: the sort
	// key is bits 22 and up.
	for shift := 22; uint64(poolSize/RecordAlign)>>(shift-22) > 0; shift += bitsPerPass {
		Parallel(workers, func(w int) {
			clear(counts[w][:])
			for _, r := range src[w*part : min((w+1)*part, len(src))] {
				counts[w][r>>shift&(digits-1)]++
			}
		})
		// Worker w's refs of digit d go after every ref of a lower digit
		// and after the refs of digit d of the workers before it: the
		// sort stays stable.
		next := 0
		for d := range digits {
			for w := range workers {
				c := counts[w][d]
				counts[w][d] = next
				next += c
			}
		}
		Parallel(workers, func(w int) {
			at := &counts[w]
			for _, r := range src[w*part : min((w+1)*part, len(src))] {
				d := r >> shift & (digits - 1)
				dst[at[d]] = r
				at[d]++
			}
		})
		src, dst = dst, src
	}
	return src, nil
}

// lineDigest mixes a listed line into 64 bits (the splitmix64 finalizer):
// the sum over a list is a digest of it in any order.
func lineDigest(ref, p0, p1 uint64) uint64 {
	mix := func(z uint64) uint64 {
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		return z ^ z>>31
	}
	return mix(ref ^ mix(p0^mix(p1)))
}

// WorkParts splits n items among goroutines: at most workers of them, and
// at most one per 4,096 items (at least one). It returns how many to start
// and the items each takes: goroutine w takes [w*part, min((w+1)*part, n)),
// which is never empty when n > 0 (none starts past n).
func WorkParts(n, workers int) (int, int) {
	workers = max(1, min(workers, n/4096))
	part := (n + workers - 1) / workers
	if part > 0 {
		workers = (n + part - 1) / part // no goroutine starts past n
	}
	return workers, part
}

// Parallel runs fn(0) .. fn(workers-1) on goroutines of their own and
// waits for them (with WorkParts, a parallel pass over items).
func Parallel(workers int, fn func(w int)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w)
		}()
	}
	wg.Wait()
}

// verifyOne verifies the live record ref names and returns its size and
// its line's digest.
func verifyOne(c *Codec, mem []byte, poolSize int64, sb *Superblock, ref uint64) (int64, uint64, error) {
	off, keyLen := int64(ref>>16), int(ref&0xffff)
	if off < HeapStart || off%RecordAlign != 0 || off >= poolSize {
		return 0, 0, stale("listed offset %d", off)
	}
	limit := (off/sb.ChunkSize + 1) * sb.ChunkSize
	h, ok := c.Decode(mem, off, limit)
	switch {
	case !ok:
		return 0, 0, stale("offset %d: no valid record", off)
	case h.Tag != TagLive || h.Flags&FlagTombstone != 0:
		return 0, 0, stale("offset %d: the record is not a live value", off)
	case h.KeyLen != keyLen:
		return 0, 0, stale("offset %d: key of %d bytes, the checkpoint says %d", off, h.KeyLen, keyLen)
	case h.Seq >= sb.SeqFloor:
		return 0, 0, stale("offset %d: sequence number %d at or above the floor %d", off, h.Seq, sb.SeqFloor)
	}
	p0, p1 := Prefix(Key(mem, off, &h))
	return h.Size(), lineDigest(ref, p0, p1), nil
}
