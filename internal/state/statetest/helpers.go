package statetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/event"
	"github.com/sftpwatchd/sftpwatchd/internal/state"
)

// handle is one backend the suite has open in dir, reopened in place.
type handle struct {
	t    *testing.T
	open Open
	dir  string
	b    Backend
}

func start(t *testing.T, open Open) *handle {
	t.Helper()
	h := &handle{t: t, open: open, dir: t.TempDir()}
	h.b = open(t, h.dir)
	t.Cleanup(func() {
		if h.b != nil {
			_ = h.b.Close()
		}
	})
	return h
}

// crash ends the backend as a killed process would (or closes it) and
// opens it again.
func (h *handle) crash() {
	h.t.Helper()
	var err error
	if c, ok := h.b.(Crasher); ok {
		err = c.Crash()
	} else {
		err = h.b.Close()
	}
	h.b = nil
	if err != nil {
		h.t.Fatalf("crash: %v", err)
	}
	h.b = h.open(h.t, h.dir)
}

// reopen closes the backend cleanly and opens it again.
func (h *handle) reopen() {
	h.t.Helper()
	err := h.b.Close()
	h.b = nil
	if err != nil {
		h.t.Fatalf("close: %v", err)
	}
	h.b = h.open(h.t, h.dir)
}

func (h *handle) commit(watch string, b state.Batch) []event.Event {
	h.t.Helper()
	evs, err := h.b.Commit(watch, b)
	if err != nil {
		h.t.Fatalf("Commit(%q): %v", watch, err)
	}
	return evs
}

func (h *handle) load(watch string) *state.Watch {
	h.t.Helper()
	w, err := h.b.Load(watch)
	if err != nil {
		h.t.Fatalf("Load(%q): %v", watch, err)
	}
	return w
}

func (h *handle) outbox(watch string) []state.Item {
	h.t.Helper()
	items, err := h.b.Outbox(watch)
	if err != nil {
		h.t.Fatalf("Outbox(%q): %v", watch, err)
	}
	return items
}

func (h *handle) dead(watch string) []state.DeadLetter {
	h.t.Helper()
	d, err := h.b.DeadLetters(watch)
	if err != nil {
		h.t.Fatalf("DeadLetters(%q): %v", watch, err)
	}
	return d
}

// progress records that e's steps before step finished, leaving local
// path local, and that step then failed attempts times; it returns the
// event as stored.
func (h *handle) progress(e event.Event, local string, step, attempts int) event.Event {
	h.t.Helper()
	e.LocalPath = local
	h.must("Advance", h.b.Advance(e.Watch, e.ID, step, e))
	h.must("RecordAttempt", h.b.RecordAttempt(e.Watch, e.ID, attempts))
	return e
}

// must fails the test on err.
func (h *handle) must(what string, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatalf("%s: %v", what, err)
	}
}

// watchDump is everything a backend holds of one watch, as its methods
// return it.
type watchDump struct {
	Watch          *state.Watch
	Outbox         []state.Item
	Dead           []state.DeadLetter
	NOutbox, NDead int
	Info           state.WatchInfo
}

// dump is everything a backend holds.
type dump struct {
	Watches []string
	Of      map[string]watchDump
}

func (h *handle) dump() dump {
	h.t.Helper()
	names, err := h.b.Watches()
	h.must("Watches", err)
	d := dump{Watches: names, Of: map[string]watchDump{}}
	for _, n := range names {
		wd := watchDump{Watch: h.load(n), Outbox: h.outbox(n), Dead: h.dead(n)}
		wd.NOutbox, wd.NDead, err = h.b.Counts(n)
		h.must("Counts", err)
		wd.Info, err = h.b.Info(n)
		h.must("Info", err)
		d.Of[n] = wd
	}
	return d
}

// sameDump fails the test when got is not want.
func sameDump(t *testing.T, when string, got, want dump) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", when, got, want)
	}
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// file is a snapshot entry of a file of size n.
func file(n int64) diff.Entry {
	return diff.Entry{Type: diff.File, Size: n, MTime: t0.Unix(), Mode: 0o644}
}

// ev is an event of type typ for rel, without an ID.
func ev(typ event.Type, rel string) event.Event {
	return event.Event{Type: typ, RelPath: rel, Path: "/in/" + rel, Name: rel, EntryType: "file", DetectedAt: t0}
}

// ids are the IDs of items.
func ids(items []state.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Event.ID
	}
	return out
}

// paths are "type rel" of items.
func paths(items []state.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprintf("%s %s", it.Event.Type, it.Event.RelPath)
	}
	return out
}
