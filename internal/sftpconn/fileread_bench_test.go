package sftpconn

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// BenchmarkGetLarge downloads one large file from a real sshd into a local
// file, with pkg/sftp's File.WriteTo (32 KiB reads) and with the pipelined
// reader (the server's read size: 261,120 bytes on OpenSSH 9), on the same
// server and file. MB/s is the throughput; rusage-cpu-s/GiB the client's
// CPU. The size is 256 MiB, or SFTPWATCHD_BENCH_GET_MIB. Run with:
//
//	go test -run '^$' -bench 'BenchmarkGetLarge' -benchtime 3x ./internal/sftpconn/
func BenchmarkGetLarge(b *testing.B) {
	mib := 256
	if v, err := strconv.Atoi(os.Getenv("SFTPWATCHD_BENCH_GET_MIB")); err == nil && v > 0 {
		mib = v
	}
	s := sshdtest.Start(b)
	src := filepath.Join(s.Root, "large")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, int64(mib)<<20); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	for _, reader := range []string{"pkgsftp", "pipelined"} {
		b.Run("reader="+reader, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, err := Dial(ctx, keyConfig(s), zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			if reader == "pkgsftp" {
				c.lister.off = errors.New("benchmark: download with pkg/sftp")
			}
			dst, err := os.Create(filepath.Join(b.TempDir(), "large"))
			if err != nil {
				b.Fatal(err)
			}
			defer dst.Close()
			get := func() {
				if _, err := dst.Seek(0, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				if err := dst.Truncate(0); err != nil {
					b.Fatal(err)
				}
				n, err := c.GetTo(ctx, src, dst, nil)
				if err != nil || n != int64(mib)<<20 {
					b.Fatalf("GetTo: %d bytes, %v", n, err)
				}
			}
			get() // warm: the server's page cache, the reader, the read size
			if used := c.lister.cur.Load() != nil; used != (reader == "pipelined") {
				b.Fatalf("pipelined reader in use: %v", used)
			}
			b.SetBytes(int64(mib) << 20)
			cpu0 := rusageCPU()
			for b.Loop() {
				get()
			}
			cpu := rusageCPU() - cpu0
			b.ReportMetric(cpu.Seconds()/float64(b.N)/(float64(mib)/1024), "rusage-cpu-s/GiB")
		})
	}
}
