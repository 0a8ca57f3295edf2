package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The garbage collector's target, unless GOGC is set: Go's default +100 %
// while the live heap is small, +50 % once it holds a large snapshot.
//
// The heap of a large watch is mostly its snapshot.Tree, whose arrays hold
// no pointers, so a collection costs little whatever its size: collecting
// at +50 % keeps a 1,000,000-entry watch at ~134 MB peak RSS instead of
// ~162 MB (bench, same run), with no CPU cost (2.2 vs 2.5 ms per 1,000
// entries). A small heap is the opposite case: a download allocates about
// 1.4 bytes per byte copied (x/crypto/ssh copies every packet), and at
// +50 % of a few MB the collector runs every few MB; a 1 GiB download at
// 0 ms RTT took 2.6-3.0 s at +50 % and 1.9-2.0 s at +100 % (bench,
// alternated runs).
const (
	smallHeapGCPercent = 100
	largeHeapGCPercent = 50
	largeHeap          = 32 << 20 // live bytes from which the heap counts as large
)

// gcTuner sets the collector's target from the live heap measured by the
// last collection, at the end of every collection (a finalizer, re-armed
// each time, is the hook the runtime offers): a heap that grows fast, as
// during a first baseline, is switched at once, not a polling period
// later.
type gcTuner struct {
	live func() uint64     // live heap bytes after the last collection
	set  func(percent int) // debug.SetGCPercent
	cur  int
}

// gcPercentFor is the target for a live heap of live bytes.
func gcPercentFor(live uint64) int {
	if live >= largeHeap {
		return largeHeapGCPercent
	}
	return smallHeapGCPercent
}

// step sets the target for the live heap now, when it changes.
func (t *gcTuner) step() {
	if want := gcPercentFor(t.live()); want != t.cur {
		t.set(want)
		t.cur = want
	}
}

// liveHeap is the live heap measured by the last collection.
func liveHeap() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// tuneGC runs the tuner after every collection until ctx ends; the target
// starts at Go's default.
func tuneGC(ctx context.Context) {
	t := &gcTuner{live: liveHeap, set: func(p int) { debug.SetGCPercent(p) }, cur: smallHeapGCPercent}
	armGCHook(ctx, t)
}

// gcSentinel is garbage as soon as it is made: its finalizer runs after
// the next collection.
type gcSentinel struct{ _ [16]byte }

func armGCHook(ctx context.Context, t *gcTuner) {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if ctx.Err() != nil {
			return
		}
		t.step()
		armGCHook(ctx, t)
	})
}
