package recovery

import (
	"testing"

	"github.com/daxkv/daxkv/daxmap"
)

// TestDeletedKeyStaysDeletedOverDamagedOlderVersion: an older version of
// a key whose value lies on a known bad block loses to the newer one, and
// recovery used to leave it on the media (only its extent reserved). Once
// the key was deleted (its newer record freed), the next open found the
// damaged older version alone and brought the key back, unreadable. A
// damaged loser is now freed like any loser (its header is on a good page;
// its bad pages stay reserved from the kernel's list). Found by a review.
func TestDeletedKeyStaysDeletedOverDamagedOlderVersion(t *testing.T) {
	mem, sb := newPool(t, 3)
	c := NewCodec(&sb)
	p := &memPersister{}
	v1 := int64(testChunk)     // older version, its value on a bad page
	v2 := int64(2 * testChunk) // newer, good
	val := make([]byte, 6000)  // spans into the next page
	c.Write(p, mem[v1:v1+RecordSize(1, len(val))], v1, TagLive, 5, 0, []byte("k"), val)
	c.Write(p, mem[v2:v2+RecordSize(1, 10)], v2, TagLive, 10, 0, []byte("k"), []byte("0123456789"))
	bad := []daxmap.Range{{Off: v1 + 4096, Len: 4096}}
	res, err := Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: 1, Bad: bad})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open 1: live %d damaged %v", len(res.Live), res.Damaged)
	// Delete k: its live record is freed.
	Free(p, mem[v2:])
	res, err = Recover(mem, int64(len(mem)), &sb, p, Scan{Workers: 1, Bad: bad})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open 2: live %d damaged %v", len(res.Live), res.Damaged)
	if len(res.Damaged) != 0 || len(res.Live) != 0 {
		t.Errorf("the deleted key is back: live %d, damaged %v", len(res.Live), res.Damaged)
	}
}
