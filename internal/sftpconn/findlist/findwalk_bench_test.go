package findlist

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// BenchmarkListersOpenSSH lists one tree of dirs directories holding 100
// files each on a real sshd, with the pipelined SFTP walk (64 in flight)
// and with the find lister. rusage-cpu-ms/1k-entries is the client's CPU
// alone (sshd and find are other processes): what the daemon pays per
// rescan before comparing.
func BenchmarkListersOpenSSH(b *testing.B) {
	const dirs, files = 200, 100
	s := sshdtest.Start(b)
	root := filepath.Join(s.Root, "tree")
	for d := range dirs {
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := sftpconn.Dial(ctx, keyConfig(s), zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	walkers := []struct {
		name string
		walk func(context.Context, sftpconn.Doer, string, sftpconn.WalkOptions, func(sftpconn.DirListing) error) error
	}{{"sftp", Walk}, {"find", Walk}}
	for _, w := range walkers {
		b.Run("lister="+w.name, func(b *testing.B) {
			walk := func() int {
				entries := 0
				err := w.walk(ctx, c, root, sftpconn.WalkOptions{Recursive: true, Concurrency: 64}, func(l sftpconn.DirListing) error {
					entries += len(l.Entries)
					return l.Err
				})
				if err != nil {
					b.Fatal(err)
				}
				return entries
			}
			want := walk()
			if want != dirs*(files+1)+10 {
				b.Fatalf("%d entries", want)
			}
			b.ReportAllocs()
			cpu0 := rusageCPU()
			for b.Loop() {
				if n := walk(); n != want {
					b.Fatalf("%d entries, want %d", n, want)
				}
			}
			cpu := rusageCPU() - cpu0
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N)/(float64(want)/1000), "rusage-cpu-ms/1k-entries")
		})
	}
}
