package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFaultGuardRecordShapes places one record of each awkward shape at
// a chosen place in its page, poisons the page after its header's, and
// checks that the iterator and Scan either refuse it (ErrCorrupt) when it
// reaches into that page, or hand it out readable when it does not.
func TestFaultGuardRecordShapes(t *testing.T) {
	type shape struct {
		name     string
		inPage   int64 // the record's offset in its page (small records)
		kl, vl   int
		poisonAt int64 // the page poisoned, in pages after the header's
	}
	shapes := []shape{
		{"key runs into the next page, empty value", 4032, 100, 0, 1},
		{"value runs into the next page", 4032, 16, 100, 1},
		{"one value byte in the next page", 4032, 16, 25, 1},
		{"record ends exactly on the page boundary", 4032, 16, 24, 1},
		{"key ends exactly on the page boundary, empty value", 4032, 40, 0, 1},
		{"header fills the page's last line but the key", 4032, 40, 1, 1},
		{"4096-byte small record across two pages", 64, 16, 4056, 1},
		{"small record of 4 KiB at a page start", 0, 16, 4056, 1},
		{"MaxKeySize key, empty value", -1, MaxKeySize, 0, 1},
		{"MaxKeySize key, one value byte", -1, MaxKeySize, 1, 1},
		{"large value, middle page", -1, 16, 20000, 2},
		{"large value, last page", -1, 16, 20000, 4},
		{"large value ending on a page boundary, next page", -1, 16, 5*4096 - 24 - 16, 5},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			path := filepath.Join(shmDir(t), "p")
			db := openTest(t, path, &Options{Size: 512 << 10, ChunkSize: 64 << 10, DAX: DAXEmulated})
			defer os.Remove(path)
			defer db.Close()
			target := append([]byte{0}, bytes.Repeat([]byte{'t'}, sh.kl-1)...)
			val := bytes.Repeat([]byte{'v'}, sh.vl)
			if sh.inPage >= 0 {
				// 64-byte records until the bump region's next offset is
				// at inPage in its page.
				for i := 0; ; i++ {
					pk := fmt.Appendf(nil, "pad%05d", i)
					mustPut(t, db, pk, []byte("12345678"))
					it, _ := db.idx.lookup(pk, hashKey(pk))
					if (it.off()+64)%4096 == sh.inPage {
						break
					}
					if i > 200 {
						t.Skip("could not place the record")
					}
				}
			}
			mustPut(t, db, target, val)
			ti, _ := db.idx.lookup(target, hashKey(target))
			off := ti.off()
			if sh.inPage >= 0 && off%4096 != sh.inPage {
				t.Skipf("record at %d, not at %d in its page", off, sh.inPage)
			}
			end := off + 24 + int64(sh.kl+sh.vl)
			page := off/4096*4096 + sh.poisonAt*4096
			reaches := page < end
			if err := db.m.Poison(page); err != nil {
				t.Fatal(err)
			}
			read := func(k, v []byte) any {
				return faultOf(func() { _ = bytes.Clone(k); _ = bytes.Clone(v) })
			}
			// Iterator.
			it, err := db.NewIterator(&IterOptions{UpperBound: []byte{1}})
			if err != nil {
				t.Fatal(err)
			}
			ok := it.First()
			var fault any
			if ok {
				fault = read(it.Key(), it.Value())
			}
			itErr := it.Error()
			it.Close()
			// Scan (fn runs under the guard, but reads here outside it: a
			// copy taken out of fn).
			var sk, sv []byte
			scanErr := db.Scan(nil, []byte{1}, func(k, v []byte) error {
				sk, sv = bytes.Clone(k), bytes.Clone(v)
				return nil
			})
			switch {
			case fault != nil:
				t.Fatalf("record [%d,%d), page %d poisoned: the iterator handed it out and reading it faulted: %v", off, end, page, fault)
			case reaches && (ok || !errors.Is(itErr, ErrCorrupt)):
				t.Fatalf("record [%d,%d) reaches poisoned page %d: First=%v Error=%v", off, end, page, ok, itErr)
			case !reaches && (!ok || itErr != nil):
				t.Fatalf("record [%d,%d) does not reach poisoned page %d: First=%v Error=%v", off, end, page, ok, itErr)
			case reaches && !errors.Is(scanErr, ErrCorrupt):
				t.Fatalf("Scan over a record reaching a poisoned page: %v", scanErr)
			case !reaches && (scanErr != nil || !bytes.Equal(sk, target) || !bytes.Equal(sv, val)):
				t.Fatalf("Scan over an intact record: %v", scanErr)
			}
		})
	}
}
