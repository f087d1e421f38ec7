package kv

import (
	"math/rand/v2"
	"testing"
)

// TestHashTableModel checks the table against a Go map through random
// sets and deletes, with some hashes crowded into the last home slots so
// that probe runs wrap around and backward-shift deletion is exercised.
func TestHashTableModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	tab := newHashTable(0)
	model := map[uint64]uint64{}
	for n := 0; n < 60000; n++ {
		// Spread hashes, plus a fifth crowded into 16 home slots so that
		// probe runs are long and wrap around.
		h := r.Uint64N(4000) * 0x9E3779B97F4A7C15
		if r.IntN(5) == 0 {
			h = r.Uint64N(300)<<32 | uint64(1008+r.IntN(16))
		}
		if n%5000 == 0 {
			h = 0 // the stored-as-1 case
		}
		switch r.IntN(3) {
		case 0:
			tab.del(h)
			delete(model, stored(h))
		default:
			ref := r.Uint64()
			tab.set(h, ref)
			model[stored(h)] = ref
		}
		if n%1999 == 0 {
			for k, v := range model {
				if got, ok := tab.get(k); !ok || got != v {
					t.Fatalf("op %d: get(%#x) = %#x, %v; want %#x", n, k, got, ok, v)
				}
			}
		}
	}
	if tab.len() != len(model) {
		t.Fatalf("len %d, model %d", tab.len(), len(model))
	}
	if _, ok := tab.get(1 << 62); ok && model[1<<62] == 0 {
		t.Fatal("found a hash never set")
	}
}
