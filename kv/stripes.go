package kv

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"
)

// stripeCount is the size of the table of mutexes that serializes writers of
// one key (two keys may share a stripe: that costs a wait, never a wrong
// result). Lock order: a goroutine holding several stripes took them in
// ascending index order; nothing else is held while it waits for a stripe.
const stripeCount = 1024

type stripe struct {
	mu sync.Mutex // serializes writers of the keys hashing here
	_  [56]byte
}

type stripes [stripeCount]stripe

// stripeOf is the stripe of a key whose hash is h (hashKey).
func stripeOf(h uint64) int { return int(h % stripeCount) }

func (s *stripes) lock(i int)   { s[i].mu.Lock() }
func (s *stripes) unlock(i int) { s[i].mu.Unlock() }

// lockSet locks the distinct stripes of keys in ascending order and returns
// them for unlockSet.
func (s *stripes) lockSet(idx []int) []int {
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s[i].mu.Lock()
	}
	return idx
}

func (s *stripes) unlockSet(idx []int) {
	for j := len(idx) - 1; j >= 0; j-- {
		s[idx[j]].mu.Unlock()
	}
}

// lockAll takes every stripe, in order: no writer runs until unlockAll.
func (s *stripes) lockAll() {
	for i := range s {
		s[i].mu.Lock()
	}
}

func (s *stripes) unlockAll() {
	for i := len(s) - 1; i >= 0; i-- {
		s[i].mu.Unlock()
	}
}

// lockAllCtx takes every stripe, in order, like lockAll, but gives up when
// ctx ends first: it then releases what it took and returns ctx's error.
func (s *stripes) lockAllCtx(ctx context.Context) error {
	for i := range s {
		for spin := 0; !s[i].mu.TryLock(); spin++ {
			if err := ctx.Err(); err != nil {
				for j := i - 1; j >= 0; j-- {
					s[j].mu.Unlock()
				}
				return err
			}
			if spin < 64 {
				runtime.Gosched()
			} else {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	return nil
}
