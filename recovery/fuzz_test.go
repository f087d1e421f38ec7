package recovery

import (
	"strings"
	"testing"

	"github.com/daxkv/daxkv/alloc"
)

// fuzzPool builds a one-chunk pool holding a few records and a committed
// batch, as a seed for the fuzzers.
func fuzzPool(t testing.TB) []byte {
	mem, sb := newPool(t, 1)
	c := NewCodec(&sb)
	p := &memPersister{}
	off := int64(HeapStart)
	for i, kv := range [][2]string{{"alpha", "1"}, {"beta", "two"}, {"alpha", "3"}, {"gamma", string(make([]byte, 300))}} {
		size := RecordSize(len(kv[0]), len(kv[1]))
		c.Write(p, mem[off:off+size], off, TagLive, uint64(i+1), 0, []byte(kv[0]), []byte(kv[1]))
		off += size
	}
	size := RecordSize(5, 1)
	c.Write(p, mem[off:off+size], off, TagPending, 9, FlagBatch, []byte("delta"), []byte("d"))
	c.WriteCommit(p, mem, 3, 9, 1)
	return mem
}

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder at every
// 64-byte offset: it must never panic or read outside its chunk.
func FuzzDecodeRecord(f *testing.F) {
	mem := fuzzPool(f)
	f.Add(mem[HeapStart : HeapStart+1024])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := Superblock{ChunkSize: testChunk}
		c := NewCodec(&sb)
		buf := make([]byte, (len(data)+63)&^63)
		copy(buf, data)
		for off := int64(0); off < int64(len(buf)); off += 64 {
			if h, ok := c.Decode(buf, off, int64(len(buf))); ok {
				if off+h.Size() > int64(len(buf)) {
					t.Fatalf("valid record at %d runs past the limit", off)
				}
				_ = Key(buf, off, &h)
				_ = Value(buf, off, &h)
			}
			ReadHeader(buf, off)
		}
	})
}

// FuzzReadSuperblock feeds arbitrary header bytes to ReadSuperblock.
func FuzzReadSuperblock(f *testing.F) {
	mem := fuzzPool(f)
	f.Add(mem[:superOff1+superSize])
	f.Add(make([]byte, 10))
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]byte, HeapStart)
		copy(buf, data)
		sb, err := ReadSuperblock(buf)
		if err == nil && alloc.ValidChunkSize(sb.ChunkSize) != nil {
			t.Fatalf("accepted chunk size %d", sb.ChunkSize)
		}
	})
}

// FuzzRecover overlays arbitrary bytes (at an arbitrary offset) on a valid
// pool and runs the whole recovery, read-only and writable, then Check:
// none may panic, and what the writable recovery leaves must check clean.
func FuzzRecover(f *testing.F) {
	f.Add(uint32(HeapStart), []byte{0xA5, 1, 2, 3})
	f.Add(uint32(8192), []byte{9, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(uint32(0), []byte("DAXKVPL"))
	f.Fuzz(func(t *testing.T, at uint32, data []byte) {
		mem := fuzzPool(t)
		copy(mem[int(at)%len(mem):], data)
		sb, err := ReadSuperblock(mem)
		if err != nil {
			return
		}
		if sb.ChunkSize != testChunk {
			return // a different valid geometry: not this pool any more
		}
		if _, err := Recover(mem, int64(len(mem)), &sb, nil, Scan{Workers: 2}); err != nil {
			return
		}
		res, err := Recover(mem, int64(len(mem)), &sb, &memPersister{}, Scan{Workers: 2})
		if err != nil {
			return
		}
		rep, err := Check(mem, int64(len(mem)), Scan{Workers: 1})
		if err != nil {
			t.Fatalf("Check after Recover: %v", err)
		}
		for _, pr := range rep.Problems {
			// A damaged superblock copy stays damaged until the next
			// update; anything else means recovery left a mess.
			if !strings.HasPrefix(pr, "superblock copy") {
				t.Fatalf("recovered pool not clean: %s", pr)
			}
		}
		if rep.Keys != len(res.Live) {
			t.Fatalf("Check sees %d keys, Recover kept %d", rep.Keys, len(res.Live))
		}
	})
}
