package poller_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

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

// TestCommitFailuresRateLimited: while every commit fails (a full state
// disk), Run counts each failure in commit_errors_total, logs it at most
// once a minute, and the first scan after the store works again commits
// what happened meanwhile.
func TestCommitFailuresRateLimited(t *testing.T) {
	w := baseWatch()
	w.Interval = 5 * time.Millisecond
	h := newHarness(t, w)
	core, logs := observer.New(zap.InfoLevel)
	h.p = poller.New(poller.Options{Watch: w, Lister: h.f.lister(), Store: h.store, Metrics: h.m,
		Now: h.clock.Now, Logger: zap.New(core)})
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "a", "a", baseTime)
	h.store.failing.Store(true)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	commitErrors := func() float64 { return testutil.ToFloat64(h.m.CommitErrorsTotal.WithLabelValues("w")) }
	notCommitted := func() []observer.LoggedEntry { return logs.FilterMessageSnippet("scan not committed").All() }
	waitUntil(t, "5 failed commits", func() bool { return commitErrors() >= 5 })
	if n := len(notCommitted()); n != 1 {
		t.Errorf("%d failures logged within a minute, want 1", n)
	}
	h.clock.Advance(61 * time.Second)
	n := commitErrors()
	waitUntil(t, "failed commits a minute later", func() bool { return commitErrors() >= n+2 })
	if got := notCommitted(); len(got) != 2 {
		t.Errorf("%d failures logged over a minute and a bit, want 2", len(got))
	} else if s := got[1].ContextMap()["not_logged_since_last"]; s.(int64) < 4 {
		t.Errorf("second log line counts %v failures not logged, want at least 4", s)
	}
	if got := testutil.ToFloat64(h.m.ScansTotal.WithLabelValues("w", "error")); got < commitErrors()-1 {
		t.Errorf("scans_total{error} = %v for %v commit errors", got, commitErrors())
	}
	if len(h.outbox(t)) != 0 {
		t.Fatal("events in the outbox while every commit failed")
	}
	h.store.failing.Store(false)
	waitUntil(t, "the create committed", func() bool { return len(h.outbox(t)) == 1 })
	waitUntil(t, "the recovery logged", func() bool { return logs.FilterMessage("state commits work again").Len() == 1 })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReuploadAfterSelfRemoval: a file the daemon moved or deleted and
// that is uploaded again under the same name, with the same size and
// mtime, is a create, whether or not a scan saw it gone in between, and
// even across a restart; a scan before the removal finished sees nothing.
func TestReuploadAfterSelfRemoval(t *testing.T) {
	w := baseWatch()
	w.Types = []string{"file"}
	for _, tc := range []struct {
		name          string
		scanInBetween bool
		restart       bool
	}{
		{"seen gone in between", true, false},
		{"uploaded again before the next scan", false, false},
		{"uploaded again before a restart", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, w)
			h.f.write(t, "x.csv", "same", baseTime)
			h.scanExpect(t, poller.ResultOK)
			// The move action: mark, (a scan may run here), move, confirm.
			if err := h.store.MarkSelfRemoved("w", "x.csv"); err != nil {
				t.Fatal(err)
			}
			h.p.MarkSelfRemoved("x.csv")
			h.scanExpect(t, poller.ResultOK) // still there: nothing
			h.f.remove(t, "x.csv")
			at := h.clock.Now()
			if err := h.store.ConfirmSelfRemoved("w", "x.csv", at); err != nil {
				t.Fatal(err)
			}
			h.p.ConfirmSelfRemoved("x.csv", at)
			h.clock.Advance(time.Second)
			if tc.scanInBetween {
				h.scanExpect(t, poller.ResultOK) // gone: no delete
			}
			h.f.write(t, "x.csv", "same", baseTime)
			if tc.restart {
				h.p = h.newPoller()
			}
			h.scanExpect(t, poller.ResultOK, "create x.csv")
			if st := h.load(t); len(st.SelfRemoved) != 0 {
				t.Errorf("self-removed markers left: %v", st.SelfRemoved)
			}
			h.f.remove(t, "x.csv")
			h.scanExpect(t, poller.ResultOK, "delete x.csv") // tracked as any file
		})
	}
}
