package poller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/metrics"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// t0 is the scan clock's start; deliberately not UTC and with nanoseconds,
// so that detected_at's conversion and precision are checked.
var t0 = time.Date(2026, 3, 4, 6, 6, 7, 123456789, time.FixedZone("CET", 3600))

type scanRecord struct {
	result string
	at     time.Time
}

// harness is one watch over the embedded server, a real state store (with
// commits counted), an injected clock, metrics on a private registry, and
// the poller's Notify and OnScan recorded.
type harness struct {
	f      *fixture
	dir    string // state dir
	store  *countingStore
	clock  *clock
	m      *metrics.Metrics
	w      config.Watch
	notify atomic.Int64

	mu    sync.Mutex
	scans []scanRecord

	p *poller.Poller
}

func newHarness(t *testing.T, w config.Watch) *harness {
	t.Helper()
	h := &harness{f: newFixture(t), dir: t.TempDir(), clock: newClock(t0), w: w,
		m: metrics.New(prometheus.NewRegistry(), "test")}
	h.store = &countingStore{Store: openStoreIn(t, h.dir)}
	h.p = h.newPoller()
	return h
}

// newPoller is a fresh poller over the same store (as after a restart).
func (h *harness) newPoller() *poller.Poller {
	return poller.New(poller.Options{
		Watch:   h.w,
		Lister:  h.f.lister(),
		Store:   h.store,
		Metrics: h.m,
		Notify:  func() { h.notify.Add(1) },
		OnScan: func(result string, at time.Time) {
			h.mu.Lock()
			h.scans = append(h.scans, scanRecord{result, at})
			h.mu.Unlock()
		},
		Now: h.clock.Now,
	})
}

// scan runs one ScanOnce, failing the test on a state error.
func (h *harness) scan(t *testing.T, dry bool) poller.Outcome {
	t.Helper()
	out, err := h.p.ScanOnce(context.Background(), dry)
	if err != nil {
		t.Fatalf("ScanOnce: %v", err)
	}
	return out
}

// scanExpect scans and checks the result and the "type rel_path" of the events.
func (h *harness) scanExpect(t *testing.T, result string, want ...string) poller.Outcome {
	t.Helper()
	out := h.scan(t, false)
	if out.Result != result {
		t.Errorf("Result = %q (%v), want %q", out.Result, out.Err, result)
	}
	if got := eventKeys(out.Events); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
	return out
}

func (h *harness) load(t *testing.T) *state.Watch {
	t.Helper()
	st, err := h.store.Load(h.w.Name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (h *harness) outbox(t *testing.T) []event.Event {
	t.Helper()
	items, err := h.store.Outbox(h.w.Name)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]event.Event, len(items))
	for i, it := range items {
		evs[i] = it.Event
	}
	return evs
}

func (h *harness) commits() int64 { return h.store.commits.Load() }

func (h *harness) scanResults() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, s := range h.scans {
		out = append(out, s.result)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// dbStamp is state.db's size and mtime: unchanged means nothing was written.
func dbStamp(t *testing.T, dir string) string {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(fi.Size(), fi.ModTime().UnixNano())
}

func TestBaselineEmitsNothing(t *testing.T) {
	h := newHarness(t, baseWatch())
	h.f.write(t, "a.csv", "aaa", baseTime)
	h.f.write(t, "sub/b.csv", "bb", baseTime)
	h.f.mkdir(t, "sub", baseTime)

	h.scanExpect(t, poller.ResultOK)
	if h.commits() != 1 {
		t.Errorf("baseline made %d commits, want 1", h.commits())
	}
	st := h.load(t)
	if !st.Initialized {
		t.Error("watch not initialized after the baseline")
	}
	if got, want := sortedKeys(st.Snapshot), []string{"a.csv", "sub", "sub/b.csv"}; !slices.Equal(got, want) {
		t.Errorf("stored snapshot %q, want %q", got, want)
	}
	if st.Snapshot["a.csv"].Size != 3 || st.Snapshot["a.csv"].MTime != baseTime.Unix() {
		t.Errorf("stored a.csv = %+v", st.Snapshot["a.csv"])
	}
	if ob := h.outbox(t); len(ob) != 0 {
		t.Errorf("baseline put %d events in the outbox", len(ob))
	}

	// An unchanged rescan writes nothing at all.
	stamp := dbStamp(t, h.dir)
	for range 3 {
		h.clock.Advance(time.Minute)
		h.scanExpect(t, poller.ResultOK)
	}
	if h.commits() != 1 {
		t.Errorf("unchanged rescans called Commit: %d commits in all, want 1", h.commits())
	}
	if got := dbStamp(t, h.dir); got != stamp {
		t.Errorf("state.db changed on unchanged rescans: %s -> %s", stamp, got)
	}
	if n := h.notify.Load(); n != 0 {
		t.Errorf("Notify called %d times without events", n)
	}
}

func TestInitialEmitGivesCreates(t *testing.T) {
	w := baseWatch()
	w.Initial = "emit"
	h := newHarness(t, w)
	h.f.write(t, "a.csv", "aaa", baseTime)
	h.f.write(t, "sub/b.csv", "bb", baseTime)
	h.f.mkdir(t, "sub", baseTime)

	out := h.scanExpect(t, poller.ResultOK, "create a.csv", "create sub", "create sub/b.csv")
	for i, e := range out.Events {
		if want := fmt.Sprintf("w-%012d", i+1); e.ID != want {
			t.Errorf("event %d ID %q, want %q", i, e.ID, want)
		}
	}
	if got := eventKeys(h.outbox(t)); !slices.Equal(got, eventKeys(out.Events)) {
		t.Errorf("outbox %q, want the committed events", got)
	}
	if n := h.notify.Load(); n != 1 {
		t.Errorf("Notify called %d times, want 1", n)
	}
	h.scanExpect(t, poller.ResultOK)

	// An empty root with initial: emit is initialized by its first scan.
	w2 := baseWatch()
	w2.Initial = "emit"
	h2 := newHarness(t, w2)
	h2.scanExpect(t, poller.ResultOK)
	if !h2.load(t).Initialized {
		t.Error("empty tree: not initialized")
	}
	h2.f.write(t, "late", "x", baseTime)
	h2.scanExpect(t, poller.ResultOK, "create late")
}

// checkEvent compares every field of SPEC section 4 except the ID.
func checkEvent(t *testing.T, got, want event.Event) {
	t.Helper()
	g, w := got, want
	g.ID, w.ID = "", ""
	for _, tm := range []time.Time{g.MTime, g.DetectedAt} {
		if tm.Location() != time.UTC {
			t.Errorf("%s %q: time %v is not UTC", g.Type, g.RelPath, tm)
		}
	}
	if g.Prev != nil && g.Prev.MTime.Location() != time.UTC {
		t.Errorf("%s %q: prev mtime %v is not UTC", g.Type, g.RelPath, g.Prev.MTime)
	}
	gj, _ := json.Marshal(g)
	wj, _ := json.Marshal(w)
	if string(gj) != string(wj) || g.OldRelPath != w.OldRelPath || !g.DetectedAt.Equal(w.DetectedAt) {
		t.Errorf("event\n got %s\nwant %s", gj, wj)
	}
}

func TestEventFields(t *testing.T) {
	h := newHarness(t, baseWatch())
	h.f.write(t, "keep.csv", "k", baseTime)
	h.f.write(t, "mod.csv", "abc", baseTime)
	h.f.write(t, "del.csv", "abcd", baseTime)
	h.scanExpect(t, poller.ResultOK)

	h.f.write(t, "mod.csv", "12345", baseTime.Add(time.Hour))
	h.f.remove(t, "del.csv")
	h.f.write(t, "nd/new.csv", "nn", baseTime.Add(2*time.Hour))
	h.f.mkdir(t, "nd", baseTime.Add(3*time.Hour))
	h.f.write(t, weird, "w", baseTime.Add(4*time.Hour))
	ndInfo, err := os.Stat(h.f.path("nd"))
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	now := h.clock.Now()

	out := h.scanExpect(t, poller.ResultOK, "delete del.csv", "modify mod.csv", "create nd", "create nd/new.csv", "create "+weird)
	if len(out.Events) != 5 {
		t.FailNow()
	}
	base := event.Event{Watch: "w", Host: "h1", EntryType: "file", Mode: "0644", DetectedAt: now.UTC()}
	ev := func(typ event.Type, rel string, size int64, mt time.Time, prev *event.Prev) event.Event {
		e := base
		e.Type, e.RelPath, e.Path, e.Name = typ, rel, fxRoot+"/"+rel, filepath.Base(rel)
		e.Size, e.MTime, e.Prev = size, mt, prev
		return e
	}
	dir := ev(event.Create, "nd", ndInfo.Size(), baseTime.Add(3*time.Hour), nil)
	dir.EntryType, dir.Mode = "dir", "0755"
	want := []event.Event{
		ev(event.Delete, "del.csv", 4, baseTime, &event.Prev{Size: 4, MTime: baseTime}),
		ev(event.Modify, "mod.csv", 5, baseTime.Add(time.Hour), &event.Prev{Size: 3, MTime: baseTime}),
		dir,
		ev(event.Create, "nd/new.csv", 2, baseTime.Add(2*time.Hour), nil),
		ev(event.Create, weird, 1, baseTime.Add(4*time.Hour), nil),
	}
	idRE := regexp.MustCompile(`^w-\d{12}$`)
	ids := map[string]bool{}
	for i := range want {
		checkEvent(t, out.Events[i], want[i])
		if id := out.Events[i].ID; !idRE.MatchString(id) || ids[id] {
			t.Errorf("event %d ID %q: not of the form w-<12 digits>, or repeated", i, id)
		} else {
			ids[id] = true
		}
	}
	if !out.Events[1].DetectedAt.Equal(t0.Add(time.Minute)) || out.Events[1].DetectedAt.Nanosecond() != 123456789 {
		t.Errorf("detected_at %v is not the injected clock's %v", out.Events[1].DetectedAt, t0.Add(time.Minute))
	}
	// The wire form: UTC seconds, octal mode, prev only where it belongs.
	j, _ := json.Marshal(out.Events[1])
	for _, s := range []string{`"mtime":"2026-01-02T04:04:05Z"`, `"mode":"0644"`, `"prev":{"size":3,"mtime":"2026-01-02T03:04:05Z"}`,
		`"path":"/up/mod.csv"`, `"detected_at":"2026-03-04T05:07:07.123456789Z"`} {
		if !strings.Contains(string(j), s) {
			t.Errorf("modify JSON %s lacks %s", j, s)
		}
	}
	if j, _ := json.Marshal(out.Events[2]); strings.Contains(string(j), "prev") || strings.Contains(string(j), "old_path") {
		t.Errorf("create JSON has prev or old_path: %s", j)
	}
	// What was returned is what the outbox holds.
	ob := h.outbox(t)
	if len(ob) != len(out.Events) {
		t.Fatalf("outbox holds %d events, scan returned %d", len(ob), len(out.Events))
	}
	for i := range ob {
		if ob[i].ID != out.Events[i].ID {
			t.Errorf("outbox[%d] ID %q, scan returned %q", i, ob[i].ID, out.Events[i].ID)
		}
		checkEvent(t, ob[i], want[i])
	}
}

func TestSettle(t *testing.T) {
	w := baseWatch()
	w.Settle = 10 * time.Second
	h := newHarness(t, w)
	h.scanExpect(t, poller.ResultOK) // baseline of the empty root
	c0 := h.commits()

	// Upload in progress: first seen at +1s with 10 bytes.
	h.clock.Advance(time.Second)
	h.f.write(t, "f.bin", strings.Repeat("x", 10), baseTime)
	h.scanExpect(t, poller.ResultOK)
	if p, ok := h.load(t).Pending["f.bin"]; !ok || p.Entry.Size != 10 || p.Since != h.clock.Now().UnixNano() {
		t.Errorf("pending after the first sighting = %+v, %v; want size 10 since now", p, ok)
	}

	// Still growing at +6s: the settle clock restarts.
	h.clock.Advance(5 * time.Second)
	h.f.write(t, "f.bin", strings.Repeat("x", 20), baseTime.Add(time.Second))
	h.scanExpect(t, poller.ResultOK)
	restarted := h.clock.Now()

	// +15s: unchanged for 9s, not yet settled, and nothing to write.
	h.clock.Advance(9 * time.Second)
	before := h.commits()
	h.scanExpect(t, poller.ResultOK)
	if h.commits() != before {
		t.Error("an unchanged unsettled entry caused a commit")
	}
	if p := h.load(t).Pending["f.bin"]; p.Since != restarted.UnixNano() || p.Entry.Size != 20 {
		t.Errorf("pending = %+v, want size 20 since %v", p, restarted)
	}

	// +16s: settled. One create with the final attributes.
	h.clock.Advance(time.Second)
	out := h.scanExpect(t, poller.ResultOK, "create f.bin")
	if len(out.Events) == 1 && (out.Events[0].Size != 20 || !out.Events[0].MTime.Equal(baseTime.Add(time.Second))) {
		t.Errorf("create has size %d mtime %v, want the final 20 bytes at %v", out.Events[0].Size, out.Events[0].MTime, baseTime.Add(time.Second))
	}
	if st := h.load(t); len(st.Pending) != 0 || st.Snapshot["f.bin"].Size != 20 {
		t.Errorf("after the create: pending %v, snapshot %+v", st.Pending, st.Snapshot["f.bin"])
	}
	h.clock.Advance(time.Minute)
	h.scanExpect(t, poller.ResultOK)
	if n := h.notify.Load(); n != 1 {
		t.Errorf("Notify called %d times, want once (pending-only commits notify nobody)", n)
	}
	if h.commits() <= c0 {
		t.Error("pending records were never committed")
	}

	// Created and deleted before it settled: nothing, and no pending left.
	h.f.write(t, "brief", "b", baseTime)
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(3 * time.Second)
	h.f.remove(t, "brief")
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(time.Minute)
	h.scanExpect(t, poller.ResultOK)
	if p := h.load(t).Pending; len(p) != 0 {
		t.Errorf("pending left behind: %v", p)
	}
}

func TestMinAge(t *testing.T) {
	w := baseWatch()
	w.MinAge = time.Hour
	h := newHarness(t, w)
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "young", "y", t0.Add(-10*time.Minute))
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(49 * time.Minute)
	h.scanExpect(t, poller.ResultOK)
	h.clock.Advance(time.Minute)
	h.scanExpect(t, poller.ResultOK, "create young")
}

// TestPartialScanKeepsEntries: a directory that cannot be listed keeps its
// stored entries (no false delete) until it can be listed again.
func TestPartialScanKeepsEntries(t *testing.T) {
	w := baseWatch()
	w.Types = []string{"file"}
	h := newHarness(t, w)
	for _, rel := range []string{"top", "ok/a", "ok/b", "locked/c", "locked/d"} {
		h.f.write(t, rel, rel, baseTime)
	}
	h.scanExpect(t, poller.ResultOK)

	h.f.remove(t, "ok/a")
	h.f.remove(t, "locked/c")
	h.f.srv.FailPath(fxRoot+"/locked", fs.ErrPermission)
	out := h.scanExpect(t, poller.ResultPartial, "delete ok/a")
	if len(out.DirErrors) != 1 || out.DirErrors[0].Dir != "locked" || !errors.Is(out.DirErrors[0].Err, fs.ErrPermission) {
		t.Errorf("DirErrors = %v, want locked: permission denied", out.DirErrors)
	}
	if got, want := sortedKeys(h.load(t).Snapshot), []string{"locked/c", "locked/d", "ok/b", "top"}; !slices.Equal(got, want) {
		t.Errorf("snapshot after the partial scan %q, want %q", got, want)
	}
	h.scanExpect(t, poller.ResultPartial) // and again: still nothing

	h.f.srv.FailPath(fxRoot+"/locked", nil)
	h.scanExpect(t, poller.ResultOK, "delete locked/c")
}

// TestErrorScanCommitsNothing: with the server gone the scan is an error,
// commits nothing and loses nothing: once the server is back, the changes
// made meanwhile are reported.
func TestErrorScanCommitsNothing(t *testing.T) {
	h := newHarness(t, baseWatch())
	h.f.write(t, "a", "a", baseTime)
	h.f.write(t, "b", "b", baseTime)
	h.scanExpect(t, poller.ResultOK)
	c0, stamp := h.commits(), dbStamp(t, h.dir)

	h.f.remove(t, "a")
	h.f.write(t, "c", "c", baseTime)
	addr := h.f.srv.Addr()
	h.f.srv.Close()
	for range 2 {
		out := h.scanExpect(t, poller.ResultError)
		if out.Err == nil {
			t.Error("error scan without Err")
		}
	}
	if h.commits() != c0 || dbStamp(t, h.dir) != stamp {
		t.Errorf("an error scan wrote state: commits %d -> %d", c0, h.commits())
	}
	if got := sortedKeys(h.load(t).Snapshot); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("snapshot after error scans %q, want [a b]", got)
	}
	if got := h.scanResults(); !slices.Equal(got, []string{"ok", "error", "error"}) {
		t.Errorf("OnScan results %q", got)
	}

	// The server comes back on the same address; the pool redials after
	// its backoff. Until then scans stay errors.
	h.f.start(t, addr)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := h.scan(t, false)
		if out.Result == poller.ResultOK {
			if got, want := eventKeys(out.Events), []string{"delete a", "create c"}; !slices.Equal(got, want) {
				t.Errorf("after the outage: events %q, want %q", got, want)
			}
			break
		}
		if out.Result != poller.ResultError || len(out.Events) != 0 {
			t.Fatalf("while reconnecting: %q with %d events", out.Result, len(out.Events))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ok scan within 20s of the server's return: %v", out.Err)
		}
		time.Sleep(50 * time.Millisecond) // polling the pool's backoff
	}
}

func TestSelfRemovedIsNoDelete(t *testing.T) {
	h := newHarness(t, baseWatch())
	for _, n := range []string{"a", "b", "c", "d"} {
		h.f.write(t, n, n, baseTime)
	}
	h.scanExpect(t, poller.ResultOK)

	// As the daemon does it: marked in the store and in the running poller.
	if err := h.store.MarkSelfRemoved("w", "a"); err != nil {
		t.Fatal(err)
	}
	h.p.MarkSelfRemoved("a")
	h.f.remove(t, "a")
	h.scanExpect(t, poller.ResultOK)
	st := h.load(t)
	if _, ok := st.Snapshot["a"]; ok || len(st.SelfRemoved) != 0 {
		t.Errorf("after a self-removal: snapshot has a: %v, markers left %v", ok, st.SelfRemoved)
	}

	// A marker the poller did not set itself is loaded from the store by a
	// new poller (a restart between the move and the next scan); c is
	// removed by someone else and is a delete; d was marked and unmarked
	// (the move failed), so its later removal is a delete too.
	if err := h.store.MarkSelfRemoved("w", "b"); err != nil {
		t.Fatal(err)
	}
	h.p = h.newPoller()
	h.p.MarkSelfRemoved("d")
	h.p.UnmarkSelfRemoved("d")
	for _, n := range []string{"b", "c", "d"} {
		h.f.remove(t, n)
	}
	h.scanExpect(t, poller.ResultOK, "delete c", "delete d")
	if st := h.load(t); len(st.Snapshot) != 0 || len(st.SelfRemoved) != 0 {
		t.Errorf("snapshot %v, markers %v; want both empty", st.Snapshot, st.SelfRemoved)
	}
}

func TestDryRun(t *testing.T) {
	h := newHarness(t, baseWatch())
	// A dry run of a watch without state does not take the baseline.
	h.f.write(t, "a", "a", baseTime)
	h.f.write(t, "b", "b", baseTime)
	if out := h.scan(t, true); out.Result != poller.ResultOK || len(out.Events) != 0 {
		t.Errorf("dry baseline: %q with %d events", out.Result, len(out.Events))
	}
	if h.commits() != 0 || h.load(t).Initialized {
		t.Fatal("a dry run initialized the watch")
	}
	h.scanExpect(t, poller.ResultOK)

	h.f.write(t, "a", "aaa", baseTime.Add(time.Minute))
	h.f.remove(t, "b")
	h.f.write(t, "c", "c", baseTime)
	c0, stamp := h.commits(), dbStamp(t, h.dir)
	want := []string{"modify a", "delete b", "create c"}
	var dry []event.Event
	for range 2 {
		out := h.scan(t, true)
		if got := eventKeys(out.Events); !slices.Equal(got, want) {
			t.Errorf("dry run events %q, want %q", got, want)
		}
		for _, e := range out.Events {
			if e.ID != "" {
				t.Errorf("dry run event %s %q has an ID %q", e.Type, e.RelPath, e.ID)
			}
		}
		dry = out.Events
	}
	if h.commits() != c0 || dbStamp(t, h.dir) != stamp || len(h.outbox(t)) != 0 || h.notify.Load() != 0 {
		t.Fatalf("dry run changed something: commits %d -> %d, outbox %d, notify %d", c0, h.commits(), len(h.outbox(t)), h.notify.Load())
	}
	out := h.scanExpect(t, poller.ResultOK, want...)
	if len(out.Events) == len(dry) {
		for i := range dry {
			checkEvent(t, out.Events[i], dry[i])
		}
	}
	if out := h.scan(t, true); len(out.Events) != 0 {
		t.Errorf("dry run after the real scan: %q", eventKeys(out.Events))
	}
}

// TestNotifyOnScanMetrics follows one watch through ok, partial and error
// scans and checks Notify, OnScan and the counters exactly.
func TestNotifyOnScanMetrics(t *testing.T) {
	h := newHarness(t, baseWatch())
	h.f.write(t, "sub/x", "x", baseTime)
	h.f.mkdir(t, "sub", baseTime)
	h.f.write(t, "m", "m", baseTime)
	h.f.write(t, "gone", "g", baseTime)

	step := func(name string, fn func(), result string, notifies int64, events ...string) {
		t.Helper()
		if fn != nil {
			fn()
		}
		h.clock.Advance(time.Minute)
		h.scanExpect(t, result, events...)
		if n := h.notify.Load(); n != notifies {
			t.Errorf("%s: Notify called %d times in all, want %d", name, n, notifies)
		}
		h.mu.Lock()
		last := h.scans[len(h.scans)-1]
		h.mu.Unlock()
		if last.result != result || !last.at.Equal(h.clock.Now()) {
			t.Errorf("%s: OnScan told %q at %v, want %q at %v", name, last.result, last.at, result, h.clock.Now())
		}
	}
	step("baseline", nil, poller.ResultOK, 0)
	step("create", func() { h.f.write(t, "new", "n", baseTime) }, poller.ResultOK, 1, "create new")
	step("unchanged", nil, poller.ResultOK, 1)
	step("partial", func() { h.f.srv.FailPath(fxRoot+"/sub", fs.ErrPermission) }, poller.ResultPartial, 1)
	step("error", func() { h.f.srv.FailPath(fxRoot, fs.ErrPermission) }, poller.ResultError, 1)
	step("modify+delete", func() {
		h.f.srv.FailPath(fxRoot, nil)
		h.f.srv.FailPath(fxRoot+"/sub", nil)
		h.f.write(t, "m", "mm", baseTime)
		h.f.remove(t, "gone")
	}, poller.ResultOK, 2, "delete gone", "modify m")

	if got, want := h.scanResults(), []string{"ok", "ok", "ok", "partial", "error", "ok"}; !slices.Equal(got, want) {
		t.Errorf("OnScan results %q, want %q", got, want)
	}
	for r, want := range map[string]float64{"ok": 4, "partial": 1, "error": 1} {
		if got := testutil.ToFloat64(h.m.ScansTotal.WithLabelValues("w", r)); got != want {
			t.Errorf("scans_total{result=%q} = %v, want %v", r, got, want)
		}
	}
	for typ, want := range map[string]float64{"create": 1, "modify": 1, "delete": 1, "rename": 0} {
		if got := testutil.ToFloat64(h.m.EventsTotal.WithLabelValues("w", typ)); got != want {
			t.Errorf("events_total{type=%q} = %v, want %v", typ, got, want)
		}
	}
	// sub, sub/x, m (2 bytes), new.
	if got := testutil.ToFloat64(h.m.WatchEntries.WithLabelValues("w")); got != 4 {
		t.Errorf("watch_entries = %v, want 4", got)
	}
}

// TestNewPollerContinues: a new poller over the same store (a restart)
// continues from the stored snapshot, pending records and ID sequence.
func TestNewPollerContinues(t *testing.T) {
	w := baseWatch()
	w.Settle = 10 * time.Second
	h := newHarness(t, w)
	h.f.write(t, "a", "a", baseTime)
	h.scanExpect(t, poller.ResultOK)
	h.f.write(t, "b", "b", baseTime)
	h.clock.Advance(time.Second)
	h.scanExpect(t, poller.ResultOK) // b pending since +1s

	h.p = h.newPoller()
	h.clock.Advance(9 * time.Second)
	h.scanExpect(t, poller.ResultOK) // 9s: not yet
	h.clock.Advance(time.Second)
	out := h.scanExpect(t, poller.ResultOK, "create b")
	if len(out.Events) == 1 && out.Events[0].ID != "w-000000000001" {
		t.Errorf("first event ID %q", out.Events[0].ID)
	}

	h.p = h.newPoller()
	c0 := h.commits()
	h.scanExpect(t, poller.ResultOK)
	if h.commits() != c0 {
		t.Error("a new poller's unchanged scan committed")
	}
	h.f.write(t, "a", "changed", baseTime)
	h.scanExpect(t, poller.ResultOK) // pending
	h.p = h.newPoller()
	h.clock.Advance(10 * time.Second)
	out = h.scanExpect(t, poller.ResultOK, "modify a")
	if len(out.Events) == 1 && (out.Events[0].ID != "w-000000000002" || out.Events[0].Prev == nil || out.Events[0].Prev.Size != 1) {
		t.Errorf("modify after restart: %+v", out.Events[0])
	}
}

// TestRun: Run scans on the interval, commits what it finds, and stops
// promptly when its context ends, even in the middle of a slow scan.
func TestRun(t *testing.T) {
	w := baseWatch()
	w.Interval = 50 * time.Millisecond
	f := newFixture(t)
	store := openStore(t)
	var mu sync.Mutex
	var scans []time.Time
	p := poller.New(poller.Options{
		Watch: w, Lister: f.lister(), Store: poller.StateStore{Store: store},
		OnScan: func(result string, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			if result == poller.ResultOK {
				scans = append(scans, at)
			}
		},
	})
	nScans := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(scans)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	waitFor("the baseline", func() bool { return nScans() >= 1 })
	f.write(t, "new", "n", baseTime)
	waitFor("the create in the outbox", func() bool {
		items, err := store.Outbox("w")
		return err == nil && len(items) == 1 && items[0].Event.RelPath == "new"
	})
	waitFor("more scans", func() bool { return nScans() >= 5 })
	elapsed := time.Since(start)
	if n := nScans(); float64(n) > float64(elapsed)/float64(w.Interval)+2 {
		t.Errorf("%d scans in %v with a %v interval: not paced", n, elapsed, w.Interval)
	}

	// Cancel in the middle of a slow scan (about 4 s: four requests of 1 s
	// each). The latency is switched on right after a scan ended, so that
	// the cancel lands in the first request of the next one.
	n := nScans()
	waitFor("a scan to end", func() bool { return nScans() > n })
	f.srv.SetLatency(time.Second)
	n = nScans()
	time.Sleep(2 * w.Interval) // the next scan is now waiting for its first answer
	cancel()
	stopped := time.Now()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Run did not return within 3s of cancel")
	}
	if d := time.Since(stopped); d > 900*time.Millisecond {
		t.Errorf("Run took %v to stop: it waited for the slow scan", d)
	}
	if nScans() > n+1 {
		t.Errorf("scans finished after the cancel: %d -> %d", n, nScans())
	}
	if items, _ := store.Outbox("w"); len(items) != 1 {
		t.Errorf("outbox has %d events, want the one create", len(items))
	}
}

// TestSpecialModeBits: mode is the permission bits of SPEC section 4,
// including setuid, setgid and sticky ("1777" for a shared upload dir).
func TestSpecialModeBits(t *testing.T) {
	w := baseWatch()
	w.Initial = "emit"
	h := newHarness(t, w)
	h.f.write(t, "suid", "x", baseTime)
	h.f.mkdir(t, "shared", baseTime)
	for rel, m := range map[string]os.FileMode{"suid": 0o755 | os.ModeSetuid, "shared": 0o777 | os.ModeSticky} {
		if err := os.Chmod(h.f.path(rel), m); err != nil {
			t.Fatal(err)
		}
	}
	out := h.scanExpect(t, poller.ResultOK, "create shared", "create suid")
	if len(out.Events) != 2 {
		t.FailNow()
	}
	if got := out.Events[0].Mode; got != "1777" {
		t.Errorf("sticky directory mode %q, want 1777", got)
	}
	if got := out.Events[1].Mode; got != "4755" {
		t.Errorf("setuid file mode %q, want 4755", got)
	}
}

// TestStateFailures: a scan whose state cannot be loaded or committed is an
// error scan (counted, told to OnScan), notifies nobody, and loses nothing:
// the next scan reports the same changes.
func TestStateFailures(t *testing.T) {
	t.Run("commit", func(t *testing.T) {
		h := newHarness(t, baseWatch())
		h.scanExpect(t, poller.ResultOK)
		h.f.write(t, "a", "a", baseTime)
		h.store.failNext.Store(true)
		out, err := h.p.ScanOnce(context.Background(), false)
		if !errors.Is(err, errInjected) || !errors.Is(out.Err, errInjected) || out.Result != poller.ResultError || len(out.Events) != 0 {
			t.Errorf("failed commit: err %v, outcome %q %v with %d events", err, out.Result, out.Err, len(out.Events))
		}
		if h.notify.Load() != 0 {
			t.Error("Notify called for a failed commit")
		}
		out = h.scanExpect(t, poller.ResultOK, "create a")
		if len(out.Events) == 1 && out.Events[0].ID != "w-000000000001" {
			t.Errorf("event ID %q after a failed commit", out.Events[0].ID)
		}
		if got := h.scanResults(); !slices.Equal(got, []string{"ok", "error", "ok"}) {
			t.Errorf("OnScan results %q", got)
		}
		if got := testutil.ToFloat64(h.m.ScansTotal.WithLabelValues("w", "error")); got != 1 {
			t.Errorf("scans_total{error} = %v, want 1", got)
		}
	})
	t.Run("load", func(t *testing.T) {
		h := newHarness(t, baseWatch())
		if err := h.store.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := h.p.ScanOnce(context.Background(), false)
		if err == nil || out.Err == nil || out.Result != poller.ResultError {
			t.Fatalf("scan over a closed store: err %v, outcome %q %v", err, out.Result, out.Err)
		}
		if !strings.Contains(err.Error(), `watch "w"`) {
			t.Errorf("error %q does not name the watch", err)
		}
		if got := h.scanResults(); !slices.Equal(got, []string{"error"}) {
			t.Errorf("OnScan results %q, want [error]", got)
		}
		if got := testutil.ToFloat64(h.m.ScansTotal.WithLabelValues("w", "error")); got != 1 {
			t.Errorf("scans_total{error} = %v, want 1", got)
		}
		// The state becomes readable again (here: reopened) and the same
		// poller loads it on its next scan.
		h.store.Store = openStoreIn(t, h.dir)
		h.f.write(t, "a", "a", baseTime)
		h.scanExpect(t, poller.ResultOK)
		if st := h.load(t); !st.Initialized || len(st.Snapshot) != 1 {
			t.Errorf("after reopening: %+v", st)
		}
	})
}
