package recovery

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/flush"
)

// memPersister is a Persister over plain memory for unit tests: flushes and
// fences are counted, nothing else is needed in RAM.
type memPersister struct{ flushes, drains int }

func (p *memPersister) Flush([]byte)         { p.flushes++ }
func (p *memPersister) Copy(dst, src []byte) { copy(dst, src); p.flushes++ }
func (p *memPersister) Drain() error         { p.drains++; return nil }

var _ flush.Persister = (*memPersister)(nil)

const testChunk = 64 << 10

// newPool formats a pool of n chunks in memory (8-byte aligned).
func newPool(t testing.TB, chunks int) ([]byte, Superblock) {
	t.Helper()
	mem := make([]byte, chunks*testChunk) // large allocations are page-aligned
	sb, err := Format(mem, &memPersister{}, testChunk, 0)
	if err != nil {
		t.Fatal(err)
	}
	return mem, sb
}

func TestSuperblockRoundTripAndAB(t *testing.T) {
	mem, sb := newPool(t, 1)
	got, err := ReadSuperblock(mem)
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != sb.UUID || got.ChunkSize != testChunk || got.Generation != 2 {
		t.Fatalf("read back %+v", got)
	}
	// Generation 3 goes to copy 1; tear it: copy 0 (generation 2) wins.
	sb.SeqFloor = 99
	if err := sb.Write(mem, &memPersister{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadSuperblock(mem); got.SeqFloor != 99 || got.Generation != 3 {
		t.Fatalf("after update: %+v", got)
	}
	mem[superOff1+50] ^= 1
	got, err = ReadSuperblock(mem)
	if err != nil || got.Generation != 2 || got.SeqFloor != 1 {
		t.Fatalf("torn copy 1: %+v, %v; want generation 2 from copy 0", got, err)
	}
	mem[superOff0+3] ^= 1
	if _, err = ReadSuperblock(mem); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("both copies bad: %v", err)
	}
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("corruption error without an offset: %v", err)
	}
}

func TestSuperblockNewerVersion(t *testing.T) {
	mem, sb := newPool(t, 1)
	sb.Version = Version + 1
	sb.Write(mem, &memPersister{})
	sb.Write(mem, &memPersister{})
	if _, err := ReadSuperblock(mem); !errors.Is(err, ErrVersion) {
		t.Fatalf("newer version: %v, want ErrVersion", err)
	}
}

// TestSuperblockOneCopyNewer: a valid copy written by a newer format
// beside a valid copy of ours means a newer daxkv upgraded the pool (or
// was writing it): the pool is refused, whichever copy has the higher
// generation, never read through the older copy and then overwritten.
func TestSuperblockOneCopyNewer(t *testing.T) {
	for _, newerIsNewest := range []bool{true, false} {
		mem, sb := newPool(t, 1) // copies 1 and 0 hold generations 1 and 2
		up := sb
		up.Version = Version + 1
		if newerIsNewest {
			up.Write(mem, &memPersister{}) // generation 3, into copy 1
		} else {
			up.Generation = 0
			up.Write(mem, &memPersister{}) // generation 1, over copy 1
		}
		if _, err := ReadSuperblock(mem); !errors.Is(err, ErrVersion) {
			t.Fatalf("newer copy is the newest %v: %v, want ErrVersion", newerIsNewest, err)
		}
	}
}

func TestRecordRoundTripAndSeeding(t *testing.T) {
	mem, sb := newPool(t, 2)
	c := NewCodec(&sb)
	p := &memPersister{}
	key, val := []byte("hello"), bytes.Repeat([]byte("v"), 300)
	off := int64(HeapStart)
	size := RecordSize(len(key), len(val))
	c.Write(p, mem[off:off+size], off, TagLive, 7, 0, key, val)
	h, ok := c.Decode(mem, off, testChunk)
	if !ok || h.Seq != 7 || !bytes.Equal(Key(mem, off, &h), key) || !bytes.Equal(Value(mem, off, &h), val) {
		t.Fatalf("decode: %+v %v", h, ok)
	}
	// The same bytes copied one line further do not validate.
	copy(mem[off+size+64:], mem[off:off+size])
	if _, ok := c.Decode(mem, off+size+64, testChunk); ok {
		t.Fatal("a record image copied to another offset validated")
	}
	// Another pool's codec does not validate it either.
	other := sb
	other.UUID[0] ^= 1
	if _, ok := NewCodec(&other).Decode(mem, off, testChunk); ok {
		t.Fatal("a record validated under another pool's identity")
	}
	// Every single-bit flip of the checksummed bytes or the check is caught.
	for bit := 0; bit < int(HeaderSize+len(key)+len(val))*8; bit += 7 {
		mem[off+int64(bit/8)] ^= 1 << (bit % 8)
		if _, ok := c.Decode(mem, off, testChunk); ok && bit/8 >= 8 || ok && bit/8 < 7 {
			t.Fatalf("flip of bit %d went unnoticed", bit)
		}
		mem[off+int64(bit/8)] ^= 1 << (bit % 8)
	}
	Free(p, mem[off:])
	if _, ok := c.Decode(mem, off, testChunk); ok {
		t.Fatal("a freed record validated")
	}
	if binary.LittleEndian.Uint64(mem[off:]) != 0 {
		t.Fatal("Free left the check behind")
	}
}

func TestRecoverRules(t *testing.T) {
	mem, sb := newPool(t, 2)
	c := NewCodec(&sb)
	p := &memPersister{}
	off := int64(HeapStart)
	put := func(tag uint8, seq uint64, flags uint16, k, v string) int64 {
		size := RecordSize(len(k), len(v))
		o := off
		c.Write(p, mem[o:o+size], o, tag, seq, flags, []byte(k), []byte(v))
		off += size
		return o
	}
	put(TagLive, 1, 0, "a", "a1")
	put(TagLive, 3, 0, "a", "a3") // newer wins
	put(TagLive, 2, 0, "b", "b2")
	put(TagPending, 10, FlagBatch, "b", "b10")            // committed batch 10
	put(TagPending, 10, FlagBatch|FlagTombstone, "a", "") // committed delete of a
	put(TagPending, 11, FlagBatch, "c", "c11")            // uncommitted batch 11
	put(TagLive, 4, 0, "d", "d4")
	c.WriteCommit(p, mem, 5, 10, 2)
	res, err := Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i := range res.Live {
		e := &res.Live[i]
		h, _ := c.Decode(mem, e.Off, testChunk)
		got[string(e.Key(mem))] = string(Value(mem, e.Off, &h))
		if h.Tag != TagLive {
			t.Fatalf("winner %q left pending", e.Key(mem))
		}
	}
	want := map[string]string{"b": "b10", "d": "d4"}
	if len(got) != len(want) || got["b"] != "b10" || got["d"] != "d4" {
		t.Fatalf("recovered %v, want %v", got, want)
	}
	if res.Floor != 12 || res.Replayed != 1 || res.Dropped != 1 {
		t.Fatalf("floor %d replayed %d dropped %d", res.Floor, res.Replayed, res.Dropped)
	}
	rep, err := Check(mem, int64(len(mem)), Scan{Workers: 2})
	if err != nil || len(rep.Problems) != 0 || rep.Keys != 2 {
		t.Fatalf("Check after Recover: %+v, %v", rep, err)
	}
	// Read-only recovery of the same bytes changes nothing and agrees.
	before := bytes.Clone(mem)
	ro, err := Recover(mem, int64(len(mem)), &sb, nil, Scan{Workers: 1})
	if err != nil || len(ro.Live) != 2 || !bytes.Equal(before, mem) {
		t.Fatalf("read-only recover: %v, %d keys, bytes changed %v", err, len(ro.Live), !bytes.Equal(before, mem))
	}
}

// TestOverlappingRecords places a valid record inside the slack of a large
// record's extent (a large extent is whole pages; the record ends before
// its last page does). Check reports the overlap with both offsets; Recover
// keeps the record with the higher sequence number, frees the other, and
// leaves no two live extents overlapping.
func TestOverlappingRecords(t *testing.T) {
	for _, slackNewer := range []bool{true, false} {
		mem, sb := newPool(t, 2)
		c := NewCodec(&sb)
		p := &memPersister{}
		big := int64(HeapStart) // page-aligned: an extent of 8 KiB
		bigSize := RecordSize(3, 5000)
		c.Write(p, mem[big:big+bigSize], big, TagLive, 10, 0, []byte("big"), make([]byte, 5000))
		small := big + bigSize // inside the big extent's second page
		seq := uint64(5)
		if slackNewer {
			seq = 20
		}
		c.Write(p, mem[small:small+RecordSize(5, 10)], small, TagLive, seq, 0, []byte("small"), []byte("0123456789"))
		rep, err := Check(mem, int64(len(mem)), Scan{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		kept, dropped := big, small
		if slackNewer {
			kept, dropped = small, big
		}
		// The pool is not marked clean: an overlap is among what a crash
		// can leave (a reused extent whose old record's free was lost).
		want := fmt.Sprintf("offset %d: record overlaps the extent of the record at offset %d", dropped, kept)
		if len(rep.Problems) != 0 || len(rep.Unsettled) != 1 || !strings.HasPrefix(rep.Unsettled[0], want) {
			t.Fatalf("slack newer %v: Check reported problems %q, unsettled %q; want unsettled %q", slackNewer, rep.Problems, rep.Unsettled, want)
		}
		// In a cleanly closed pool it is a problem.
		clean := bytes.Clone(mem)
		csb := sb
		csb.Flags |= FlagClean
		csb.SeqFloor = 100
		if err := csb.Write(clean, p); err != nil {
			t.Fatal(err)
		}
		if rep, err := Check(clean, int64(len(clean)), Scan{Workers: 1}); err != nil || len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], want) {
			t.Fatalf("slack newer %v, clean pool: Check reported %q, %v; want the problem %q", slackNewer, rep.Problems, err, want)
		}
		res, err := Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Live) != 1 || res.Live[0].Off != kept || res.Discarded != 1 || res.Floor != 21 && slackNewer {
			t.Fatalf("slack newer %v: recovered %+v", slackNewer, res)
		}
		if _, ok := c.Decode(mem, dropped, testChunk); ok {
			t.Fatal("the dropped record still validates after Recover")
		}
		if rep, err := Check(mem, int64(len(mem)), Scan{Workers: 1}); err != nil || len(rep.Problems) != 0 {
			t.Fatalf("after Recover: %v, %v", rep.Problems, err)
		}
	}
}

// TestCompareKeysIsBytesCompare: the one key order equals bytes.Compare,
// for keys that tie on their first 16 bytes, zero bytes, prefixes of each
// other, and lengths on both sides of 16.
func TestCompareKeysIsBytesCompare(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []byte {
		k := make([]byte, r.IntN(40))
		for i := range k {
			k[i] = []byte{0, 1, 'a', 0xff}[r.IntN(4)]
		}
		return k
	}
	parts := func(k []byte) (uint64, uint64, []byte, string) {
		p0, p1 := Prefix(k)
		if len(k) > 16 {
			return p0, p1, k[16:], string(k[16:])
		}
		return p0, p1, nil, ""
	}
	for n := 0; n < 200000; n++ {
		a, b := gen(), gen()
		want := bytes.Compare(a, b)
		a0, a1, ab, as := parts(a)
		b0, b1, bb, bs := parts(b)
		if got := CompareKeys(a0, a1, ab, len(a), b0, b1, bb, len(b)); got != want {
			t.Fatalf("CompareKeys(%q, %q) = %d, bytes.Compare %d", a, b, got, want)
		}
		if got := CompareKeys(a0, a1, as, len(a), b0, b1, bs, len(b)); got != want {
			t.Fatalf("CompareKeys on strings (%q, %q) = %d, bytes.Compare %d", a, b, got, want)
		}
	}
}
