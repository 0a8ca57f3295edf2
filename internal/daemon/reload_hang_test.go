package daemon

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadWaitsForHangingStep: a watch changed by a reload while one of
// its steps hangs gets a new instance that does not scan before the old
// one stopped; the old step gets shutdown_timeout, then it is cancelled,
// and the new instance delivers the event again (it stayed in the outbox).
func TestReloadWaitsForHangingStep(t *testing.T) {
	const timeout = time.Second
	f := newFixture(t)
	actions, pid := sleepingExec(t)
	cfg := func(interval string) string {
		return strings.Replace(f.watchActions("a", "h1", "    initial: emit\n", actions), "interval: 100ms", "interval: "+interval, 1)
	}
	before := f.config(timeout, f.host("h1", "", "u1"), cfg("1h"))
	f.put("a/f.csv")
	if err := f.d.Start(before); err != nil {
		t.Fatalf("Start: %v", err)
	}
	eventually(t, 15*time.Second, "the step is in flight", func() bool { return pid() != 0 })
	first := pid()
	old := f.snapshot().running["a"]
	scans := f.scanCount("a")

	start := time.Now()
	if err := f.d.Apply(f.config(timeout, f.host("h1", "", "u1"), cfg("2h"))); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	eventually(t, timeout+stopGrace+time.Second, "the old instance stops", func() bool {
		// Read before asking whether the old instance stopped: seen
		// while it still ran.
		n, p := f.scanCount("a"), pid()
		if isStopped(old) {
			return true
		}
		if n != scans {
			t.Fatalf("watch a scanned (%d scans, %d before the reload) while its old instance still ran", n, scans)
		}
		if p != first {
			t.Fatalf("the event ran again (pid %d, first %d) while the old instance still ran", p, first)
		}
		return false
	})
	if took := time.Since(start); took < timeout {
		t.Errorf("the old instance stopped after %v: its step did not get shutdown_timeout (%v)", took, timeout)
	}
	if err := syscall.Kill(first, 0); err == nil {
		t.Errorf("the old step (pid %d) still runs after its instance stopped", first)
	}
	eventually(t, 15*time.Second, "the new instance delivers the event again", func() bool {
		p := pid()
		return p != 0 && p != first
	})
}
