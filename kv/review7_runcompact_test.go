package kv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Compact lists the wholly free chunks, checks each for blocks and only
// then evacuates them: a run Put in between takes free chunks, maybe the
// very ones. Evacuate skips a run's chunks (a run is never moved: Compact
// used to try, with AllocDense, and fail with ErrValueTooLarge).
func TestCompactRacesRunPut(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(shmDir(t), "race.pool")
	opts := smallOpts(DAXEmulated)
	opts.NoAutoCompact = true
	db := openTest(t, path, opts)
	// Many wholly free chunks: the longer Compact's HasData loop, the
	// wider the window.
	for i := range 1000 {
		mustPut(t, db, []byte(fmt.Sprintf("fill-%d", i)), runValue(i, 0, chunk+100))
	}
	for i := range 1000 {
		if err := db.Delete([]byte(fmt.Sprintf("fill-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i++ {
			if err := db.Put([]byte(fmt.Sprintf("w-%d", i)), runValue(i, 1, chunk+100)); err != nil {
				t.Errorf("Put: %v", err)
				return
			}
			if i >= 16 {
				if err := db.Delete([]byte(fmt.Sprintf("w-%d", i-16))); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	var failure error
	rounds := 0
	for time.Now().Before(deadline) && failure == nil {
		rounds++
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := db.CompactWithResult(ctx)
		cancel()
		if err != nil {
			failure = err
		}
	}
	stop.Store(true)
	wg.Wait()
	if failure != nil {
		t.Fatalf("Compact (round %d) beside Puts of runs: %v (busy %v, value too large %v)",
			rounds, failure, errors.Is(failure, ErrBusy), errors.Is(failure, ErrValueTooLarge))
	}
	t.Logf("%d rounds without a failure", rounds)
}
