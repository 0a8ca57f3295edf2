package poller_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/poller"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// synthTree is a Lister over a fixed in-memory tree: the root holds dirs
// directories, each holding files files. It isolates the cost of the
// poller, filters, diff and state from the network.
type synthTree struct {
	listings []sftpconn.DirListing // root first
	files    [][]int               // index into listings[d+1].Entries of each file
}

var _ poller.Lister = (*synthTree)(nil)

func newSynthTree(dirs, files int) *synthTree {
	mt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	root := sftpconn.DirListing{Dir: ""}
	t := &synthTree{listings: []sftpconn.DirListing{{}}}
	for d := range dirs {
		name := fmt.Sprintf("d%04d", d)
		root.Entries = append(root.Entries, sftpconn.Entry{
			RelPath: name, Name: name, Type: sftpconn.TypeDir, Size: 4096, Mode: os.ModeDir | 0o755, MTime: mt,
		})
		l := sftpconn.DirListing{Dir: name}
		for f := range files {
			fn := fmt.Sprintf("f%03d.csv", f)
			l.Entries = append(l.Entries, sftpconn.Entry{
				RelPath: name + "/" + fn, Name: fn, Type: sftpconn.TypeFile, Size: int64(1000 + f), Mode: 0o644, MTime: mt,
			})
		}
		t.listings = append(t.listings, l)
	}
	t.listings[0] = root
	return t
}

func (t *synthTree) entries() int {
	n := 0
	for _, l := range t.listings {
		n += len(l.Entries)
	}
	return n
}

// modify grows n files spread over the tree, different ones each round.
func (t *synthTree) modify(n, round int) {
	dirs := len(t.listings) - 1
	for k := range n {
		i := round*n + k
		l := &t.listings[1+(i*97)%dirs]
		e := &l.Entries[(i/dirs)%len(l.Entries)]
		e.Size++
	}
}

// Walk implements poller.Lister.
func (t *synthTree) Walk(ctx context.Context, _ string, _ sftpconn.WalkOptions, fn func(sftpconn.DirListing) error) error {
	for _, l := range t.listings {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return nil
}

// procWriteChars is this process's wchar from /proc/self/io: bytes passed
// to write(2)/pwrite(2), which is how bbolt writes its pages and meta.
func procWriteChars() (int64, bool) {
	f, err := os.Open("/proc/self/io")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "wchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRescan(b *testing.B, changed int) {
	tree := newSynthTree(1000, 99)
	entries := tree.entries()
	if entries != 100_000 {
		b.Fatalf("tree has %d entries", entries)
	}
	store := &countingStore{Store: openStore(b)}
	w := baseWatch()
	w.Path = "/bench"
	p := poller.New(poller.Options{Watch: w, Lister: tree, Store: store})
	ctx := context.Background()
	if out, err := p.ScanOnce(ctx, false); err != nil || out.Result != poller.ResultOK || len(out.Events) != 0 {
		b.Fatalf("baseline: %v %q %d events", err, out.Result, len(out.Events))
	}
	if out, err := p.ScanOnce(ctx, false); err != nil || len(out.Events) != 0 {
		b.Fatalf("warm-up rescan: %v, %d events", err, len(out.Events))
	}

	commits0 := store.commits.Load()
	wchar0, haveIO := procWriteChars()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		tree.modify(changed, i)
		out, err := p.ScanOnce(ctx, false)
		if err != nil || out.Result != poller.ResultOK {
			b.Fatalf("scan %d: %v %q", i, err, out.Result)
		}
		if len(out.Events) != changed {
			b.Fatalf("scan %d: %d events, want %d", i, len(out.Events), changed)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	wchar1, _ := procWriteChars()

	perK := float64(entries) / 1000
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(elapsed)/float64(b.N)/perK, "cpu-ms/1k-entries") // wall time per op, as specified
	b.ReportMetric(ms(cpu)/float64(b.N)/perK, "rusage-cpu-ms/1k-entries")
	b.ReportMetric(float64(store.commits.Load()-commits0)/float64(b.N), "commits/op")
	if haveIO {
		b.ReportMetric(float64(wchar1-wchar0)/float64(b.N), "bytes-written/op")
	}
	if changed == 0 && store.commits.Load() != commits0 {
		b.Errorf("unchanged rescans committed %d times", store.commits.Load()-commits0)
	}
}

// BenchmarkRescanUnchanged100k is the steady state of a large watch: a
// rescan of 100,000 unchanged entries in 1,000 directories. It must write
// nothing (bytes-written/op 0, commits/op 0).
func BenchmarkRescanUnchanged100k(b *testing.B) { benchRescan(b, 0) }

// BenchmarkRescan10Changed100k is the same with 10 files modified per scan:
// one commit of 10 snapshot keys and 10 outbox events.
func BenchmarkRescan10Changed100k(b *testing.B) { benchRescan(b, 10) }

// BenchmarkRescanOpenSSH is an unchanged rescan as the daemon makes it: a
// poller listing through a pool to a real sshd, 200 directories of 100
// files, with each lister. rusage-cpu-ms/1k-entries is the client's CPU
// (listing, SSH, compare, GC); sshd and find are other processes.
//
// SFTPWATCHD_BENCH_TREE names an existing tree to rescan instead (e.g. the
// 1,000,000-entry tree `go run ./bench -only rss -large -keep` leaves).
func BenchmarkRescanOpenSSH(b *testing.B) {
	const dirs, files = 200, 100
	s := sshdtest.Start(b)
	root := filepath.Join(s.Root, "tree")
	if tree := os.Getenv("SFTPWATCHD_BENCH_TREE"); tree != "" {
		root = tree
	}
	for d := range dirs {
		if root != filepath.Join(s.Root, "tree") {
			break
		}
		dir := filepath.Join(root, fmt.Sprintf("a%02d", d%10), fmt.Sprintf("d%04d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range files {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%05d.csv", f)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, kind := range []string{"sftp", "find"} {
		b.Run("lister="+kind, func(b *testing.B) {
			pool := sshdPool(b, s)
			lister, err := poller.NewLister(kind, pool, 0)
			if err != nil {
				b.Fatal(err)
			}
			w := baseWatch()
			w.Path = root
			p := poller.New(poller.Options{Watch: w, Lister: lister, Store: poller.StateStore{Store: openStore(b)}})
			ctx := context.Background()
			for range 2 { // baseline, then a warm-up rescan
				if out, err := p.ScanOnce(ctx, false); err != nil || out.Result != poller.ResultOK || len(out.Events) != 0 {
					b.Fatalf("scan: %v %q %d events", err, out.Result, len(out.Events))
				}
			}
			entries := dirs*(files+1) + 10
			if root != filepath.Join(s.Root, "tree") {
				entries = -1 // the root itself is not an entry
				filepath.WalkDir(root, func(string, fs.DirEntry, error) error { entries++; return nil })
			}
			cpu0 := cpuTime()
			b.ReportAllocs()
			for b.Loop() {
				out, err := p.ScanOnce(ctx, false)
				if err != nil || out.Result != poller.ResultOK || len(out.Events) != 0 {
					b.Fatalf("rescan: %v %q %d events", err, out.Result, len(out.Events))
				}
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N)/(float64(entries)/1000), "rusage-cpu-ms/1k-entries")
		})
	}
}
