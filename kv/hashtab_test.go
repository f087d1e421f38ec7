package kv

import (
	"fmt"
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

// TestHashTableGrowsOneShardAtATime: a set that makes the table grow
// rehashes one shard, never the whole table, so no single write pays for a
// whole resize; the shards stay even enough that none holds more than a
// few times its share.
func TestHashTableGrowsOneShardAtATime(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	tab := newHashTable(0)
	capacity := func() (sum uint64) {
		for s := range tab.shards {
			sum += tab.shards[s].mask + 1
		}
		return sum
	}
	// want is the total capacity if only the written key's shard may
	// change; the full sum is checked against it every 997 sets.
	want := capacity()
	grown := 0
	const n = 200_000
	for i := 0; i < n; i++ {
		h := r.Uint64()
		s := tab.shard(stored(h))
		before := s.mask + 1
		tab.set(h, uint64(i))
		if after := s.mask + 1; after != before {
			grown++
			want += after - before
		}
		if i%997 == 0 {
			if got := capacity(); got != want {
				t.Fatalf("set %d: capacity %d, want %d: a shard other than the key's grew", i, got, want)
			}
		}
	}
	if tab.len() != n || grown == 0 || capacity() != want {
		t.Fatalf("len %d (want %d), %d shard growths, capacity %d (want %d)", tab.len(), n, grown, capacity(), want)
	}
	most := 0
	for s := range tab.shards {
		most = max(most, tab.shards[s].n)
	}
	if share := n / hashShards; most > 2*share {
		t.Fatalf("the fullest shard holds %d entries, more than twice its share %d", most, share)
	}
}

// TestHashTableSizedFromHint: a table made for hint keys takes them all
// (real keys, the real hash) without growing a shard, for small hints,
// where the shards' spread is widest against their share, and large ones.
func TestHashTableSizedFromHint(t *testing.T) {
	for _, hint := range []int{100, 9000, 18000, 200_000} {
		tab := newHashTable(hint)
		var caps [hashShards]uint64
		for s := range tab.shards {
			caps[s] = tab.shards[s].mask
		}
		for i := 0; i < hint; i++ {
			tab.set(hashKey(fmt.Appendf(nil, "key-%08d", i)), 1)
		}
		grew := 0
		for s := range tab.shards {
			if tab.shards[s].mask != caps[s] {
				grew++
			}
		}
		if grew > 0 {
			t.Errorf("hint %d: %d of %d shards grew while loading the keys the table was sized for", hint, grew, hashShards)
		}
	}
}
