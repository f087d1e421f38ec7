package daxmap

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestWithDefaults(t *testing.T) {
	o, err := withDefaults(Options{ChunkSize: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{ChunkSize: 2 << 20, Sync: SyncAuto, Perm: 0o600}
	if o != want {
		t.Errorf("defaults %+v, want %+v", o, want)
	}

	o, err = withDefaults(Options{Size: 100, ChunkSize: 1 << 20, MaxSize: 5<<20 + 7, Perm: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != 1<<20 || o.MaxSize != 5<<20 || o.Perm != 0o640 {
		t.Errorf("rounding: Size %d MaxSize %d Perm %v", o.Size, o.MaxSize, o.Perm)
	}
}

func TestWithDefaultsReportsEveryProblem(t *testing.T) {
	_, err := withDefaults(Options{Size: -1, ChunkSize: 3 << 16, MaxSize: -1, Sync: 7, Perm: 0o4755})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"ChunkSize", "Size -1", "MaxSize -1", "Sync", "Perm"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	for _, o := range []Options{
		{},                   // no chunk size
		{ChunkSize: 3 << 16}, // not a power of two
		{ChunkSize: 2 << 10}, // below the page size
		{ChunkSize: 1 << 20, Size: 4 << 20, MaxSize: 2 << 20},
		{ChunkSize: 2 << 20, MaxSize: 1 << 20}, // below one chunk after rounding
	} {
		if _, err := withDefaults(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestReservationPlan(t *testing.T) {
	o, _ := withDefaults(Options{ChunkSize: 2 << 20})
	plan, err := reservationPlan(o, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if plan[0] != DefaultMaxSize || plan[len(plan)-1] != minDefaultReservation {
		t.Errorf("plan %v: want 1 TiB first and 1 GiB last", plan)
	}
	for i := 1; i < len(plan); i++ {
		if plan[i] != plan[i-1]/2 {
			t.Errorf("plan %v does not halve", plan)
		}
	}

	// A big pool keeps four times its size in reserve.
	plan, _ = reservationPlan(o, 3<<30)
	if got := plan[len(plan)-1]; got != 12<<30 {
		t.Errorf("floor for a 3 GiB pool is %d, want 12 GiB", got)
	}
	plan, _ = reservationPlan(o, 1<<40)
	if !slices.Equal(plan, []int64{4 << 40}) {
		t.Errorf("plan for a 1 TiB pool %v, want only 4 TiB", plan)
	}

	o.MaxSize = 8 << 20
	plan, err = reservationPlan(o, 4<<20)
	if err != nil || !slices.Equal(plan, []int64{8 << 20}) {
		t.Errorf("explicit MaxSize: %v %v, want only it", plan, err)
	}
	if _, err := reservationPlan(o, 16<<20); !errors.Is(err, ErrNoSpace) {
		t.Errorf("pool larger than MaxSize: %v, want ErrNoSpace", err)
	}
}

func TestSyncPolicyString(t *testing.T) {
	for p, want := range map[SyncPolicy]string{SyncAuto: "auto", SyncRequire: "require", SyncNever: "never", 9: "SyncPolicy(9)"} {
		if p.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(p), p.String(), want)
		}
	}
}
