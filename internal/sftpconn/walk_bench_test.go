package sftpconn

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// The walk benchmarks list a tree of 2,000 directories and 20,010 files on
// the embedded server with 2 ms of latency per request, as over a WAN link.
// They build the tree inside the benchmark (timer stopped), so plain
// `go test` never pays for it. Run with:
//
//	go test -run '^$' -bench 'BenchmarkWalk' -benchtime 3x ./internal/sftpconn/
//
// BenchmarkWalkSequential is a one-request-at-a-time walk in the manner of
// pysftp's walktree (which is slower still: it also stats every entry).

const (
	benchTop      = 40 // directories under the root
	benchPerTop   = 49 // directories under each of those: 40 + 40×49 = 2,000
	benchFiles    = 10 // files in every directory, root included
	benchLatency  = 2 * time.Millisecond
	benchDirCount = benchTop + benchTop*benchPerTop + 1 // with the root
)

// benchServer builds the tree and returns a client connected to a server
// with the latency set.
func benchServer(b *testing.B) *Client {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	s, root := startInProcess(b)
	mk := func(dir string) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := 0; f < benchFiles; f++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%02d.dat", f)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	mk(root)
	for i := 0; i < benchTop; i++ {
		top := filepath.Join(root, fmt.Sprintf("top-%02d", i))
		mk(top)
		for j := 0; j < benchPerTop; j++ {
			mk(filepath.Join(top, fmt.Sprintf("sub-%02d", j)))
		}
	}
	c := dialInProcess(b, s)
	s.SetLatency(benchLatency)
	return c
}

func BenchmarkWalk(b *testing.B) {
	for _, conc := range []int{16, 64} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			c := benchServer(b)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dirs, files := 0, 0
				err := Walk(ctx, c, "/", WalkOptions{Recursive: true, Concurrency: conc}, func(l DirListing) error {
					if l.Err != nil {
						return l.Err
					}
					dirs++
					files += len(l.Entries)
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if dirs != benchDirCount {
					b.Fatalf("walked %d dirs, want %d", dirs, benchDirCount)
				}
			}
			b.ReportMetric(float64(benchDirCount*b.N)/b.Elapsed().Seconds(), "dirs/s")
		})
	}
}

// walkSequential lists one directory at a time, depth first, like pysftp's
// walktree (minus its per-entry stat).
func walkSequential(ctx context.Context, c *Client, dir string, visit func(string)) error {
	infos, err := c.ReadDir(ctx, dir)
	if err != nil {
		return err
	}
	visit(dir)
	for _, fi := range infos {
		if fi.IsDir() {
			if err := walkSequential(ctx, c, path.Join(dir, fi.Name()), visit); err != nil {
				return err
			}
		}
	}
	return nil
}

func BenchmarkWalkSequential(b *testing.B) {
	c := benchServer(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dirs := 0
		if err := walkSequential(ctx, c, "/", func(string) { dirs++ }); err != nil {
			b.Fatal(err)
		}
		if dirs != benchDirCount {
			b.Fatalf("walked %d dirs, want %d", dirs, benchDirCount)
		}
	}
	b.ReportMetric(float64(benchDirCount*b.N)/b.Elapsed().Seconds(), "dirs/s")
}

// BenchmarkListingBuild is the client's work per listing after the
// decode (sftp3's BenchmarkDecodeName): build the DirListing of one
// sorted reply of 100 entries. ns/entry is deterministic enough to compare
// changes on a busy machine, where the OpenSSH benchmarks are not.
func BenchmarkListingBuild(b *testing.B) {
	const n = 100
	entries := make([]sftp3.Entry, n)
	for i := range entries {
		entries[i] = sftp3.Entry{
			Filename: fmt.Sprintf("file-%05d.csv", i),
			Attrs:    sftp3.Attrs{Size: 0, Mode: 0o100644, UID: 1000, GID: 1000, Atime: 1764083340, Mtime: 1764083340},
		}
	}
	w := &walker{opt: WalkOptions{Recursive: true}}
	task := dirTask{rel: "a03/d0003", depth: 2}
	b.ReportAllocs()
	for b.Loop() {
		l, _ := w.build(dirResult{task: task, entries: entries})
		if len(l.Entries) != n {
			b.Fatalf("%d entries", len(l.Entries))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}
