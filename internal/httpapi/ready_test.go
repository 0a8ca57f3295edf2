package httpapi_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/httpapi"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
)

func TestReadyWindow(t *testing.T) {
	for _, tc := range []struct{ interval, want time.Duration }{
		{0, time.Minute},
		{time.Second, time.Minute},
		{20 * time.Second, time.Minute},
		{21 * time.Second, 63 * time.Second},
		{5 * time.Minute, 15 * time.Minute},
	} {
		if got := httpapi.ReadyWindow(tc.interval); got != tc.want {
			t.Errorf("ReadyWindow(%v) = %v, want %v", tc.interval, got, tc.want)
		}
	}
}

func names(st []httpapi.WatchStatus) []string {
	var out []string
	for _, s := range st {
		out = append(out, s.Watch)
	}
	return out
}

func TestTrackerRules(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := newClock(t0)
	tr := httpapi.NewTracker(clk.Now)
	if got := tr.NotReady(t0); len(got) != 0 {
		t.Fatalf("empty tracker not ready: %v", got)
	}

	tr.SetWatch("w", 10*time.Minute) // window 30m
	tr.ScanFinished("w", metrics.ScanError, t0)
	if got := tr.NotReady(t0); len(got) != 1 || got[0].LastSuccess != nil {
		t.Fatalf("error-only watch: %+v, want not ready with no last success", got)
	}

	tr.ScanFinished("w", metrics.ScanOK, t0.Add(time.Minute))
	// A late report of an older scan must not move last success backwards.
	tr.ScanFinished("w", metrics.ScanPartial, t0)
	if got := tr.NotReady(t0.Add(31 * time.Minute)); len(got) != 0 {
		t.Fatalf("31m after an ok scan at +1m with a 30m window: %+v, want ready", got)
	}
	got := tr.NotReady(t0.Add(31*time.Minute + time.Second))
	if len(got) != 1 || got[0].LastSuccess == nil || !got[0].LastSuccess.Equal(t0.Add(time.Minute)) {
		t.Fatalf("past window: %+v", got)
	}

	// A reload that keeps the watch keeps its history, with the new interval.
	tr.SetWatch("w", 20*time.Minute) // window 60m
	if got := tr.NotReady(t0.Add(61 * time.Minute)); len(got) != 0 {
		t.Fatalf("after interval change: %+v, want ready (60m window)", got)
	}

	// Scans of watches the tracker does not know are ignored.
	tr.ScanFinished("ghost", metrics.ScanOK, t0)
	if got := tr.NotReady(t0); len(got) != 0 {
		t.Fatalf("unknown watch appeared: %+v", got)
	}

	// A zero time means the tracker's clock.
	tr.SetWatch("z", time.Second)
	clk.Set(t0.Add(time.Hour))
	tr.ScanFinished("z", metrics.ScanOK, time.Time{})
	if got := tr.NotReady(t0.Add(time.Hour + time.Minute)); len(got) != 0 {
		t.Fatalf("zero-time scan not taken as now: %+v", got)
	}

	// Anything but ok/partial is a failure.
	tr.SetWatch("x", time.Second)
	tr.ScanFinished("x", "bogus", t0.Add(time.Hour))
	if got := names(tr.NotReady(t0.Add(time.Hour))); len(got) != 1 || got[0] != "x" {
		t.Fatalf("unknown result counted as success: %v", got)
	}
	tr.RemoveWatch("x")
	tr.RemoveWatch("never-there")
	if got := tr.NotReady(t0.Add(time.Hour)); len(got) != 0 {
		t.Fatalf("after RemoveWatch: %+v", got)
	}
}

func TestTrackerConcurrentUse(t *testing.T) {
	tr := httpapi.NewTracker(nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d", i)
			for j := range 200 {
				tr.SetWatch(name, time.Second)
				tr.ScanFinished(name, metrics.ScanOK, time.Time{})
				_ = tr.NotReady(time.Now())
				if j%50 == 0 {
					tr.RemoveWatch(name)
				}
			}
		}()
	}
	wg.Wait()
	if got := tr.NotReady(time.Now()); len(got) != 0 {
		t.Fatalf("all watches just scanned ok, yet not ready: %v", names(got))
	}
}
