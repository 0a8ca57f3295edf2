package poller_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/poller"
)

// TestSizeBounds: files outside min_size..max_size are not covered. A file
// that grows into range is a create; one that leaves the range leaves the
// state silently (no delete); directories are not bounded.
func TestSizeBounds(t *testing.T) {
	w := baseWatch()
	w.MinSize, w.MaxSize = 5, 10
	h := newHarness(t, w)
	h.f.write(t, "ok.bin", "123456", baseTime)
	h.f.write(t, "small.bin", "1", baseTime)
	h.f.write(t, "big.bin", strings.Repeat("x", 11), baseTime)
	h.f.mkdir(t, "d", baseTime)
	h.scanExpect(t, poller.ResultOK) // baseline
	st := h.load(t)
	for _, k := range []string{"ok.bin", "d"} {
		if _, ok := st.Snapshot[k]; !ok {
			t.Errorf("baseline lacks %q", k)
		}
	}
	for _, k := range []string{"small.bin", "big.bin"} {
		if _, ok := st.Snapshot[k]; ok {
			t.Errorf("baseline holds %q, outside the size bounds", k)
		}
	}

	h.clock.Advance(time.Second)
	h.f.write(t, "small.bin", "12345", baseTime.Add(time.Second)) // grew to min_size: inclusive
	h.f.write(t, "new-small", "12", baseTime)
	h.f.write(t, "new-exact", strings.Repeat("y", 10), baseTime)
	h.scanExpect(t, poller.ResultOK, "create new-exact", "create small.bin")

	// Leaving the range: no delete, and the entry leaves the state.
	h.clock.Advance(time.Second)
	h.f.write(t, "ok.bin", strings.Repeat("z", 100), baseTime.Add(2*time.Second))
	h.scanExpect(t, poller.ResultOK)
	if _, ok := h.load(t).Snapshot["ok.bin"]; ok {
		t.Error("ok.bin stays in the state after it grew past max_size")
	}
	h.f.remove(t, "ok.bin")
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK) // gone while not covered: still nothing

	// Back into range: a create.
	h.f.write(t, "ok.bin", "1234567", baseTime.Add(3*time.Second))
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK, "create ok.bin")
}

// TestSizeBoundsChangeIsFilterChange: narrowing the bounds drops stored
// files silently, widening them records the newly covered ones as a first
// scan does (baseline: silently).
func TestSizeBoundsChangeIsFilterChange(t *testing.T) {
	w := baseWatch()
	h := newHarness(t, w)
	h.f.write(t, "a", "1", baseTime)
	h.f.write(t, "b", "123456", baseTime)
	h.scanExpect(t, poller.ResultOK)

	h.w.MinSize = 2
	h.p = h.newPoller()
	h.scanExpect(t, poller.ResultOK) // a dropped: no delete
	if _, ok := h.load(t).Snapshot["a"]; ok {
		t.Error("a stays in the state after min_size excluded it")
	}

	h.w.MinSize = 0
	h.p = h.newPoller()
	h.scanExpect(t, poller.ResultOK) // a newly covered: baseline, no create
	if _, ok := h.load(t).Snapshot["a"]; !ok {
		t.Error("a not recorded after min_size was removed")
	}
	if n := len(h.outbox(t)); n != 0 {
		t.Errorf("outbox holds %d events, want none", n)
	}
}

// TestRequireMarker: a file is an event only once PATH+suffix exists and it
// has settled; markers never are events, whatever include says; a marker
// that comes first works; a present marker covers rewrites.
func TestRequireMarker(t *testing.T) {
	w := baseWatch()
	w.Include = []string{"**/*.csv"}
	w.RequireMarker = ".ok"
	w.Settle = 5 * time.Second
	h := newHarness(t, w)
	h.scanExpect(t, poller.ResultOK) // baseline of the empty root

	// File before marker: held even after it settled.
	h.f.write(t, "a.csv", "a", baseTime)
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(10 * time.Second)
	h.scanExpect(t, poller.ResultOK)
	if _, ok := h.load(t).Pending["a.csv"]; !ok {
		t.Error("a.csv has no pending record while it waits for its marker")
	}
	h.f.write(t, "a.csv.ok", "", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK, "create a.csv") // settled already: at once

	// Marker before file: the file still settles first.
	h.f.write(t, "sub/b.csv.ok", "", baseTime)
	h.f.mkdir(t, "sub", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK) // sub is not included: nothing
	h.f.write(t, "sub/b.csv", "b", baseTime)
	h.f.touch(t, "sub", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(5 * time.Second)
	h.scanExpect(t, poller.ResultOK, "create sub/b.csv")

	// Rewritten after its marker: a modify once settled.
	h.f.write(t, "a.csv", "aa", baseTime.Add(time.Minute))
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(5 * time.Second)
	h.scanExpect(t, poller.ResultOK, "modify a.csv")

	// The marker goes (as remove_marker does): no event; a rewrite then
	// waits for a new marker.
	h.f.remove(t, "a.csv.ok")
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "a.csv", "aaa", baseTime.Add(2*time.Minute))
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(time.Minute)
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "a.csv.ok", "", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK, "modify a.csv")

	// Deletes are not held; a marker alone is never an event.
	h.f.remove(t, "a.csv")
	h.f.remove(t, "a.csv.ok")
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK, "delete a.csv")
	for k := range h.load(t).Snapshot {
		if strings.HasSuffix(k, ".ok") {
			t.Errorf("marker %q is in the state", k)
		}
	}
}

// TestRequireMarkerMatchesEverything: with no include, markers are still
// never events, and a file deleted while it waited for its marker is nothing.
func TestRequireMarkerMatchesEverything(t *testing.T) {
	w := baseWatch()
	w.RequireMarker = ".done"
	h := newHarness(t, w)
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "x.done", "", baseTime) // a marker without its file
	h.f.write(t, "y", "y", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
	h.f.remove(t, "y")
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "x", "x", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK, "create x")
	if p := h.load(t).Pending; len(p) != 0 {
		t.Errorf("pending left behind: %v", p)
	}
}

// TestRequireMarkerAddedIsFilterChange: entries named like markers that the
// state held before require_marker was set leave it silently.
func TestRequireMarkerAddedIsFilterChange(t *testing.T) {
	w := baseWatch()
	h := newHarness(t, w)
	h.f.write(t, "a", "a", baseTime)
	h.f.write(t, "a.ok", "", baseTime)
	h.scanExpect(t, poller.ResultOK)
	h.w.RequireMarker = ".ok"
	h.p = h.newPoller()
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK) // no delete of a.ok
	st := h.load(t)
	if _, ok := st.Snapshot["a.ok"]; ok {
		t.Error("a.ok stays in the state after it became a marker")
	}
	if _, ok := st.Snapshot["a"]; !ok {
		t.Error("a left the state")
	}
	h.f.remove(t, "a.ok")
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK)
}
