package diff

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// t0 is the scan clock of the table tests; mtimes are Unix seconds around it.
var t0 = time.Unix(1_700_000_000, 0)

const m0 = 1_700_000_000 - 3600 // an mtime an hour before t0

func file(size, mtime int64) Entry { return Entry{Type: File, Size: size, MTime: mtime, Mode: 0o644} }
func dir(mtime int64) Entry        { return Entry{Type: Dir, Size: 4096, MTime: mtime, Mode: 0o755} }
func symlink(target string, mtime int64) Entry {
	return Entry{Type: Symlink, Size: int64(len(target)), MTime: mtime, Mode: 0o777, Link: target}
}

func withMode(e Entry, mode uint32) Entry { e.Mode = mode; return e }

// pend builds a pending record whose attributes were first seen `ago` before t0.
func pend(e Entry, ago time.Duration) Pending {
	return Pending{Entry: e, Since: t0.Add(-ago).UnixNano()}
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func only(types ...event.Type) map[event.Type]bool {
	m := make(map[event.Type]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}

func create(p string, e Entry) Change { return Change{Type: event.Create, RelPath: p, Entry: e} }
func modify(p string, e, prev Entry) Change {
	return Change{Type: event.Modify, RelPath: p, Entry: e, Prev: &prev}
}
func del(p string, e Entry) Change { return Change{Type: event.Delete, RelPath: p, Entry: e, Prev: &e} }
func rename(old, p string, prev, e Entry) Change {
	return Change{Type: event.Rename, RelPath: p, OldRelPath: old, Entry: e, Prev: &prev}
}

// formatResult renders a Result readably for failure messages.
func formatResult(r Result) string {
	var sb strings.Builder
	for _, c := range r.Changes {
		fmt.Fprintf(&sb, "  change %s %q", c.Type, c.RelPath)
		if c.OldRelPath != "" {
			fmt.Fprintf(&sb, " from %q", c.OldRelPath)
		}
		fmt.Fprintf(&sb, " entry=%+v", c.Entry)
		if c.Prev != nil {
			fmt.Fprintf(&sb, " prev=%+v", *c.Prev)
		}
		sb.WriteString("\n")
	}
	fmt.Fprintf(&sb, "  set=%v\n  removed=%q\n  pendingSet=%v\n  pendingRemoved=%q\n  selfConsumed=%q\n",
		r.Set, r.Removed, r.PendingSet, r.PendingRemoved, r.SelfRemovedConsumed)
	return sb.String()
}

func assertResult(t *testing.T, got, want Result) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("result mismatch\ngot:\n%swant:\n%s", formatResult(got), formatResult(want))
	}
}

// sim keeps the in-memory state a poller would keep between scans.
type sim struct {
	snap Snapshot
	pend map[string]Pending
	self map[string]bool
	opt  Options
}

func newSim(opt Options) *sim {
	return &sim{snap: Snapshot{}, pend: map[string]Pending{}, self: map[string]bool{}, opt: opt}
}

func (s *sim) scan(entries Snapshot, now time.Time, failed ...string) Result {
	r := Compare(s.snap, Scan{Entries: entries, Failed: failed}, s.pend, s.self, now, s.opt)
	Apply(s.snap, s.pend, r)
	for _, k := range r.SelfRemovedConsumed {
		delete(s.self, k)
	}
	return r
}

func cloneSnap(s Snapshot) Snapshot {
	c := make(Snapshot, len(s))
	for k, v := range s {
		c[k] = v
	}
	return c
}

func clonePend(p map[string]Pending) map[string]Pending {
	c := make(map[string]Pending, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}
