package recovery

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
)

// A record left in a run's slack, or a run whose chunks a newer record
// reused before the run's free reached the media, is settled like an
// overlap inside a chunk: the higher sequence number wins, the other is
// freed, whatever the scan's split of the chunks among workers.
func TestRunOverlaps(t *testing.T) {
	for _, newer := range []bool{false, true} {
		for _, workers := range []int{1, 3} {
			mem, sb := newPool(t, 6)
			c := NewCodec(&sb)
			p := &memPersister{}
			run := int64(testChunk) // chunks 1 and 2
			val := bytes.Repeat([]byte("r"), 70<<10)
			size := RecordSize(3, len(val))
			c.Write(p, mem[run:run+size], run, TagLive, 10, 0, []byte("run"), val)
			small := int64(2*testChunk + 16<<10) // in the slack of chunk 2
			seq := uint64(5)
			if newer {
				seq = 20
			}
			c.Write(p, mem[small:small+RecordSize(5, 10)], small, TagLive, seq, 0, []byte("small"), []byte("0123456789"))
			if rep, err := Check(mem, int64(len(mem)), Scan{Workers: workers}); err != nil || len(rep.Unsettled) != 1 {
				t.Fatalf("newer %v: Check %+v, %v; want one overlap among the unsettled", newer, rep, err)
			}
			res, err := Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			kept, dropped := run, small
			if newer {
				kept, dropped = small, run
			}
			if len(res.Live) != 1 || res.Live[0].Off != kept || res.Discarded != 1 {
				t.Fatalf("newer %v, %d workers: live %+v, discarded %d; want only %d", newer, workers, res.Live, res.Discarded, kept)
			}
			if _, ok := c.Decode(mem, dropped, dropped/testChunk*testChunk+testChunk); ok {
				t.Fatal("the dropped record still validates")
			}
			if newer {
				// The run's chunks are free again, but for the small record's.
				if _, err := res.Alloc.Alloc(testChunk); err != nil {
					t.Fatalf("chunk 1 of the dropped run is not free: %v", err)
				}
			} else if res.Used != 2*testChunk {
				t.Fatalf("Used %d, want the run's two chunks", res.Used)
			}
		}
	}
}

// A run whose head lies inside an earlier run's bytes (the earlier one's
// value holding the later record's exact bytes, as a crafted pool can) is
// an image inside a value, whatever its sequence number: the earlier run
// is kept, and nothing is written into its value.
func TestRunInsideRun(t *testing.T) {
	for _, bNewer := range []bool{false, true} {
		mem, sb := newPool(t, 6)
		c := NewCodec(&sb)
		p := &memPersister{}
		a, b := int64(testChunk), int64(2*testChunk)
		bVal := bytes.Repeat([]byte("b"), 40<<10)
		bSize := RecordSize(1, len(bVal))
		bSeq := uint64(5)
		if bNewer {
			bSeq = 20
		}
		c.Write(p, mem[b:b+bSize], b, TagLive, bSeq, 0, []byte("b"), bVal)
		aVal := bytes.Repeat([]byte("a"), 150<<10) // chunks 1, 2 and 3
		aStart := a + HeaderSize + 1
		copy(aVal[b-aStart:], mem[b:b+bSize])
		aSize := RecordSize(1, len(aVal))
		c.Write(p, mem[a:a+aSize], a, TagLive, 10, 0, []byte("a"), aVal)
		if _, ok := c.Decode(mem, b, b+testChunk); !ok {
			t.Fatal("crafting: b does not validate")
		}
		for _, workers := range []int{1, 2} {
			rep, err := Check(mem, int64(len(mem)), Scan{Workers: workers})
			if err != nil || rep.Records != 1 || len(rep.Unsettled) != 0 {
				t.Fatalf("b newer %v: Check %+v, %v; want the one run and nothing else", bNewer, rep, err)
			}
		}
		res, err := Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Live) != 1 || res.Live[0].Off != a || res.Discarded != 0 {
			t.Fatalf("b newer %v: live %+v, discarded %d; want only %d", bNewer, res.Live, res.Discarded, a)
		}
		if _, ok := c.Decode(mem, a, a+testChunk); !ok {
			t.Fatal("recovery wrote into the kept run's value")
		}
	}
}

// A header image inside a run's value that meets a bad block (so its
// check cannot be verified) is never taken for a record: the run's
// verified check vouches for its bytes.
func TestRunValueHoldsDamagedImage(t *testing.T) {
	mem, sb := newPool(t, 6)
	c := NewCodec(&sb)
	p := &memPersister{}
	a := int64(testChunk)
	val := bytes.Repeat([]byte("v"), 150<<10) // chunks 1, 2 and 3
	fake := int64(3*testChunk + 4096)         // inside the value, in its last chunk
	hdr := val[fake-(a+HeaderSize+1):]
	craftImage(hdr, "fake", 1<<40, 30000) // a huge sequence number, a length reaching into the slack
	size := RecordSize(1, len(val))
	c.Write(p, mem[a:a+size], a, TagLive, 10, 0, []byte("a"), val)
	// A bad page past the run's bytes, in its last chunk's slack, that the
	// image's length reaches: the image cannot be verified.
	badPage := int64(3*testChunk + 24576)
	if badPage < a+size || badPage >= fake+HeaderSize+4+30000 {
		t.Fatal("crafting: the bad page is not between the run's end and the image's")
	}
	sc := Scan{Workers: 2, Bad: []daxmap.Range{{Off: badPage, Len: 4096}}}
	res, err := Recover(mem, int64(len(mem)), &sb, nil, sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Live) != 1 || res.Live[0].Off != a || len(res.Damaged) != 0 {
		t.Fatalf("live %+v, damaged %+v; want only the run", res.Live, res.Damaged)
	}
}

// Runs exist only in format version 2: a version-1 codec refuses a run
// header, and a version-2 one a run flag on a short record or a run off a
// chunk boundary.
func TestRunFlagRules(t *testing.T) {
	mem, sb := newPool(t, 4)
	c := NewCodec(&sb)
	p := &memPersister{}
	val := bytes.Repeat([]byte("v"), 40<<10)
	size := RecordSize(1, len(val))
	off := int64(testChunk)
	c.Write(p, mem[off:off+size], off, TagLive, 3, 0, []byte("k"), val)
	if _, ok := c.Decode(mem, off, off+testChunk); !ok {
		t.Fatal("run does not validate")
	}
	v1 := sb
	v1.Version = 1
	if _, ok := NewCodec(&v1).Decode(mem, off, off+testChunk); ok {
		t.Fatal("a version-1 codec takes a run")
	}
	short := int64(2 * testChunk)
	c.write(p, mem[short:short+RecordSize(1, 10)], short, TagLive, 4, FlagRun, []byte("k"), val[:10])
	if _, ok := c.Decode(mem, short, short+testChunk); ok {
		t.Fatal("a short record with FlagRun validates")
	}
	odd := int64(3*testChunk) - 4096 - size // a run's size, off a chunk boundary
	c.Write(p, mem[odd:odd+size], odd, TagLive, 5, FlagRun, []byte("k"), val)
	if _, ok := c.Decode(mem, odd, int64(len(mem))); ok {
		t.Fatal("a run off a chunk boundary validates")
	}
	noflag := int64(3 * testChunk)
	c.write(p, mem[noflag:noflag+size], noflag, TagLive, 6, 0, []byte("k"), val)
	if _, ok := c.Decode(mem, noflag, noflag+testChunk); ok {
		t.Fatal("a record longer than half a chunk without FlagRun validates")
	}
}

// craftImage writes, at dst (a slice of a value), the bytes of a record
// header of key with a huge sequence number and a value of valLen bytes: an
// image any value may hold (user data: a copy of a pool, say). Its check
// is garbage: it can never verify.
func craftImage(dst []byte, key string, seq uint64, valLen int) {
	binary.LittleEndian.PutUint64(dst[0:], uint64(TagLive)<<56|0xabcdef)
	binary.LittleEndian.PutUint64(dst[8:], seq)
	binary.LittleEndian.PutUint16(dst[16:], uint16(len(key)))
	binary.LittleEndian.PutUint16(dst[18:], 0)
	binary.LittleEndian.PutUint32(dst[20:], uint32(valLen))
	copy(dst[24:], key)
}
