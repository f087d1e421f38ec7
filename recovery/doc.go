// Package recovery owns every byte daxkv puts on the media: the superblock,
// the record format, the batch log, the scan that rebuilds the index and the
// allocator at open, the replay of committed batches, and Check (fsck).
//
// It works on a byte slice (the pool mapping) and a flush.Persister; it never
// maps files itself, so every decoder here can be fed arbitrary bytes by tests
// and fuzz targets. A pool file is untrusted input: any byte sequence yields a
// recovered state or an error wrapping ErrCorrupt with the offset, never a
// panic, a hang, or an allocation sized by a length read from the media.
//
// # Layout (format version 1; part of the format: do not change)
//
// All integers are little-endian. Offsets are bytes from the start of the pool.
//
//	0        4096     8192              12288    16384 (HeapStart)
//	+--------+--------+-----------------+--------+--------------------------- ...
//	| super  | super  | batch log:      | zero   | heap: chunk 0 (rest), chunk 1, ...
//	| copy 0 | copy 1 | 64 slots x 64 B |        | records, each 64-byte aligned
//	+--------+--------+-----------------+--------+--------------------------- ...
//
// The pool is a whole number of chunks (Superblock.ChunkSize, a power of two,
// at least 64 KiB). A record never crosses a chunk boundary, so each chunk can
// be scanned alone, in parallel with the others.
//
// Superblock (128 bytes at offset 0 and at offset 4096; the rest of each 4 KiB
// page is zero):
//
//	 0 +----------------+ magic "DAXKVPL\x00"
//	 8 | version  u32   | format version (1)
//	12 | flags    u32   | bit 0: clean shutdown
//	16 | gen      u64   | generation; copy gen%2 holds generation gen
//	24 | uuid   [16]B   | pool identity; seeds every record checksum
//	40 | chunk    u64   | chunk size in bytes
//	48 | seqfloor u64   | above every sequence number ever handed out
//	56 | prefmode u32   | preferred DAX mode (applied at the next open)
//	60 | zero    [60]B  |
//	120| check    u64   | xxhash64 of bytes [0, 120)
//	128+----------------+
//
// The valid copy with the higher generation wins. An update writes the other
// copy (the older one) with generation+1, so a torn update leaves the previous
// state intact in the copy it did not touch.
//
// Record (at a 64-byte aligned heap offset, padded to a multiple of 64):
//
//	 0 +----------------+ state word: bits 63..56 tag, bits 55..0 check
//	 8 | seq      u64   | sequence number (the batch's, for batch records)
//	16 | keylen   u16   | 1..MaxKeySize
//	18 | flags    u16   | bit 0 tombstone, bit 1 written by a batch
//	20 | vallen   u32   |
//	24 | key, value    | keylen + vallen bytes, then zero padding
//	   +----------------+
//
// The tag is TagLive, TagPending or TagFree (zero). The check is the low 56
// bits of xxhash64, seeded with the pool UUID and the record's own offset,
// over bytes [8, 24+keylen+vallen). The state word is the only field that
// ever changes after a record is written, always with one aligned 8-byte
// store: freeing a record zeroes its check too, so a freed record never
// validates again, and a record image copied to another offset (inside a
// value, in freed space) never validates because its seed differs.
//
// Batch log slot (64 bytes at 8192 + 64*slot):
//
//	 0 +----------------+ batch sequence number (0: empty)
//	 8 | count    u32   | records written by the batch
//	12 | zero     u32   |
//	16 | check    u64   | xxhash64 seeded with the UUID and the slot offset, over [0, 16)
//	24 | zero    [40]B  |
//	64 +----------------+
//
// A batch is committed exactly when a slot holding its sequence number
// validates. Its records are written as TagPending first; recovery turns the
// pending records of a committed batch live and frees those of any other.
//
// # Recovery rule
//
// Among the valid records of one key the highest sequence number wins; a
// winning tombstone means the key is absent. Sequence numbers are never reused,
// even across crashes: Recover computes a floor above the superblock's and
// every sequence number seen (records and log slots); before any new write
// the caller makes a lease past it durable in the superblock, and extends
// the lease before handing out a number that reaches it (FORMAT.md).
package recovery
