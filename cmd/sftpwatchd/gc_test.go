package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestGCTuner(t *testing.T) {
	var live uint64
	var sets []int
	tu := &gcTuner{live: func() uint64 { return live }, set: func(p int) { sets = append(sets, p) }, cur: smallHeapGCPercent}
	for _, l := range []uint64{1 << 20, largeHeap - 1, largeHeap, 500 << 20, 200 << 20, 10 << 20, 10 << 20} {
		live = l
		tu.step()
	}
	// Set only on a change: to +50 % at largeHeap, back to +100 % below it.
	if want := []int{largeHeapGCPercent, smallHeapGCPercent}; len(sets) != 2 || sets[0] != want[0] || sets[1] != want[1] {
		t.Errorf("targets set %v, want %v", sets, want)
	}
}

// TestGCTunerReadsLiveHeap: the live heap is read from the runtime.
func TestGCTunerReadsLiveHeap(t *testing.T) {
	keep := make([]byte, 4<<20)
	debug.FreeOSMemory() // a collection, with keep live
	if got := liveHeap(); got < uint64(len(keep)) {
		t.Errorf("live heap read as %d bytes, with %d bytes live", got, len(keep))
	}
	keep[0] = 1
}

// TestGCHookRunsAfterCollections: the tuner steps after each collection
// until its context ends.
func TestGCHookRunsAfterCollections(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	steps := make(chan struct{}, 100)
	tu := &gcTuner{live: func() uint64 { steps <- struct{}{}; return 0 }, set: func(int) {}, cur: smallHeapGCPercent}
	armGCHook(ctx, tu)
	for i := 0; i < 3; i++ {
		deadline := time.Now().Add(10 * time.Second)
		for len(steps) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no step after collection %d", i)
			}
			runtime.GC()
			time.Sleep(time.Millisecond) // finalizers run on their own goroutine
		}
		<-steps
	}
	cancel()
	runtime.GC()
	runtime.GC() // the hook armed before cancel may run once more, then stops
	time.Sleep(10 * time.Millisecond)
	for len(steps) > 0 {
		<-steps
	}
	runtime.GC()
	time.Sleep(10 * time.Millisecond)
	if len(steps) != 0 {
		t.Error("the tuner still steps after its context ended")
	}
}
