package alloc

import "testing"

func TestLimboWaitsForReclaim(t *testing.T) {
	const chunk, heap = 64 * kib, 4 * kib
	a := checked(t, New(chunk, heap, chunk))
	x := mustAlloc(t, a, 192)
	a.Retire(x, 192, 5)
	assertAccounting(t, a, 0, 192)

	// Fill the pool: the retired extent must not come back.
	var held []int64
	for {
		off, err := a.Alloc(192)
		if err == ErrFull {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if off < x+192 && x < off+192 {
			t.Fatalf("Alloc handed out %d, overlapping the retired extent %d", off, x)
		}
		held = append(held, off)
	}
	if got := a.Reclaim(4); got != 0 {
		t.Fatalf("Reclaim(4) moved %d bytes of an extent retired at epoch 5", got)
	}
	if _, err := a.Alloc(192); err != ErrFull {
		t.Fatalf("Alloc after Reclaim(4) = %v, want ErrFull", err)
	}
	if got := a.Reclaim(5); got != 192 {
		t.Fatalf("Reclaim(5) = %d, want 192", got)
	}
	if got := mustAlloc(t, a, 192); got != x {
		t.Fatalf("Alloc after Reclaim(5) = %d, want the reclaimed %d", got, x)
	}
	if got := a.Reclaim(100); got != 0 {
		t.Fatalf("Reclaim of an empty limbo = %d", got)
	}
	assertAccounting(t, a, int64(len(held)+1)*192, 0)
}

func TestLimboEpochOrder(t *testing.T) {
	a := checked(t, New(64*kib, 4*kib, 4*64*kib))
	type ret struct {
		n     int64
		epoch uint64
	}
	// Out-of-order epochs, as when two writers read the epoch and retire in
	// the other order.
	rets := []ret{{64, 5}, {128, 3}, {192, 7}, {256, 3}, {320, 6}, {384, 1}, {448, 5}}
	var limbo int64
	offs := map[uint64][]int64{}
	for _, r := range rets {
		off := mustAlloc(t, a, r.n)
		a.Retire(off, r.n, r.epoch)
		offs[r.epoch] = append(offs[r.epoch], off)
		limbo += r.n
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	assertAccounting(t, a, 0, limbo)
	for _, step := range []struct {
		upTo uint64
		want int64
	}{
		{0, 0}, {1, 384}, {2, 0}, {3, 128 + 256}, {5, 64 + 448}, {5, 0}, {6, 320}, {7, 192},
	} {
		if got := a.Reclaim(step.upTo); got != step.want {
			t.Fatalf("Reclaim(%d) = %d, want %d", step.upTo, got, step.want)
		}
		limbo -= step.want
		assertAccounting(t, a, 0, limbo)
		if err := a.Check(); err != nil {
			t.Fatal(err)
		}
	}
	// A retire after reclaiming, at an epoch below ones already reclaimed.
	off := mustAlloc(t, a, 64)
	a.Retire(off, 64, 2)
	if got := a.Reclaim(2); got != 64 {
		t.Fatalf("late Reclaim(2) = %d, want 64", got)
	}
}

func TestLimboManyGenerations(t *testing.T) {
	a := checked(t, New(64*kib, 4*kib, 16*64*kib))
	var done uint64 // every epoch up to it is reclaimed
	for e := uint64(1); e <= 500; e++ {
		off := mustAlloc(t, a, 128)
		a.Retire(off, 128, e)
		if e%7 == 0 {
			// Reclaim part of the queue while it keeps growing.
			if got, want := a.Reclaim(e-5), int64(e-5-done)*128; got != want {
				t.Fatalf("Reclaim(%d) = %d, want %d", e-5, got, want)
			}
			done = e - 5
			assertAccounting(t, a, 0, int64(e-done)*128)
		}
	}
	a.Reclaim(1000)
	assertAccounting(t, a, 0, 0)
}
