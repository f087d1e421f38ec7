package recovery

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/flush"
)

// Layout: batch log slot (part of the format: do not change). 64 bytes at
// LogOffset + 64*slot, LogSlots of them.
//
//	 0 +----------------+ batch sequence number (0: empty)
//	 8 | count    u32   | records written by the batch
//	12 | zero     u32   |
//	16 | check    u64   | xxhash64, seeded with seed(uuid, slot offset), of bytes [0, 16)
//	24 | zero    [40]B  |
//	64 +----------------+
//
// A batch is committed exactly when a slot holding its sequence number
// validates and all count of its records are found (committedBatches): the
// records and the slot are made durable by one fence. Its records are
// written as TagPending; recovery turns the pending records of a committed
// batch live and frees those of any other.
func slotOff(slot int) int64 { return LogOffset + int64(slot)*LogSlotSize }

func (c *Codec) logSum(off int64, b []byte) uint64 {
	var d xxhash.Digest
	d.ResetWithSeed(seed(&c.uuid, off))
	_, _ = d.Write(b[:16])
	return d.Sum64()
}

// WriteCommit writes the commit entry of batch seq (count records) into log
// slot and schedules it for durability (no drain). Once it is durable the
// batch is committed: that drain is the batch's commit point.
func (c *Codec) WriteCommit(p flush.Persister, mem []byte, slot int, seq uint64, count uint32) {
	off := slotOff(slot)
	b := mem[off : off+LogSlotSize]
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[0:], seq)
	binary.LittleEndian.PutUint32(buf[8:], count)
	// Checksum first, then the fields: whichever subset of the three words
	// survives a crash, the slot validates only if all of them did.
	flush.Store64(b[16:], c.logSum(off, buf[:]))
	flush.Store64(b[8:], binary.LittleEndian.Uint64(buf[8:]))
	flush.Store64(b[0:], seq)
	p.Flush(b[:24])
}

// ClearCommit empties log slot and schedules it for durability (no drain):
// the sequence number first (the slot is invalid from then on), then the
// count and the check. All three: WriteCommit's order makes a torn slot
// invalid only over a slot whose old words cannot validate with the new
// sequence number, and a count and check left behind would, were the same
// number ever written there again (a pool of a release before the sequence
// lease can hand a number out twice across a crash), commit a batch with
// the old count.
func ClearCommit(p flush.Persister, mem []byte, slot int) {
	off := slotOff(slot)
	b := mem[off : off+LogSlotSize]
	flush.Store64(b[0:], 0)
	flush.Store64(b[8:], 0)
	flush.Store64(b[16:], 0)
	p.Flush(b[:24])
}

// usedSlots returns the log slots that are not wholly zero in their first
// 24 bytes: valid commits, and the words a release before this one left
// behind (it cleared only the sequence number).
func usedSlots(mem []byte) []int {
	var out []int
	for slot := 0; slot < LogSlots; slot++ {
		b := mem[slotOff(slot):]
		if binary.LittleEndian.Uint64(b) != 0 || binary.LittleEndian.Uint64(b[8:]) != 0 || binary.LittleEndian.Uint64(b[16:]) != 0 {
			out = append(out, slot)
		}
	}
	return out
}

// Commit is one valid batch log slot.
type Commit struct {
	Slot  int
	Seq   uint64
	Count uint32
}

// Commits returns the valid slots of the batch log.
func (c *Codec) Commits(mem []byte) []Commit {
	var out []Commit
	for slot := 0; slot < LogSlots; slot++ {
		off := slotOff(slot)
		b := mem[off : off+LogSlotSize]
		seq := binary.LittleEndian.Uint64(b)
		if seq == 0 {
			continue
		}
		if c.logSum(off, b) != binary.LittleEndian.Uint64(b[16:]) {
			continue
		}
		out = append(out, Commit{Slot: slot, Seq: seq, Count: binary.LittleEndian.Uint32(b[8:])})
	}
	return out
}
