package state

import (
	"fmt"
	"testing"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

const benchEntries = 100_000

func benchPath(i int) string {
	return fmt.Sprintf("partner-%03d/2026-11/batch-%02d/invoice-%07d.csv", i%1000, i%17, i)
}

// benchStore is a store whose watch "w" holds benchEntries entries.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	set := make(diff.Snapshot, benchEntries)
	for i := range benchEntries {
		set[benchPath(i)] = diff.Entry{Type: diff.File, Size: int64(i) * 100, MTime: 1764000000 + int64(i), Mode: 0o644}
	}
	if _, err := s.Commit("w", Batch{Set: set}); err != nil {
		b.Fatal(err)
	}
	return s
}

// benchCommits commits batches made by next and reports what bbolt wrote
// per commit: dirty pages and their bytes (plus the one meta page every
// commit writes), counted by bbolt's own transaction statistics.
func benchCommits(b *testing.B, s *Store, next func(n int) Batch) {
	b.Helper()
	before := s.db.Stats()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		n++
		if _, err := s.Commit("w", next(n)); err != nil {
			b.Fatal(err)
		}
	}
	after := s.db.Stats()
	d := after.Sub(&before)
	pages := float64(d.TxStats.GetPageCount()) / float64(n)
	bytes := float64(d.TxStats.GetPageAlloc()+int64(n*s.db.Info().PageSize)) / float64(n)
	b.ReportMetric(pages, "pages/op")
	b.ReportMetric(bytes, "written-B/op")
}

// BenchmarkCommit10Into100k: a scan that changed 10 files of a 100,000-file
// tree. Its cost must not depend on the tree size.
func BenchmarkCommit10Into100k(b *testing.B) {
	s := benchStore(b)
	benchCommits(b, s, func(n int) Batch {
		set := make(diff.Snapshot, 10)
		for j := range 10 {
			i := (n*7919 + j*104729) % benchEntries
			set[benchPath(i)] = diff.Entry{Type: diff.File, Size: int64(n), MTime: 1800000000 + int64(n), Mode: 0o644}
		}
		return Batch{Set: set}
	})
}

// BenchmarkCommit100k: a scan that changed every entry of the tree, the
// cost a design storing the snapshot as one blob would pay every time.
func BenchmarkCommit100k(b *testing.B) {
	s := benchStore(b)
	benchCommits(b, s, func(n int) Batch {
		set := make(diff.Snapshot, benchEntries)
		for i := range benchEntries {
			set[benchPath(i)] = diff.Entry{Type: diff.File, Size: int64(n), MTime: 1800000000 + int64(n), Mode: 0o644}
		}
		return Batch{Set: set}
	})
}

func BenchmarkLoad100k(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		w, err := s.Load("w")
		if err != nil {
			b.Fatal(err)
		}
		if len(w.Snapshot) != benchEntries {
			b.Fatalf("loaded %d entries", len(w.Snapshot))
		}
	}
}
