package diff

import (
	"testing"
	"time"
)

// replayPaths is the namespace of the replay fuzzers: small, so that paths
// are reused, overwritten and renamed onto each other often.
var replayPaths = []string{"a", "b", "c", "d", "d/e", "d/f"}

// replayer runs a random sequence of tree mutations with scans in between,
// keeping the daemon's state (sim) and a consumer's view built only from the
// emitted events.
type replayer struct {
	t     *testing.T
	src   *byteSource
	tree  Snapshot // the real remote tree
	view  Snapshot // what a consumer knows from the events
	sim   *sim
	clock time.Time
}

func newReplayer(t *testing.T, data []byte, opt Options) *replayer {
	return &replayer{
		t:     t,
		src:   &byteSource{b: data},
		tree:  Snapshot{},
		view:  Snapshot{},
		sim:   newSim(opt),
		clock: t0,
	}
}

func (r *replayer) path() string { return replayPaths[int(r.src.next())%len(replayPaths)] }

// mutate applies one random operation to the tree, or scans; it reports
// whether it scanned.
func (r *replayer) mutate() bool {
	op := r.src.next()
	r.clock = r.clock.Add(time.Duration(op>>4) * 700 * time.Millisecond)
	now := r.clock.Unix()
	switch op % 8 {
	case 0: // create or overwrite; small sizes and a coarse clock make equal content common
		x := r.src.next()
		e := Entry{Type: EntryType(x % 4 % 3), Size: int64(x>>2) % 3, MTime: now - int64(x>>4%2), Mode: 0o644}
		if e.Type == Symlink {
			e.Link = []string{"t", "u"}[x>>5&1]
		}
		r.tree[r.path()] = e
	case 1: // append
		p := r.path()
		if e, ok := r.tree[p]; ok {
			e.Size++
			e.MTime = now
			r.tree[p] = e
		}
	case 2: // touch
		p := r.path()
		if e, ok := r.tree[p]; ok {
			e.MTime = now
			r.tree[p] = e
		}
	case 3: // chmod: no event, ever
		p := r.path()
		if e, ok := r.tree[p]; ok {
			e.Mode ^= 0o022
			r.tree[p] = e
		}
	case 4, 5: // delete
		delete(r.tree, r.path())
	case 6: // rename, overwriting the target
		from, to := r.path(), r.path()
		if e, ok := r.tree[from]; ok && from != to {
			delete(r.tree, from)
			r.tree[to] = e
		}
	default:
		r.scan()
		return true
	}
	return false
}

// scan lists the tree, runs Compare through the sim and applies the emitted
// events to the consumer's view, failing on any event that does not fit it.
func (r *replayer) scan() Result {
	r.t.Helper()
	res := r.sim.scan(cloneSnap(r.tree), r.clock)
	if err := applyChanges(r.view, res.Changes); err != nil {
		r.t.Fatalf("at %v: %v\n%s", r.clock.Sub(t0), err, formatResult(res))
	}
	// With every event emitted, the committed snapshot is exactly what
	// the consumer was told (modes aside).
	if err := sameContentSnapshots(r.view, r.sim.snap); err != nil {
		r.t.Fatalf("at %v: consumer view vs committed snapshot: %v", r.clock.Sub(t0), err)
	}
	return res
}

func replaySeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0, 1, 7, 0x11, 0, 7, 0x04, 0, 7})                      // create, append, delete
	f.Add([]byte{0x00, 0, 1, 0x00, 0, 2, 7, 0x06, 0, 3, 7, 0x07})             // rename a -> d
	f.Add([]byte{0x00, 0, 1, 0x00, 1, 1, 7, 0x06, 0, 2, 0x06, 1, 3, 7, 0x07}) // two equal files renamed
	f.Add([]byte{0x00, 0, 0x41, 7, 0x00, 0, 0x01, 7, 0x03, 0, 7, 0x12, 0, 7}) // type change, chmod
	f.Add([]byte{0x10, 3, 5, 0x27, 0x31, 4, 0x20, 1, 4, 0x37, 0x26, 4, 1, 0x47, 0x05, 4, 0x57, 0xf7})
}

// FuzzReplayNetChanges: with settle 0 and no failures, after every scan the
// consumer's view equals the real tree exactly: nothing lost, nothing
// invented, and every event fits the view it is applied to.
func FuzzReplayNetChanges(f *testing.F) {
	replaySeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		r := newReplayer(t, data[1:], Options{DetectRenames: data[0]&1 == 1})
		for !r.src.done() {
			if r.mutate() {
				if err := sameContentSnapshots(r.view, r.tree); err != nil {
					t.Fatalf("at %v: consumer view vs tree: %v", r.clock.Sub(t0), err)
				}
			}
		}
		r.scan()
		if err := sameContentSnapshots(r.view, r.tree); err != nil {
			t.Fatalf("final: consumer view vs tree: %v", err)
		}
		if len(r.sim.pend) != 0 {
			t.Fatalf("pending records left with settle 0: %v", r.sim.pend)
		}
	})
}

// FuzzReplaySettled: the same with settle and min_age > 0. While the tree
// changes the view may lag, but every event fits it; after a quiet period
// longer than settle and min_age it equals the tree, nothing stays pending,
// and a further scan is empty.
func FuzzReplaySettled(f *testing.F) {
	replaySeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		opt := Options{
			DetectRenames: data[0]&1 == 1,
			Settle:        time.Duration(1+data[0]>>1%20) * time.Second,
			MinAge:        time.Duration(data[0]>>6) * time.Second,
		}
		r := newReplayer(t, data[1:], opt)
		for !r.src.done() {
			r.mutate()
		}
		r.scan()
		r.clock = r.clock.Add(opt.Settle + opt.MinAge + time.Second)
		r.scan()
		if err := sameContentSnapshots(r.view, r.tree); err != nil {
			t.Fatalf("after a quiet period: consumer view vs tree: %v", err)
		}
		if len(r.sim.pend) != 0 {
			t.Fatalf("pending records left after a quiet period: %v", r.sim.pend)
		}
		r.clock = r.clock.Add(time.Hour)
		if res := r.scan(); !res.Empty() {
			t.Fatalf("scan of an unchanged, settled tree is not empty:\n%s", formatResult(res))
		}
	})
}
