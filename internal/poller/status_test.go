package poller_test

import (
	"context"
	"testing"
	"time"
)

// TestResetEmitOnRunningPoller: a reset with emit, applied between scans
// of a live poller, makes its next scan emit the whole tree once, though
// the watch's initial is baseline.
func TestResetEmitOnRunningPoller(t *testing.T) {
	h := newHarness(t, baseWatch())
	h.f.write(t, "a.txt", "a", baseTime)
	h.f.write(t, "d/b.txt", "b", baseTime)
	h.scanExpect(t, "ok") // baseline
	if err := h.p.Reset(func() error { return h.store.ResetWatch("w", true) }); err != nil {
		t.Fatal(err)
	}
	h.scanExpect(t, "ok", "create a.txt", "create d", "create d/b.txt")
	h.scanExpect(t, "ok")
	if err := h.p.Reset(func() error { return h.store.ResetWatch("w", false) }); err != nil {
		t.Fatal(err)
	}
	h.scanExpect(t, "ok") // a silent baseline
	if st := h.p.Status(); st.LastScan == nil || st.LastScan.Result != "ok" || st.LastScan.Entries != 3 {
		t.Errorf("status after the scans: %+v", st.LastScan)
	}
}

// TestStatusSettlingAndScanNow: settling counts the entries held back, and
// ScanNow makes Run scan at once on a 1h interval.
func TestStatusSettlingAndScanNow(t *testing.T) {
	w := baseWatch()
	w.Settle = time.Hour
	w.Interval = time.Hour
	h := newHarness(t, w)
	h.scanExpect(t, "ok")
	h.f.write(t, "new.txt", "n", baseTime)
	h.scanExpect(t, "ok")
	if st := h.p.Status(); st.Settling != 1 {
		t.Errorf("settling = %d, want 1", st.Settling)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitScans := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for len(h.scanResults()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d scans, want %d", len(h.scanResults()), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitScans(3) // Run's first scan
	deadline := time.Now().Add(10 * time.Second)
	for h.p.Status().NextScan.IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no next scan while Run runs")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.p.ScanNow()
	waitScans(4)
}
