package alloc

import (
	"errors"
	"math"
	"testing"
)

func TestSizeOf(t *testing.T) {
	for _, tc := range []struct {
		n, want int64
	}{
		{-5, 64}, {0, 64}, {1, 64}, {63, 64}, {64, 64}, {65, 128},
		{191, 192}, {192, 192}, {193, 256},
		{4032, 4032}, {4033, 4096}, {4095, 4096}, {4096, 4096},
		{4097, 8192}, {8192, 8192}, {8193, 12288},
		{1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 4096},
		{1 << 62, 1 << 62}, {math.MaxInt64, 1 << 62},
	} {
		if got := SizeOf(tc.n); got != tc.want {
			t.Errorf("SizeOf(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestSizeOfClasses(t *testing.T) {
	for n := int64(1); n <= 64*kib; n++ {
		s := SizeOf(n)
		if s < n {
			t.Fatalf("SizeOf(%d) = %d, smaller than the request", n, s)
		}
		if n <= SmallMax && (s%Unit != 0 || s-n >= Unit) {
			t.Fatalf("small SizeOf(%d) = %d, not the next multiple of %d", n, s, Unit)
		}
		if n > SmallMax && (s%Page != 0 || s-n >= Page) {
			t.Fatalf("large SizeOf(%d) = %d, not the next multiple of %d", n, s, Page)
		}
	}
}

func TestValidGeometry(t *testing.T) {
	for _, tc := range []struct {
		name              string
		chunk, heap, pool int64
		ok                bool
	}{
		{"min chunk", 64 * kib, 4 * kib, 128 * kib, true},
		{"no metadata", 4 * mib, 0, 4 * mib, true},
		{"max chunk", 1 << 30, 60 * kib, 1 << 31, true},
		{"chunk not power of two", 96 * kib, 4 * kib, 192 * kib, false},
		{"chunk too small", 32 * kib, 4 * kib, 64 * kib, false},
		{"chunk too large", 1 << 31, 4 * kib, 1 << 31, false},
		{"heap not page-aligned", 64 * kib, 100, 128 * kib, false},
		{"heap past chunk", 64 * kib, 64 * kib, 128 * kib, false},
		{"heap negative", 64 * kib, -4 * kib, 128 * kib, false},
		{"pool not chunk multiple", 64 * kib, 4 * kib, 100 * kib, false},
		{"pool empty", 64 * kib, 4 * kib, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidGeometry(tc.chunk, tc.heap, tc.pool)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidGeometry = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadExtent) {
					t.Fatalf("error %v does not wrap ErrBadExtent", err)
				}
				mustPanic(t, "New", func() { New(tc.chunk, tc.heap, tc.pool) })
				mustPanic(t, "NewBuilder", func() { NewBuilder(tc.chunk, tc.heap, tc.pool) })
				return
			}
			if tc.chunk <= 4*mib {
				a := checked(t, New(tc.chunk, tc.heap, tc.pool))
				assertAccounting(t, a, 0, 0)
			}
		})
	}
}

func TestValidGeometryReportsEveryProblem(t *testing.T) {
	err := ValidGeometry(64*kib, 100, 100*kib)
	if err == nil {
		t.Fatal("no error")
	}
	var n int
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		n = len(j.Unwrap())
	}
	if n != 2 {
		t.Fatalf("want 2 problems (heap start, pool size), got %d: %v", n, err)
	}
}
