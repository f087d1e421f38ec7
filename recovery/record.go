package recovery

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/alloc"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/mutant"
)

// Layout: record (part of the format: do not change). At a 64-byte aligned
// heap offset, padded to a multiple of 64.
//
//	 0 +----------------+ state word: bits 63..56 tag, bits 55..0 check
//	 8 | seq      u64   | sequence number (the batch's, for batch records)
//	16 | keylen   u16   | 1..MaxKeySize
//	18 | flags    u16   | bit 0 tombstone, bit 1 written by a batch, bit 2 run
//	20 | vallen   u32   | up to MaxValue (MaxValueSize(chunk) in version 1)
//	24 | key, value    | keylen + vallen bytes, then zero padding
//	   +----------------+
//
// A record longer than half a chunk (RecordSize > chunk/2, format version
// 2 only) is a run: it carries FlagRun, starts on a chunk boundary and owns
// whole chunks, its size rounded up to a multiple of the chunk size; its
// key and value run on through the chunks after the first (continuation
// chunks), which hold no header of their own. Any other record carries no
// FlagRun and lies inside one chunk.
//
// The tag is TagLive, TagPending or TagFree (zero). The check is the low 56
// bits of xxhash64, seeded with seed(uuid, the record's own offset), over
// bytes [8, 24+keylen+vallen). The state word is the only field that ever
// changes after a record is written, always with one aligned 8-byte store:
// freeing a record zeroes its check too, so a freed record never validates
// again, and a record image copied to another offset (inside a value, in
// freed space) never validates because its seed differs.
const (
	HeaderSize  = 24
	RecordAlign = 64
	MaxKeySize  = 4096 // longest key, in bytes

	TagFree    = 0x00 // the extent holds no record
	TagLive    = 0xA5 // a committed record
	TagPending = 0x5A // written by a batch that may not have committed

	FlagTombstone = 1 << 0 // a batch's delete of the key
	FlagBatch     = 1 << 1 // written by a batch
	FlagRun       = 1 << 2 // longer than half a chunk: a run of whole chunks (version 2)

	// MaxValue is the longest value a pool of format version 2 stores,
	// whatever its chunk size: 1 GiB.
	MaxValue = 1 << 30

	checkMask = 1<<56 - 1
)

// RecordSize is the extent size of a record with the given key and value
// lengths: header, key and value rounded up to a multiple of 64.
func RecordSize(keyLen, valLen int) int64 {
	return (HeaderSize + int64(keyLen) + int64(valLen) + RecordAlign - 1) &^ (RecordAlign - 1)
}

// Header is a decoded record header.
type Header struct {
	Tag    uint8
	Check  uint64 // low 56 bits of the checksum, as stored
	Seq    uint64
	KeyLen int
	Flags  uint16
	ValLen int
}

// Size is the record's extent size.
func (h *Header) Size() int64 { return RecordSize(h.KeyLen, h.ValLen) }

func state(tag uint8, sum uint64) uint64 { return uint64(tag)<<56 | sum&checkMask }

// Codec writes and validates records of one pool.
type Codec struct {
	uuid   [16]byte
	maxVal int   // longest value a record of this pool can hold
	chunk  int64 // the pool's chunk size
	runs   bool  // the format has runs (version 2)
}

// NewCodec returns the record codec of the pool described by sb: of its
// format version (sb.Version), which decides whether runs exist.
func NewCodec(sb *Superblock) *Codec {
	c := &Codec{uuid: sb.UUID, chunk: sb.ChunkSize, runs: sb.Version >= 2, maxVal: MaxValue}
	if !c.runs {
		c.maxVal = MaxValueSize(sb.ChunkSize)
	}
	return c
}

// IsRun reports whether a record of size bytes (RecordSize) is a run in a
// pool of chunkSize-byte chunks: longer than half a chunk.
func IsRun(chunkSize, size int64) bool { return size > chunkSize/2 }

// Flags returns flags with FlagRun set when a record of the given key and
// value lengths is a run in this pool (Write applies it).
func (c *Codec) Flags(flags uint16, keyLen, valLen int) uint16 {
	if IsRun(c.chunk, RecordSize(keyLen, valLen)) {
		return flags | FlagRun
	}
	return flags
}

// Extent is the size of the extent the allocator hands out for a record of
// size bytes: whole chunks for a run (alloc.ExtentSize).
func (c *Codec) Extent(size int64) int64 { return alloc.ExtentSize(c.chunk, size) }

// MaxValueSize is the longest value a pool of format version 1 with the
// given chunk size stores: a record must fit in half a chunk, and values
// are capped at 64 MiB.
func MaxValueSize(chunkSize int64) int {
	n := chunkSize/2 - HeaderSize - MaxKeySize
	if n > 64<<20 {
		n = 64 << 20
	}
	return int(n)
}

// MaxValue is the longest value this pool stores.
func (c *Codec) MaxValue() int { return c.maxVal }

func (c *Codec) sum(off int64, fields []byte, key, value []byte) uint64 {
	var d xxhash.Digest
	d.ResetWithSeed(seed(&c.uuid, off))
	_, _ = d.Write(fields)
	_, _ = d.Write(key)
	_, _ = d.Write(value)
	return d.Sum64()
}

// Write writes a complete record at off with the given tag and schedules it
// for durability through p (no drain). FlagRun is set here when the record
// is a run (Flags); the caller passes the other flags. rec must be the record's extent
// (RecordSize bytes). Large values go through p.Copy (non-temporal stores on
// the CPU path). The state word is stored last, in one 8-byte store.
func (c *Codec) Write(p flush.Persister, rec []byte, off int64, tag uint8, seq uint64, flags uint16, key, value []byte) {
	c.write(p, rec, off, tag, seq, c.Flags(flags, len(key), len(value)), key, value)
}

// write is Write with the flags as given (tests craft invalid ones).
func (c *Codec) write(p flush.Persister, rec []byte, off int64, tag uint8, seq uint64, flags uint16, key, value []byte) {
	// The check is taken over a copy of the fields on the stack and over
	// the caller's key and value, not over rec: read back, rec's lines
	// would make the checksum wait for their cache misses (a fresh extent
	// is not in the cache), where the stores below do not wait.
	var fields [HeaderSize - 8]byte
	binary.LittleEndian.PutUint64(fields[0:], seq)
	binary.LittleEndian.PutUint16(fields[8:], uint16(len(key)))
	binary.LittleEndian.PutUint16(fields[10:], flags)
	binary.LittleEndian.PutUint32(fields[12:], uint32(len(value)))
	sum := c.sum(off, fields[:], key, value)
	copy(rec[8:HeaderSize], fields[:])
	copy(rec[HeaderSize:], key)
	vstart := HeaderSize + len(key)
	end := vstart + len(value)
	if flags&FlagRun != 0 && mutant.On(mutant.RunValueNoFlush) {
		copy(rec[vstart:end], value)
		flush.Store64(rec, state(tag, sum))
		p.Flush(rec[:vstart])
		return
	}
	if len(value) >= flush.NTThreshold {
		p.Copy(rec[vstart:end], value)
		flush.Store64(rec, state(tag, sum))
		p.Flush(rec[:vstart])
		return
	}
	copy(rec[vstart:end], value)
	flush.Store64(rec, state(tag, sum))
	p.Flush(rec[:end])
}

// SetTag changes the tag of the valid record at rec, keeping its check, with
// one 8-byte store, and schedules it for durability (no drain).
func SetTag(p flush.Persister, rec []byte, tag uint8) {
	s := binary.LittleEndian.Uint64(rec)
	flush.Store64(rec, state(tag, s))
	p.Flush(rec[:8])
}

// Free zeroes the state word of the record at rec (tag and check) with one
// 8-byte store and schedules it for durability (no drain). The record never
// validates again.
func Free(p flush.Persister, rec []byte) {
	flush.Store64(rec, 0)
	p.Flush(rec[:8])
}

// Decode validates the record at mem[off:] whose extent must end at or
// before limit (the end of its chunk), or, for a run, whose bytes must end
// inside mem: callers pass mem no longer than the pool. ok is false for
// anything that is not a valid record: free space, a torn or stale record,
// garbage.
func (c *Codec) Decode(mem []byte, off, limit int64) (h Header, ok bool) {
	if h, ok = c.plausible(mem, off, limit); !ok {
		return h, false
	}
	end := off + HeaderSize + int64(h.KeyLen) + int64(h.ValLen)
	// The header's fields, key and value lie side by side: one write.
	if c.sum(off, mem[off+8:end], nil, nil)&checkMask != h.Check {
		return h, false
	}
	return h, true
}

// plausible decodes the header at mem[off:] and reports whether its fields
// could be a record's whose extent ends at or before limit: everything
// Decode checks but the checksum (which needs the key and value readable).
func (c *Codec) plausible(mem []byte, off, limit int64) (h Header, ok bool) {
	if off < 0 || off+HeaderSize > limit || limit > int64(len(mem)) {
		return h, false
	}
	h = header(mem, off)
	known := uint16(FlagTombstone | FlagBatch)
	if c.runs {
		known |= FlagRun
	}
	switch {
	case h.Tag != TagLive && h.Tag != TagPending,
		h.KeyLen == 0 || h.KeyLen > MaxKeySize || h.ValLen > c.maxVal || h.Flags&^known != 0,
		h.Flags&FlagTombstone != 0 && (h.ValLen != 0 || h.Flags&FlagBatch == 0),
		h.Tag == TagPending && h.Flags&FlagBatch == 0:
		return h, false
	}
	run := IsRun(c.chunk, h.Size())
	if run != (h.Flags&FlagRun != 0) {
		return h, false
	}
	if run {
		// A run starts on a chunk boundary past chunk 0 (which holds the
		// metadata) and its bytes end inside the pool.
		return h, off%c.chunk == 0 && off >= c.chunk && off+h.Size() <= int64(len(mem))
	}
	return h, off+h.Size() <= limit
}

// Key returns the key bytes of the record at off with header h (a slice of mem).
func Key(mem []byte, off int64, h *Header) []byte {
	k := off + HeaderSize
	return mem[k : k+int64(h.KeyLen)]
}

// Value returns the value bytes of the record at off with header h (a slice of mem).
func Value(mem []byte, off int64, h *Header) []byte {
	v := off + HeaderSize + int64(h.KeyLen)
	return mem[v : v+int64(h.ValLen)]
}

// KeyValue returns the key and value of the record at off, decoding only
// the two lengths of its header (the read path's hot loop: iterators), and
// ok=false when the header is out of mem or its key length is not keyLen,
// or the record runs past mem. Like ReadHeader it trusts a record the index
// proved valid and does not check the checksum.
func KeyValue(mem []byte, off int64, keyLen int) (key, value []byte, ok bool) {
	if off < 0 || off > int64(len(mem))-HeaderSize {
		return nil, nil, false
	}
	h := binary.LittleEndian.Uint64(mem[off+16:]) // key length, flags, value length
	k := off + HeaderSize
	e := k + int64(keyLen)
	v := e + int64(h>>32)
	if int(uint16(h)) != keyLen || v > int64(len(mem)) {
		return nil, nil, false
	}
	return mem[k:e], mem[e:v], true
}

// ReadHeader decodes the header fields at off without validating the
// checksum, bounds-checked against mem; the read path uses it for records
// the index already proved valid.
func ReadHeader(mem []byte, off int64) (h Header, ok bool) {
	if off < 0 || off+HeaderSize > int64(len(mem)) {
		return h, false
	}
	h = header(mem, off)
	return h, off+HeaderSize+int64(h.KeyLen)+int64(h.ValLen) <= int64(len(mem))
}

// header decodes the header fields at off, which the caller has checked
// lie inside mem.
func header(mem []byte, off int64) (h Header) {
	s := binary.LittleEndian.Uint64(mem[off:])
	h.Tag = uint8(s >> 56)
	h.Check = s & checkMask
	h.Seq = binary.LittleEndian.Uint64(mem[off+8:])
	h.KeyLen = int(binary.LittleEndian.Uint16(mem[off+16:]))
	h.Flags = binary.LittleEndian.Uint16(mem[off+18:])
	h.ValLen = int(binary.LittleEndian.Uint32(mem[off+20:]))
	return h
}
