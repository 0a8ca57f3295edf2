package state

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

func TestPutSnapshotInParts(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	set := diff.Snapshot{}
	for i, p := range hostile {
		set[p] = diff.Entry{Type: diff.File, Size: int64(i), MTime: 1700000000, Mode: 0o644}
	}
	set["link"] = diff.Entry{Type: diff.Symlink, Link: "../target"}
	keys := slices.Sorted(maps.Keys(set))
	half := len(keys) / 2

	if err := s.PutSnapshot("w", set, keys[:half]); err != nil {
		t.Fatal(err)
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized {
		t.Fatal("PutSnapshot marked the watch initialized")
	}
	if len(w.Snapshot) != half {
		t.Fatalf("after the first part: %d entries stored, want %d", len(w.Snapshot), half)
	}

	// The last part goes with Commit, which marks the watch initialized.
	rest := diff.Snapshot{}
	for _, k := range keys[half:] {
		rest[k] = set[k]
	}
	if _, err := s.Commit("w", Batch{Set: rest}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openT(t, dir)
	w, err = s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if !w.Initialized || !maps.Equal(w.Snapshot, set) {
		t.Fatalf("after reopening: initialized %v, snapshot %v, want %v", w.Initialized, w.Snapshot, set)
	}

	// An initialized watch takes snapshot changes only with Commit.
	if err := s.PutSnapshot("w", set, keys[:1]); !errors.Is(err, ErrInitialized) {
		t.Fatalf("PutSnapshot on an initialized watch: %v, want ErrInitialized", err)
	}
}

func TestPutSnapshotRejectsBadInput(t *testing.T) {
	s := openT(t, t.TempDir())
	set := diff.Snapshot{"a": {Type: diff.Other + 1}}
	if err := s.PutSnapshot("w", set, []string{"a"}); !errors.Is(err, errBadEntryType) {
		t.Fatalf("bad entry type: %v", err)
	}
	if err := s.PutSnapshot("w", diff.Snapshot{}, []string{"missing"}); err == nil {
		t.Fatal("a key that is not in the set was accepted")
	}
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Snapshot) != 0 {
		t.Fatalf("a refused PutSnapshot stored %v", w.Snapshot)
	}
}
