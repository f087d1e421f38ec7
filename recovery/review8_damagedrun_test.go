package recovery

import (
	"bytes"
	"testing"

	"github.com/daxkv/daxkv/daxmap"
)

// Regression test of a review finding, since fixed; the defect was:
//
// A run whose value meets a bad block (damaged, unverified) has its
// continuation chunks scanned from their start, so header images in its
// value are parsed; an image whose own bytes meet the same bad block is
// taken as a Damaged record with whatever sequence number and key the
// value's bytes say. It then beats the real, acknowledged record of that
// key (which recovery frees) and the run itself. A damaged small record's
// value is never parsed (scanChunk skips its length); a damaged run's
// must not be either when nothing newer can be there.
func TestDamagedRunValueImageSparesOtherKey(t *testing.T) {
	for _, workers := range []int{1, 2} {
		mem, sb := newPool(t, 6)
		c := NewCodec(&sb)
		p := &memPersister{}
		// The victim: an acknowledged record of its own key, in chunk 5.
		vOff := int64(5 * testChunk)
		c.Write(p, mem[vOff:vOff+RecordSize(6, 10)], vOff, TagLive, 5, 0, []byte("victim"), []byte("0123456789"))
		// The run, chunks 1-3, newer than the victim; its value holds, in
		// chunk 2, the bytes of a header of key "victim".
		a := int64(testChunk)
		val := bytes.Repeat([]byte("v"), 150<<10)
		img := int64(2*testChunk + 4096 - 64) // header and key in one page, value in the next
		craftImage(val[img-(a+HeaderSize+1):], "victim", 1<<40, 2000)
		size := RecordSize(1, len(val))
		c.Write(p, mem[a:a+size], a, TagLive, 10, 0, []byte("a"), val)
		bad := []daxmap.Range{{Off: 2*testChunk + 4096, Len: 4096}} // in the run's value and the image's
		res, err := Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: workers, Bad: bad})
		if err != nil {
			t.Fatal(err)
		}
		var live []string
		for i := range res.Live {
			live = append(live, string(res.Live[i].Key(mem)))
		}
		var damaged []string
		for _, d := range res.Damaged {
			damaged = append(damaged, string(d.Key))
		}
		t.Logf("%d workers: live %q, damaged %q, discarded %d", workers, live, damaged, res.Discarded)
		if len(live) != 1 || live[0] != "victim" {
			t.Errorf("%d workers: live keys %q; want the victim's acknowledged record (nothing of it lies on the bad block)", workers, live)
		}
		if len(damaged) != 1 || damaged[0] != "a" {
			t.Errorf("%d workers: damaged keys %q; want only the run's key %q", workers, damaged, "a")
		}
		if _, ok := c.Decode(mem, vOff, vOff+testChunk); !ok {
			t.Errorf("%d workers: recovery freed the victim's record on the media", workers)
		}
	}
}

// Regression test of a review finding, since fixed; the defect was:
//
// A verified run's last chunk holds, past the run's bytes, whatever its
// chunks held before (a run's slack is up to a chunk less 64 bytes: here
// the stale value of a longer run the chunks held before, which held a
// header image). When a bad block the kernel lists falls in that slack
// (TestBadPageInRunSlackNotReused's case), an image there whose bytes meet
// it is taken as a Damaged record, its sequence number unverified, and
// beats the run (pick compares sequence numbers when the record is not
// inside the run's bytes): the run, every byte of which reads and
// verifies, is dropped and freed on the media.
func TestRunSlackDamagedImageSparesRun(t *testing.T) {
	mem, sb := newPool(t, 4)
	c := NewCodec(&sb)
	p := &memPersister{}
	// The stale bytes: a header image of some key, 8 KiB - 64 into chunk 2.
	img := int64(2*testChunk + 8192 - 64)
	craftImage(mem[img:], "stale", 1<<40, 1000)
	// The run: chunks 1 and 2, its bytes ending 4 KiB into chunk 2.
	a := int64(testChunk)
	val := bytes.Repeat([]byte("r"), testChunk+4096-HeaderSize-1)
	size := RecordSize(1, len(val))
	c.Write(p, mem[a:a+size], a, TagLive, 10, 0, []byte("r"), val)
	if a+size > img {
		t.Fatal("crafting: the image is not in the slack")
	}
	bad := []daxmap.Range{{Off: 2*testChunk + 8192, Len: 4096}} // in the slack only
	for _, workers := range []int{1, 2} {
		rep, err := Check(mem, int64(len(mem)), Scan{Workers: workers, Bad: bad})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("Check: %+v", rep)
		res, err := Recover(mem, int64(len(mem)), &sb, nil, Scan{Workers: workers, Bad: bad})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Live) != 1 || res.Live[0].Off != a {
			var damaged []string
			for _, d := range res.Damaged {
				damaged = append(damaged, string(d.Key))
			}
			t.Errorf("%d workers: live %+v, damaged %q, discarded %d; want the verified run, whole and readable", workers, res.Live, damaged, res.Discarded)
		}
	}
}
