package poller_test

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/config"
	"github.com/sftpwatchd/sftpwatchd/internal/diff"
	"github.com/sftpwatchd/sftpwatchd/internal/poller"
)

// tree writes the files of a small tree for the coverage tests.
func (h *harness) tree(t *testing.T, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		h.f.write(t, rel, rel, baseTime)
	}
}

// reconfigure is a reload or restart with the watch changed by edit.
func (h *harness) reconfigure(edit func(*config.Watch)) {
	edit(&h.w)
	h.p = h.newPoller()
}

func (h *harness) snapKeys(t *testing.T) []string {
	t.Helper()
	return sortedKeys(h.load(t).Snapshot)
}

// TestFilterChange: narrowing drops what is no longer covered, silently;
// widening records what is newly covered as a first scan does (baseline:
// silently; emit: creates); a file covered before and after is reported as
// ever, and every kind of coverage setting counts.
func TestFilterChange(t *testing.T) {
	w := baseWatch()
	w.Types = []string{"file"}
	files := []string{"a.csv", "b.txt", "sub/c.csv", "sub/deep/d.csv"}

	t.Run("include narrowed then widened, baseline", func(t *testing.T) {
		h := newHarness(t, w)
		h.tree(t, files...)
		h.scanExpect(t, poller.ResultOK)
		h.reconfigure(func(w *config.Watch) { w.Include = []string{"**/*.csv"} })
		h.f.write(t, "new.csv", "n", baseTime) // covered before and after
		h.scanExpect(t, poller.ResultOK, "create new.csv")
		if got, want := h.snapKeys(t), []string{"a.csv", "new.csv", "sub/c.csv", "sub/deep/d.csv"}; !slices.Equal(got, want) {
			t.Errorf("snapshot after narrowing %q, want %q", got, want)
		}
		h.f.write(t, "later.txt", "l", baseTime) // appeared while not covered
		h.reconfigure(func(w *config.Watch) { w.Include = nil })
		h.scanExpect(t, poller.ResultOK)
		if got := h.snapKeys(t); !slices.Contains(got, "b.txt") || !slices.Contains(got, "later.txt") {
			t.Errorf("snapshot after widening %q lacks the newly covered files", got)
		}
		h.scanExpect(t, poller.ResultOK) // and nothing later either
		h.f.remove(t, "b.txt")
		h.scanExpect(t, poller.ResultOK, "delete b.txt") // tracked again
	})
	t.Run("widened with emit", func(t *testing.T) {
		w := w
		w.Initial = "emit"
		w.Include = []string{"*.csv"}
		h := newHarness(t, w)
		h.tree(t, files...)
		h.scanExpect(t, poller.ResultOK, "create a.csv")
		h.reconfigure(func(w *config.Watch) { w.Include = nil })
		h.scanExpect(t, poller.ResultOK, "create b.txt", "create sub/c.csv", "create sub/deep/d.csv")
	})
	for _, tc := range []struct {
		name string
		edit func(*config.Watch)
		left []string
	}{
		{"exclude prunes", func(w *config.Watch) { w.Exclude = []string{"sub"} }, []string{"a.csv", "b.txt"}},
		{"max_depth lowered", func(w *config.Watch) { w.MaxDepth = 2 }, []string{"a.csv", "b.txt", "sub", "sub/c.csv", "sub/deep"}},
		{"not recursive", func(w *config.Watch) { w.Recursive = false }, []string{"a.csv", "b.txt", "sub"}},
		{"a type dropped", func(w *config.Watch) { w.Types = []string{"dir"} }, []string{"sub", "sub/deep"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := w
			w.Types = []string{"file", "dir"}
			h := newHarness(t, w)
			h.tree(t, files...)
			h.scanExpect(t, poller.ResultOK)
			h.reconfigure(tc.edit)
			h.scanExpect(t, poller.ResultOK)
			if got := h.snapKeys(t); !slices.Equal(got, tc.left) {
				t.Errorf("snapshot %q, want %q", got, tc.left)
			}
			if st := h.load(t); st.Filter == "" {
				t.Error("the new filter was not stored")
			}
			h.reconfigure(func(nw *config.Watch) { *nw = w })
			h.scanExpect(t, poller.ResultOK) // back: silently again
			if got := h.snapKeys(t); len(got) != 6 {
				t.Errorf("snapshot after the way back %q, want all 6 entries", got)
			}
		})
	}
	t.Run("interval and settle are not coverage", func(t *testing.T) {
		h := newHarness(t, w)
		h.tree(t, files...)
		h.scanExpect(t, poller.ResultOK)
		c := h.commits()
		h.reconfigure(func(w *config.Watch) { w.Interval *= 2; w.Settle = 0; w.Lister = config.ListerFind })
		h.scanExpect(t, poller.ResultOK)
		if h.commits() != c {
			t.Error("a change of interval, settle and lister wrote to the state")
		}
	})
}

// TestStateWithoutFilter: a state written before the filter was stored is
// taken as produced by the current filter: nothing is dropped, the filter
// is stored by the next scan.
func TestStateWithoutFilter(t *testing.T) {
	w := baseWatch()
	w.Types = []string{"file"}
	h := newHarness(t, w)
	h.tree(t, "a", "b")
	file := diff.Entry{Type: diff.File, Size: 1, MTime: baseTime.Unix(), Mode: 0o644}
	if _, err := h.store.Commit("w", poller.Batch{Set: diff.Snapshot{"a": file, "b": file}}); err != nil {
		t.Fatal(err)
	}
	h.scanExpect(t, poller.ResultOK)
	st := h.load(t)
	if st.Filter == "" || st.Origin != "h1:"+fxRoot || len(st.Snapshot) != 2 {
		t.Errorf("after the first scan: filter %q origin %q snapshot %v", st.Filter, st.Origin, sortedKeys(st.Snapshot))
	}
}

// TestOriginChange: a changed path is a new watch: its tree is baselined,
// nothing of the old one is deleted, and the outbox is kept.
func TestOriginChange(t *testing.T) {
	w := baseWatch()
	w.Types = []string{"file"}
	w.Initial = "emit"
	h := newHarness(t, w)
	h.tree(t, "a", "other/x", "other/y")
	h.scanExpect(t, poller.ResultOK, "create a", "create other/x", "create other/y")
	h.reconfigure(func(w *config.Watch) { w.Path = fxRoot + "/other"; w.Initial = "baseline" })
	h.scanExpect(t, poller.ResultOK)
	if got := h.snapKeys(t); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("snapshot of the new tree %q", got)
	}
	if n := len(h.outbox(t)); n != 3 {
		t.Errorf("outbox holds %d events after the reset, want the 3 undelivered ones", n)
	}
	h.f.write(t, "other/z", "z", baseTime)
	out := h.scanExpect(t, poller.ResultOK, "create z")
	if len(out.Events) == 1 && out.Events[0].ID != "w-000000000004" {
		t.Errorf("event ID %q after the reset: the sequence must go on", out.Events[0].ID)
	}
}

// TestBaselinePendingDir: a directory that could not be listed during the
// baseline is baselined silently once it lists; one beneath it that fails
// then takes its place; after that, its changes are events as everywhere.
func TestBaselinePendingDir(t *testing.T) {
	w := baseWatch()
	w.Types = []string{"file"}
	h := newHarness(t, w)
	h.tree(t, "top", "locked/a", "locked/inner/b")
	h.f.srv.FailPath(fxRoot+"/locked", fs.ErrPermission)
	h.scanExpect(t, poller.ResultPartial)
	if got := h.load(t).BaselinePending; !slices.Equal(got, []string{"locked"}) {
		t.Errorf("baseline pending %q, want [locked]", got)
	}
	h.scanExpect(t, poller.ResultPartial) // still failing: still pending

	h.f.srv.FailPath(fxRoot+"/locked", nil)
	h.f.srv.FailPath(fxRoot+"/locked/inner", fs.ErrPermission)
	h.scanExpect(t, poller.ResultPartial)
	if got := h.load(t).BaselinePending; !slices.Equal(got, []string{"locked/inner"}) {
		t.Errorf("baseline pending %q, want [locked/inner]", got)
	}
	h.f.srv.FailPath(fxRoot+"/locked/inner", nil)
	h.scanExpect(t, poller.ResultOK)
	st := h.load(t)
	if st.BaselinePending != nil || !slices.Equal(sortedKeys(st.Snapshot), []string{"locked/a", "locked/inner/b", "top"}) {
		t.Errorf("after listing: pending %q, snapshot %q", st.BaselinePending, sortedKeys(st.Snapshot))
	}
	h.f.write(t, "locked/new", "n", baseTime)
	h.scanExpect(t, poller.ResultOK, "create locked/new")

	t.Run("emit reports them", func(t *testing.T) {
		w := w
		w.Initial = "emit"
		h := newHarness(t, w)
		h.tree(t, "top", "locked/a")
		h.f.srv.FailPath(fxRoot+"/locked", fs.ErrPermission)
		h.scanExpect(t, poller.ResultPartial, "create top")
		h.f.srv.FailPath(fxRoot+"/locked", nil)
		h.scanExpect(t, poller.ResultOK, "create locked/a")
	})
}
