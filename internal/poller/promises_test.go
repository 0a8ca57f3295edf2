package poller_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
)

// clockedLister is a lister whose walks take walk[i] of the scan clock
// (the i-th walk; the last value repeats).
type clockedLister struct {
	poller.Lister
	clock *clock
	walk  []time.Duration
	n     *int
}

func (l clockedLister) Walk(ctx context.Context, root string, opt sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	err := l.Lister.Walk(ctx, root, opt, fn)
	i := min(*l.n, len(l.walk)-1)
	*l.n++
	l.clock.Advance(l.walk[i])
	return err
}

// TestSettleFromScanStart: settle is measured between scan starts, so a
// slow first walk and a fast second one do not cost the file an interval.
func TestSettleFromScanStart(t *testing.T) {
	w := baseWatch()
	w.Settle = time.Second
	h := newHarness(t, w)
	var n int
	h.p = poller.New(poller.Options{Watch: w, Store: h.store, Metrics: h.m, Now: h.clock.Now,
		Lister: clockedLister{Lister: h.f.lister(), clock: h.clock, walk: []time.Duration{0, 700 * time.Millisecond, 100 * time.Millisecond}, n: &n}})
	h.scanExpect(t, poller.ResultOK) // baseline at 0, walk takes 0
	h.f.write(t, "a", "a", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK) // starts at 1s: a pending since 1s (the walk ends at 1.7s)
	h.clock.Advance(300 * time.Millisecond)
	out := h.scanExpect(t, poller.ResultOK, "create a") // starts at 2s: settled for exactly 1s
	if len(out.Events) == 1 && !out.Events[0].DetectedAt.Equal(t0.Add(2*time.Second)) {
		t.Errorf("detected_at %v, want the scan's start %v", out.Events[0].DetectedAt, t0.Add(2*time.Second))
	}
}

// TestRenameHasNoPrev: SPEC: prev is only on modify and delete.
func TestRenameHasNoPrev(t *testing.T) {
	w := baseWatch()
	w.DetectRenames = true
	w.Events = append(w.Events, "rename")
	h := newHarness(t, w)
	h.f.write(t, "old.csv", "content", baseTime)
	h.scanExpect(t, poller.ResultOK)
	if err := os.Rename(h.f.path("old.csv"), h.f.path("new.csv")); err != nil {
		t.Fatal(err)
	}
	out := h.scanExpect(t, poller.ResultOK, "rename new.csv")
	if len(out.Events) == 1 && (out.Events[0].Prev != nil || out.Events[0].OldRelPath != "old.csv") {
		t.Errorf("rename event: prev %+v, old_rel_path %q; want no prev, old.csv", out.Events[0].Prev, out.Events[0].OldRelPath)
	}
}
