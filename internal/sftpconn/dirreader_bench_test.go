package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// BenchmarkReadDir lists one directory with pkg/sftp's ReadDirContext and
// with the pipelined reader, on the embedded server, without latency (CPU
// and allocations) and with 2 ms per request (round trips). Run with:
//
//	go test -run '^$' -bench 'BenchmarkReadDir' -benchmem ./internal/sftpconn/
//
// rusage-cpu-ms/1k-entries is the whole process's CPU time, the embedded
// server's included (the same server for both readers).
func BenchmarkReadDir(b *testing.B) {
	for _, latency := range []time.Duration{0, benchLatency} {
		for _, n := range []int{10, 100, 1000} {
			for _, reader := range []string{"pkgsftp", "pipelined"} {
				b.Run(fmt.Sprintf("latency=%v/entries=%d/reader=%s", latency, n, reader), func(b *testing.B) {
					benchReadDir(b, latency, n, reader == "pkgsftp")
				})
			}
		}
	}
}

// BenchmarkReadDirOpenSSH lists one directory on a real sshd (another
// process): allocations and rusage CPU are the client's alone, what the
// daemon pays per listing (SSH decryption included).
func BenchmarkReadDirOpenSSH(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, reader := range []string{"pkgsftp", "pipelined"} {
			b.Run(fmt.Sprintf("entries=%d/reader=%s", n, reader), func(b *testing.B) {
				b.StopTimer()
				s := sshdtest.Start(b)
				fillDir(b, filepath.Join(s.Root, "d"), n)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				c, err := Dial(ctx, keyConfig(s), zap.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				benchList(b, c, s.Root+"/d", n, reader == "pkgsftp", func() {})
			})
		}
	}
}

func benchReadDir(b *testing.B, latency time.Duration, n int, pkgSFTP bool) {
	b.StopTimer()
	s, root := startInProcess(b)
	fillDir(b, filepath.Join(root, "d"), n)
	c := dialInProcess(b, s)
	benchList(b, c, "/d", n, pkgSFTP, func() { s.SetLatency(latency) })
}

// benchList lists dir, holding n entries, b.N times (timer started here).
func benchList(b *testing.B, c *Client, dir string, n int, pkgSFTP bool, ready func()) {
	ctx := context.Background()
	if pkgSFTP {
		c.lister.off = errors.New("benchmark: list with pkg/sftp")
	}
	if infos, err := c.ReadDir(ctx, dir); err != nil || len(infos) != n { // opens the reader
		b.Fatalf("ReadDir: %d entries, %v", len(infos), err)
	}
	if used := c.lister.cur.Load() != nil; used == pkgSFTP {
		b.Fatalf("pipelined reader in use: %v", used)
	}
	ready()
	b.ReportAllocs()
	cpu0 := rusageCPU()
	b.StartTimer()
	for b.Loop() {
		infos, err := c.ReadDir(ctx, dir)
		if err != nil || len(infos) != n {
			b.Fatalf("ReadDir: %d entries, %v", len(infos), err)
		}
	}
	b.StopTimer()
	cpu := rusageCPU() - cpu0
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N)/(float64(n)/1000), "rusage-cpu-ms/1k-entries")
}

func rusageCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWalkOpenSSH walks 1,001 directories holding 10 files each (the
// shape of the daemon's rescan benchmark) on a real sshd with 64 listings
// in flight; rusage-cpu-ms/1k-entries is the client's CPU alone.
func BenchmarkWalkOpenSSH(b *testing.B) {
	for _, reader := range []string{"pkgsftp", "pipelined"} {
		b.Run("reader="+reader, func(b *testing.B) {
			b.StopTimer()
			s := sshdtest.Start(b)
			root := filepath.Join(s.Root, "tree")
			for d := range 1001 {
				dir := root
				if d > 0 {
					dir = filepath.Join(root, fmt.Sprintf("d%02d", d%40), fmt.Sprintf("s%03d", d))
				}
				fillDir(b, dir, 10)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c, err := Dial(ctx, keyConfig(s), zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if reader == "pkgsftp" {
				c.lister.off = errors.New("benchmark: list with pkg/sftp")
			}
			walk := func() int {
				entries := 0
				err := Walk(ctx, c, root, WalkOptions{Recursive: true, Concurrency: 64}, func(l DirListing) error {
					entries += len(l.Entries)
					return l.Err
				})
				if err != nil {
					b.Fatal(err)
				}
				return entries
			}
			entries := walk()
			b.ReportAllocs()
			cpu0 := rusageCPU()
			b.StartTimer()
			for b.Loop() {
				if n := walk(); n != entries {
					b.Fatalf("%d entries, want %d", n, entries)
				}
			}
			b.StopTimer()
			cpu := rusageCPU() - cpu0
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N)/(float64(entries)/1000), "rusage-cpu-ms/1k-entries")
		})
	}
}
