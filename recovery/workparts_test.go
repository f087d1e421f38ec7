package recovery

import "testing"

// TestWorkParts: every goroutine WorkParts starts gets a non-empty part,
// the parts cover [0, n) exactly, and there are never more than asked for
// or than one per 4,096 items. A review found the last goroutine starting
// past n (a slice panic on a worker) with 4,099 workers and 4099*4096+1
// items.
func TestWorkParts(t *testing.T) {
	for _, c := range []struct{ n, workers int }{
		{0, 1}, {0, 8}, {1, 8}, {4095, 2}, {4096, 2}, {8193, 2}, {8193, 3},
		{4099*4096 + 1, 4099}, {4097*4096 + 5, 5000}, {1 << 20, 64}, {12345, 1},
	} {
		w, part := WorkParts(c.n, c.workers)
		if w < 1 || w > max(1, c.workers) || w > max(1, c.n/4096) {
			t.Errorf("WorkParts(%d, %d) = %d workers", c.n, c.workers, w)
		}
		covered := 0
		for i := range w {
			lo, hi := i*part, min((i+1)*part, c.n)
			if c.n > 0 && lo >= hi {
				t.Fatalf("WorkParts(%d, %d) = %d, %d: goroutine %d gets [%d, %d)", c.n, c.workers, w, part, i, lo, hi)
			}
			covered += max(0, hi-lo)
		}
		if covered != c.n {
			t.Errorf("WorkParts(%d, %d) = %d, %d covers %d items", c.n, c.workers, w, part, covered)
		}
	}
}
