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
	if _, had := x.replace(a, h, 64); had {
		t.Fatal("first key: had")
	}
	if _, had := x.replace(b, h, 128); had {
		t.Fatal("second key on the same hash: had")
	}
	place(192, "alpha")
	old, had := x.replace(a, h, 192) // the hash is ambiguous: through the tree
	if !had || old.off() != 64 {
		t.Fatalf("replace alpha on a shared hash: had %v, old at %d", had, old.off())
	}
	if it, ok := x.lookup(a, h); !ok || it.off() != 192 {
		t.Fatalf("alpha after replace: %v %d", ok, it.off())
	}
	if it, ok := x.lookup(b, h); !ok || it.off() != 128 {
		t.Fatalf("bravo: %v %d", ok, it.off())
	}
	old, _ = x.lookup(b, h)
	x.remove(b, h, old)
	if _, ok := x.lookup(b, h); ok {
		t.Fatal("bravo still found after delete")
	}
	if it, ok := x.lookup(a, h); !ok || it.off() != 192 {
		t.Fatalf("alpha after bravo's delete: %v %d", ok, it.off())
	}
	if x.len() != 1 {
		t.Fatalf("len %d, want 1", x.len())
	}
}
