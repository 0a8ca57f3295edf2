package state

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

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

// TestCommitStreamInParts: a streamed baseline is written in parts, a
// transaction each; when the last transaction fails, the parts stay in a
// watch that is still not initialized, and the next baseline (removing
// what is gone) leaves exactly the tree. For an initialized watch the
// stream goes in the one transaction.
func TestCommitStreamInParts(t *testing.T) {
	s := openT(t, t.TempDir())
	s.baselinePart = 10
	tree := diff.Snapshot{}
	for i := range 25 {
		tree[fmt.Sprintf("f%02d", i)] = diff.Entry{Type: diff.File, Size: int64(i), MTime: 1, Mode: 0o644}
	}
	s.commitHook = func() error { return errors.New("injected") }
	if _, err := s.Commit("w", Batch{Stream: maps.All(tree)}); err == nil {
		t.Fatal("the failing commit was not reported")
	}
	s.commitHook = nil
	w, err := s.Load("w")
	if err != nil {
		t.Fatal(err)
	}
	if w.Initialized || len(w.Snapshot) != 20 {
		t.Fatalf("after the failed last part: initialized %v, %d entries stored, want false, 20", w.Initialized, len(w.Snapshot))
	}
	var gone []string
	for k := range w.Snapshot {
		if k == "f00" || k == "f15" || k == "f24" {
			delete(tree, k)
			gone = append(gone, k)
		}
	}
	if _, err := s.Commit("w", Batch{Removed: gone, Stream: maps.All(tree)}); err != nil {
		t.Fatal(err)
	}
	if w, err = s.Load("w"); err != nil {
		t.Fatal(err)
	}
	if !w.Initialized || !maps.Equal(w.Snapshot, tree) {
		t.Fatalf("after the baseline: initialized %v, %v, want %v", w.Initialized, w.Snapshot, tree)
	}

	// Initialized: all or nothing.
	more := diff.Snapshot{}
	for i := range 25 {
		more[fmt.Sprintf("g%02d", i)] = diff.Entry{Type: diff.File, MTime: 2, Mode: 0o644}
	}
	s.commitHook = func() error { return errors.New("injected") }
	if _, err := s.Commit("w", Batch{Stream: maps.All(more)}); err == nil {
		t.Fatal("the failing commit was not reported")
	}
	s.commitHook = nil
	if w, err = s.Load("w"); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(w.Snapshot, tree) {
		t.Fatalf("a failed stream commit on an initialized watch stored %d entries, want the %d before", len(w.Snapshot), len(tree))
	}
	bad := func(yield func(string, diff.Entry) bool) { yield("x", diff.Entry{Type: diff.Other + 1}) }
	if _, err := s.Commit("w", Batch{Stream: bad}); !errors.Is(err, errBadEntryType) {
		t.Fatalf("a bad streamed entry: %v, want errBadEntryType", err)
	}
}

// TestCommitStreamTransactions: a streamed baseline of n entries takes
// ceil(n/part) transactions: a full part is written only when more entries
// follow, so the last part (1 to part entries) goes with the commit.
func TestCommitStreamTransactions(t *testing.T) {
	s := openT(t, t.TempDir())
	s.baselinePart = 10
	txID := func() (id int) {
		_ = s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
		return id
	}
	for i, n := range []int{1, 10, 11, 20, 21} {
		tree := diff.Snapshot{}
		for j := range n {
			tree[fmt.Sprintf("f%03d", j)] = diff.Entry{Type: diff.File, MTime: 1}
		}
		before := txID()
		if _, err := s.Commit(fmt.Sprintf("w%d", i), Batch{Stream: maps.All(tree)}); err != nil {
			t.Fatal(err)
		}
		if got, want := txID()-before, (n+9)/10; got != want {
			t.Errorf("a baseline of %d entries in parts of 10: %d write transactions, want %d", n, got, want)
		}
	}
}
