package recovery

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/flush"
)

// Layout: record (part of the format: do not change). At a 64-byte aligned
// heap offset, padded to a multiple of 64.
//
//	 0 +----------------+ state word: bits 63..56 tag, bits 55..0 check
//	 8 | seq      u64   | sequence number (the batch's, for batch records)
//	16 | keylen   u16   | 1..MaxKeySize
//	18 | flags    u16   | bit 0 tombstone, bit 1 written by a batch
//	20 | vallen   u32   | up to MaxValueSize(chunk)
//	24 | key, value    | keylen + vallen bytes, then zero padding
//	   +----------------+
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
	maxVal int // longest value a record of this pool can hold
}

// NewCodec returns the record codec of the pool described by sb.
func NewCodec(sb *Superblock) *Codec {
	return &Codec{uuid: sb.UUID, maxVal: MaxValueSize(sb.ChunkSize)}
}

// MaxValueSize is the longest value a pool with the given chunk size stores:
// a record must fit in half a chunk, and values are capped at 64 MiB.
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
// for durability through p (no drain). rec must be the record's extent
// (RecordSize bytes). Large values go through p.Copy (non-temporal stores on
// the CPU path). The state word is stored last, in one 8-byte store.
func (c *Codec) Write(p flush.Persister, rec []byte, off int64, tag uint8, seq uint64, flags uint16, key, value []byte) {
	binary.LittleEndian.PutUint64(rec[8:], seq)
	binary.LittleEndian.PutUint16(rec[16:], uint16(len(key)))
	binary.LittleEndian.PutUint16(rec[18:], flags)
	binary.LittleEndian.PutUint32(rec[20:], uint32(len(value)))
	copy(rec[HeaderSize:], key)
	vstart := HeaderSize + len(key)
	end := vstart + len(value)
	sum := c.sum(off, rec[8:HeaderSize], key, value)
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
// before limit (the end of its chunk). ok is false for anything that is not
// a valid record: free space, a torn or stale record, garbage.
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
	switch {
	case h.Tag != TagLive && h.Tag != TagPending,
		h.KeyLen == 0 || h.KeyLen > MaxKeySize || h.ValLen > c.maxVal || h.Flags&^(FlagTombstone|FlagBatch) != 0,
		h.Flags&FlagTombstone != 0 && (h.ValLen != 0 || h.Flags&FlagBatch == 0),
		h.Tag == TagPending && h.Flags&FlagBatch == 0,
		off+h.Size() > limit:
		return h, false
	}
	return h, true
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
	h := mem[off : off+HeaderSize]
	kl := int64(binary.LittleEndian.Uint16(h[16:]))
	vl := int64(binary.LittleEndian.Uint32(h[20:]))
	k := off + HeaderSize
	if kl != int64(keyLen) || k+kl+vl > int64(len(mem)) {
		return nil, nil, false
	}
	return mem[k : k+kl], mem[k+kl : k+kl+vl], true
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
