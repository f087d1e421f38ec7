package kv

import (
	"testing"

	"github.com/daxkv/daxkv/recovery"
)

// TestIndexHashCollision forces two keys onto one hash: lookups must fall
// back to the B-tree and stay right through puts, replaces and deletes.
func TestIndexHashCollision(t *testing.T) {
	mem := make([]byte, 4096)
	place := func(off int64, key string) {
		copy(mem[off+recovery.HeaderSize:], key)
	}
	x := newIndex(0, func() []byte { return mem })
	defer x.close()
	const h = 42 // both keys "hash" to 42
	a, b := []byte("alpha"), []byte("bravo")
	place(64, "alpha")
	place(128, "bravo")
	if _, had, amb := x.replace(a, h, 64); had || amb {
		t.Fatalf("first key: had %v ambiguous %v", had, amb)
	}
	if _, had, amb := x.replace(b, h, 128); had || amb {
		t.Fatalf("second key on the same hash: had %v ambiguous %v", had, amb)
	}
	if _, _, amb := x.replace(a, h, 192); !amb {
		t.Fatal("replace on a shared hash did not report ambiguity")
	}
	place(192, "alpha")
	old, had := x.get(a, h)
	if !had || old.off() != 64 {
		t.Fatalf("get alpha through the tree: %v %d", had, old.off())
	}
	x.put(a, h, 192, old, had)
	if it, ok := x.get(a, h); !ok || it.off() != 192 {
		t.Fatalf("alpha after put: %v %d", ok, it.off())
	}
	if it, ok := x.get(b, h); !ok || it.off() != 128 {
		t.Fatalf("bravo: %v %d", ok, it.off())
	}
	old, _ = x.get(b, h)
	x.del(b, h, old)
	if _, ok := x.get(b, h); ok {
		t.Fatal("bravo still found after delete")
	}
	if it, ok := x.get(a, h); !ok || it.off() != 192 {
		t.Fatalf("alpha after bravo's delete: %v %d", ok, it.off())
	}
	if x.len() != 1 {
		t.Fatalf("len %d, want 1", x.len())
	}
}
