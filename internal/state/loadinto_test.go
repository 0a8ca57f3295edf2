package state

import (
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// recordingLoader records the calls LoadInto makes.
type recordingLoader struct {
	sized, put []string
	entries    diff.Snapshot
}

func (r *recordingLoader) Size(key []byte) {
	if len(r.put) > 0 {
		r.sized = append(r.sized, "after put: "+string(key))
		return
	}
	r.sized = append(r.sized, string(key))
}

func (r *recordingLoader) Put(key []byte, e diff.Entry) {
	r.put = append(r.put, string(key))
	r.entries[string(key)] = e
}

// TestLoadIntoSizesEveryKeyFirst: every key is sized before any is put,
// both passes in key order, and the entries are the committed ones.
func TestLoadIntoSizesEveryKeyFirst(t *testing.T) {
	s := openT(t, t.TempDir())
	set := diff.Snapshot{"b/x": {Size: 1}, "a": {Size: 2, Type: diff.Dir}, "a/y\nz": {Size: 3}, "a/b/c": {Size: 4, Link: "t", Type: diff.Symlink}}
	if _, err := s.Commit("w", Batch{Set: set}); err != nil {
		t.Fatal(err)
	}
	r := &recordingLoader{entries: diff.Snapshot{}}
	w, err := s.LoadInto("w", r)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "a/b/c", "a/y\nz", "b/x"}
	if !slices.Equal(r.sized, want) || !slices.Equal(r.put, want) {
		t.Fatalf("sized %q, put %q; want both %q", r.sized, r.put, want)
	}
	if w.Snapshot != nil || !w.Initialized {
		t.Fatalf("Watch: snapshot %v (want nil: the loader has it), initialized %v", w.Snapshot, w.Initialized)
	}
	for k, e := range set {
		if r.entries[k] != e {
			t.Fatalf("%q: %+v, want %+v", k, r.entries[k], e)
		}
	}
}
