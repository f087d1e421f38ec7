package kv

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
			sum += tab.shards[s].tab.Load().mask + 1
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
		before := s.tab.Load().mask + 1
		tab.set(h, uint64(i))
		if after := s.tab.Load().mask + 1; after != before {
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
			caps[s] = tab.shards[s].tab.Load().mask
		}
		for i := 0; i < hint; i++ {
			tab.set(hashKey(fmt.Appendf(nil, "key-%08d", i)), 1)
		}
		grew := 0
		for s := range tab.shards {
			if tab.shards[s].tab.Load().mask != caps[s] {
				grew++
			}
		}
		if grew > 0 {
			t.Errorf("hint %d: %d of %d shards grew while loading the keys the table was sized for", hint, grew, hashShards)
		}
	}
}

// TestHashTableLoadRacesWriter reads keys that never change while one
// writer inserts and deletes others in the same shards (growing them and
// shifting runs back): every read must find the stable keys' exact refs and
// never find a key that was never stored. Run under -race it also shows
// the readers' lock-free path is free of data races.
func TestHashTableLoadRacesWriter(t *testing.T) {
	tab := newHashTable(0)
	r := rand.New(rand.NewPCG(11, 12))
	// Every hash lies in one of four shards (the top bits) so that probe
	// runs are long and crowded; bit 53 marks the stable keys, bit 52 the
	// keys never stored, and the writer's keys have neither.
	const stableBit, absentBit = 1 << 53, 1 << 52
	inShard := func(h uint64, rr *rand.Rand) uint64 {
		return h&(1<<(64-hashShardBits)-1)&^(stableBit|absentBit) | uint64(rr.IntN(4))<<(64-hashShardBits)
	}
	stable := make([]uint64, 512)
	for i := range stable {
		stable[i] = inShard(r.Uint64(), r) | stableBit
		tab.set(stable[i], uint64(i)+1)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rr := rand.New(rand.NewPCG(uint64(g), 13))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := rr.IntN(len(stable))
				if ref, ok := tab.load(stable[i]); !ok || ref != uint64(i)+1 {
					failures.Add(1)
				}
				if _, ok := tab.load(inShard(rr.Uint64(), rr) | absentBit); ok {
					failures.Add(1)
				}
			}
		}(g)
	}
	var churn []uint64
	for i := 0; i < 200_000; i++ {
		if len(churn) > 2000 || len(churn) > 0 && r.IntN(3) == 0 {
			j := r.IntN(len(churn))
			tab.del(churn[j])
			churn[j] = churn[len(churn)-1]
			churn = churn[:len(churn)-1]
			continue
		}
		h := inShard(r.Uint64(), r) | 1 // never 0
		tab.set(h, 7)
		churn = append(churn, h)
	}
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d lock-free reads saw a wrong answer while the writer ran", n)
	}
}

// TestHashTableLoadWaitsOutAWriter leaves a shard mid-change (sequence odd,
// the key's pair cleared, as a backward shift can leave it for an instant):
// a lock-free load must not report the key absent, but wait for the writer
// to finish and then find it.
func TestHashTableLoadWaitsOutAWriter(t *testing.T) {
	tab := newHashTable(0)
	const h = 0x1234_5678_9abc_def1
	tab.set(h, 42)
	s := tab.shard(stored(h))
	sl := s.tab.Load()
	i, ok, _ := sl.probe(h)
	if !ok {
		t.Fatal("the key just set is not in its shard")
	}
	s.begin()
	sl.store(2*i, 0)
	got := make(chan uint64, 1)
	go func() {
		ref, ok := tab.load(h)
		if !ok {
			ref = 0
		}
		got <- ref
	}()
	select {
	case ref := <-got:
		t.Fatalf("load returned %d while the shard was mid-change", ref)
	case <-time.After(50 * time.Millisecond):
	}
	sl.store(2*i, h)
	s.end()
	if ref := <-got; ref != 42 {
		t.Fatalf("load after the change = %d, want 42", ref)
	}
}

// BenchmarkHashTableInsert inserts b.N random hashes into a table that
// starts empty and grows (grown) and into one sized for them (sized): the
// difference is what growth costs per insert.
func BenchmarkHashTableInsert(b *testing.B) {
	for _, sized := range []bool{false, true} {
		name := "grown"
		if sized {
			name = "sized"
		}
		b.Run(name, func(b *testing.B) {
			hint := 0
			if sized {
				hint = b.N
			}
			tab := newHashTable(hint)
			r := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tab.set(r.Uint64(), uint64(i))
			}
		})
	}
}

// TestHashTableGrowUsesPreparedTable: a shard past 19/32 full asks the
// preparer for its next table, and the set that grows the shard publishes
// that table (the writer allocates nothing) holding every entry; a
// prepared table of the wrong size is not used.
func TestHashTableGrowUsesPreparedTable(t *testing.T) {
	tab := newHashTable(0)
	stop, done := make(chan struct{}), make(chan struct{})
	go tab.prepareTables(stop, done)
	defer func() { close(stop); <-done }()

	s := &tab.shards[3]
	hashAt := func(i uint64) uint64 { return 3<<(64-hashShardBits) | (i + 1) } // all in shard 3
	pairs := s.tab.Load().mask + 1
	var i uint64
	for ; uint64(s.n)*prepareDen <= pairs*prepareNum; i++ {
		tab.set(hashAt(i), i)
	}
	if !s.asked {
		t.Fatalf("a shard with %d of %d pairs in use did not ask for its next table", s.n, pairs)
	}
	next := waitNextTable(t, s)
	if next.mask+1 != 2*pairs {
		t.Fatalf("prepared table has %d pairs, want %d", next.mask+1, 2*pairs)
	}
	for s.tab.Load().mask+1 == pairs {
		tab.set(hashAt(i), i)
		i++
	}
	if s.tab.Load() != next || s.next.Load() != nil || s.asked {
		t.Fatalf("the grown shard did not publish the prepared table (next left %v, asked %v)", s.next.Load(), s.asked)
	}
	for j := uint64(0); j < i; j++ {
		if ref, ok := tab.load(hashAt(j)); !ok || ref != j {
			t.Fatalf("entry %d after growth: %d, %v", j, ref, ok)
		}
	}

	// A table made for a smaller capacity (the shard grew meanwhile) is
	// left unused.
	pairs = s.tab.Load().mask + 1
	stale := newShardTab(pairs)
	for s.tab.Load().mask+1 == pairs {
		s.next.Store(stale) // overwrite what the preparer made, every time
		tab.set(hashAt(i), i)
		i++
	}
	if got := s.tab.Load(); got == stale || got.mask+1 != 2*pairs {
		t.Fatalf("the shard grew into a table of %d pairs (the stale one: %v), want %d", got.mask+1, got == stale, 2*pairs)
	}
	for j := uint64(0); j < i; j++ {
		if ref, ok := tab.load(hashAt(j)); !ok || ref != j {
			t.Fatalf("entry %d after the second growth: %d, %v", j, ref, ok)
		}
	}
}

// TestHashTableNextTableNotHeld: a shard that deletes take back to half
// full drops the table made ahead for it, and a request the shard outgrew
// before the preparer served it makes no table.
func TestHashTableNextTableNotHeld(t *testing.T) {
	tab := newHashTable(0)
	s := &tab.shards[7]
	hashAt := func(i uint64) uint64 { return 7<<(64-hashShardBits) | (i + 1) }
	s.tab.Store(newShardTab(64))

	// The preparer is not running yet: the shard asks, then grows by
	// itself, and the request it left queued is stale when served.
	var i uint64
	for ; s.tab.Load().mask+1 == 64; i++ {
		tab.set(hashAt(i), i)
	}
	if len(tab.grows) != 1 {
		t.Fatalf("%d requests queued, want the one the shard made at 64 pairs", len(tab.grows))
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go tab.prepareTables(stop, done)
	defer func() { close(stop); <-done }()
	for deadline := time.Now().Add(10 * time.Second); len(tab.grows) > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the preparer served nothing within 10 s")
		}
	}
	time.Sleep(10 * time.Millisecond) // the request was taken; let it be served
	if next := s.next.Load(); next != nil {
		t.Fatalf("a stale request made a table of %d pairs for a shard of %d, %d entries", next.mask+1, s.tab.Load().mask+1, s.n)
	}

	// Past 19/32 of 128 pairs the shard asks and gets its table; deletes
	// down to half full drop it.
	for ; uint64(s.n)*prepareDen <= 128*prepareNum; i++ {
		tab.set(hashAt(i), i)
	}
	waitNextTable(t, s)
	for j := uint64(0); s.n > 64; j++ {
		tab.del(hashAt(j))
	}
	if s.next.Load() != nil || s.asked {
		t.Fatalf("a shard of %d entries in %d pairs still holds a next table (asked %v)", s.n, s.tab.Load().mask+1, s.asked)
	}
}

// waitNextTable waits up to 10 s for the preparer to make shard s's next
// table, and returns it.
func waitNextTable(t *testing.T, s *hashShard) *shardTab {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if next := s.next.Load(); next != nil {
			return next
		}
		if time.Now().After(deadline) {
			t.Fatal("the preparer made no table within 10 s")
		}
	}
}

// TestHashTableTouchLoadsHomePair checks that touch reads the pair a lookup
// of the hash probes first: the hash itself once set there, zero while the
// pair is empty, and the hash of 0 as stored (1).
func TestHashTableTouchLoadsHomePair(t *testing.T) {
	tab := newHashTable(0)
	for _, h := range []uint64{0, 7, 0xdead_beef_0000_0003, ^uint64(0) - 5} {
		if got := tab.touch(h); got != 0 {
			t.Fatalf("touch(%#x) on an empty table = %#x, want 0", h, got)
		}
		tab.set(h, 42)
		if got := tab.touch(h); got != stored(h) {
			t.Fatalf("touch(%#x) after set = %#x, want %#x", h, got, stored(h))
		}
	}
}
