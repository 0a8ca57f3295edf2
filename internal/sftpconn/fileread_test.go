package sftpconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
	"github.com/sftpwatchd/sftpwatchd/internal/testutil/sshdtest"
)

// openSSHReadSize is max-read-length in OpenSSH 9's limits@openssh.com.
const openSSHReadSize = 261120

// downloadsPipelined fails unless c's downloads go through the pipelined
// reader with read size rs (which the first download settles).
func downloadsPipelined(t *testing.T, c *Client, rs int) {
	t.Helper()
	usesReader(t, c)
	got, asked, err := c.lister.cur.Load().ReadSize(context.Background())
	if !asked {
		t.Fatal("no download asked for the read size: downloads did not use the pipelined reader")
	}
	if err != nil || got != rs {
		t.Fatalf("read size %d (%v), want %d", got, err, rs)
	}
}

// checkDownloads downloads files of the sizes around rs, and one of big
// bytes, with GetTo, Get and FetchTo (several size hints), and compares
// bytes, counts and progress.
func checkDownloads(t *testing.T, r remoteFS, rs, big int) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	for _, size := range []int{0, 1, rs - 1, rs, rs + 1, big} {
		data := randomBytes(t, size)
		name := fmt.Sprintf("f%d", size)
		if err := os.WriteFile(filepath.Join(ld, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		full := rd + "/" + name

		var buf bytes.Buffer
		var progressed int64
		n, err := r.C.GetTo(ctx, full, &buf, func(w int64) { progressed = w })
		if err != nil || n != int64(size) || !bytes.Equal(buf.Bytes(), data) || size > 0 && progressed != n {
			t.Fatalf("GetTo %d: n=%d progress=%d err=%v equal=%v", size, n, progressed, err, bytes.Equal(buf.Bytes(), data))
		}

		dst := filepath.Join(t.TempDir(), name)
		var done, total int64
		if err := r.C.Get(ctx, full, dst, GetOptions{Progress: func(d, tot int64) { done, total = d, tot }}); err != nil {
			t.Fatalf("Get %d: %v", size, err)
		}
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Get %d: %d bytes, %v", size, len(got), err)
		}
		if size > 0 && (done != int64(size) || total != int64(size)) {
			t.Fatalf("Get %d: progress %d/%d", size, done, total)
		}

		for _, hint := range []int64{int64(size), -1, 0, int64(size) + 1, int64(size) / 2} {
			buf.Reset()
			n, after, err := r.C.FetchTo(ctx, full, hint, &buf, nil)
			if err != nil || n != int64(size) || !bytes.Equal(buf.Bytes(), data) || after == nil || after.Size() != int64(size) {
				t.Fatalf("FetchTo %d hint %d: n=%d after=%v err=%v", size, hint, n, after, err)
			}
		}
	}
	downloadsPipelined(t, r.C, rs)
}

// TestDownloadOpenSSH: on OpenSSH the read size comes from
// limits@openssh.com (261,120 bytes) and every size comes back exact.
func TestDownloadOpenSSH(t *testing.T) {
	r := sshdFS(t)
	checkDownloads(t, r, openSSHReadSize, 10<<20+13)
}

// TestDownloadInProcess: pkg/sftp's server does not offer the limits
// extension: 32 KiB reads.
func TestDownloadInProcess(t *testing.T) {
	checkDownloads(t, inProcessFS(t), sftp3.DefaultReadSize, 10<<20+13)
}

// TestDownloadShortReads: a server whose every READ answers at most 1000
// bytes (or 4096, or 32767) still gives exact and complete files through
// every entry point.
func TestDownloadShortReads(t *testing.T) {
	r := inProcessFS(t)
	for _, limit := range []int{1000, 4096, sftp3.DefaultReadSize - 1} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			r.Srv.ShortReads(limit)
			defer r.Srv.ShortReads(0)
			before := r.Srv.Requests()
			checkDownloads(t, r, sftp3.DefaultReadSize, 2<<20+13)
			// 7 downloads of the 2 MiB file: GetTo, Get, FetchTo with 5 hints.
			if got, least := r.Srv.Requests()-before, int64(7*(2<<20)/limit); got < least {
				t.Fatalf("%d requests: the reads were not short", got)
			}
		})
	}
}

// TestDownloadErrors: a missing file, a directory and a refused file are
// answers from the server, classified like pkg/sftp's, and name the path.
func TestDownloadErrors(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) {
			rd, ld := caseDir(t, r)
			ctx := context.Background()
			if err := os.Mkdir(filepath.Join(ld, "dir"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ name, path, want string }{
				{"missing", rd + "/missing", "notexist=true permission=false answered=true conn=false"},
				{"missing parent", rd + "/missing/f", "notexist=true permission=false answered=true conn=false"},
				{"a directory", rd + "/dir", "notexist=false permission=false answered=true conn=false"},
			} {
				var buf bytes.Buffer
				n, err := r.C.GetTo(ctx, tc.path, &buf, nil)
				if got := classes(err); err == nil || got != tc.want || n != 0 || buf.Len() != 0 {
					t.Errorf("%s: n=%d %v: %s, want %s", tc.name, n, err, got, tc.want)
				}
				if err != nil && !strings.Contains(err.Error(), tc.path) {
					t.Errorf("%s: %v does not name the path", tc.name, err)
				}
				if err := r.C.Get(ctx, tc.path, filepath.Join(t.TempDir(), "x"), GetOptions{}); classes(err) != tc.want && tc.name != "a directory" {
					t.Errorf("Get %s: %v: %s", tc.name, err, classes(err))
				}
			}
			downloadsPipelined(t, r.C, map[string]int{"openssh": openSSHReadSize, "inprocess": sftp3.DefaultReadSize}[r.Name])
		})
	}
}

func TestDownloadRefusedInProcess(t *testing.T) {
	r := inProcessFS(t)
	writeLocal(t, filepath.Join(r.Local, "locked"), "secret")
	r.Srv.FailPath("/locked", fs.ErrPermission)
	_, err := r.C.GetTo(context.Background(), "/locked", io.Discard, nil)
	if got, want := classes(err), "notexist=false permission=true answered=true conn=false"; got != want {
		t.Fatalf("%v: %s, want %s", err, got, want)
	}
	downloadsPipelined(t, r.C, sftp3.DefaultReadSize)
}

// TestDownloadPermissionOpenSSH logs in as an unprivileged user (root
// reads any file) and downloads a file it may not read.
func TestDownloadPermissionOpenSSH(t *testing.T) {
	s, c := dialUnprivileged(t)
	locked := filepath.Join(s.Root, "locked")
	writeLocal(t, locked, "secret")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err := c.GetTo(ctx, locked, io.Discard, nil)
	if got, want := classes(err), "notexist=false permission=true answered=true conn=false"; got != want {
		t.Fatalf("%v: %s, want %s", err, got, want)
	}
	downloadsPipelined(t, c, openSSHReadSize)
}

// TestDownloadCancelOpenSSH cancels downloads mid-copy, concurrently and
// at many stages: each returns ctx's error having written less than the
// file, OpenSSH's sftp server holds no file open afterwards, and the
// reader goes on serving.
func TestDownloadCancelOpenSSH(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc: the server's open files cannot be observed")
	}
	r := sshdFS(t)
	rd, ld := caseDir(t, r)
	data := randomBytes(t, 8<<20)
	if err := os.WriteFile(filepath.Join(ld, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The observation works: a file pkg/sftp holds open is seen.
	f, err := r.C.SFTP().Open(rd + "/big")
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "the open file to be seen", func() bool { n, err := sshdtest.OpenFDsUnder(ld); return err == nil && n == 1 })
	f.Close()
	poll(t, 10*time.Second, "the closed file to be gone", func() bool { n, err := sshdtest.OpenFDsUnder(ld); return err == nil && n == 0 })

	// Cancelled by the writer, mid-copy.
	ctx, cancel := context.WithCancel(context.Background())
	n, err := r.C.GetTo(ctx, rd+"/big", io.Discard, func(w int64) {
		if w > 1<<20 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || n >= int64(len(data)) || n <= 1<<20 {
		t.Fatalf("GetTo cancelled mid-way: n=%d err=%v", n, err)
	}
	poll(t, 10*time.Second, "the server to close the file", func() bool { n, err := sshdtest.OpenFDsUnder(ld); return err == nil && n == 0 })

	// Many downloads under deadlines, concurrently.
	timeouts := []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, -1}
	completed, cancelled := sshdtest.Churn(t, 4, timeouts, func(ctx context.Context, g, i int) error {
		var buf bytes.Buffer
		n, err := r.C.GetTo(ctx, rd+"/big", &buf, nil)
		if err == nil && (n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data)) {
			return fmt.Errorf("download %d/%d: n=%d, content differs", g, i, n)
		}
		return err
	})
	t.Logf("%d complete, %d cancelled downloads", completed, cancelled)
	if completed == 0 || cancelled == 0 {
		t.Fatalf("%d complete, %d cancelled downloads: want both", completed, cancelled)
	}
	poll(t, 10*time.Second, "the server to hold no file open", func() bool { n, err := sshdtest.OpenFDsUnder(ld); return err == nil && n == 0 })
	var buf bytes.Buffer
	if n, err := r.C.GetTo(context.Background(), rd+"/big", &buf, nil); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("download after the cancellations: n=%d err=%v", n, err)
	}
	downloadsPipelined(t, r.C, openSSHReadSize)
}

// TestDownloadDropInPool cuts the connection at several points of a
// download: the download fails with a connection error the pool drops,
// never with a success, and the next download works on a new connection.
func TestDownloadDropInPool(t *testing.T) {
	s, root := startInProcess(t)
	data := randomBytes(t, 4<<20) // 128 READs of 32 KiB
	if err := os.WriteFile(filepath.Join(root, "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p := inProcessPool(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	get := func(fetch bool) (int64, []byte, error) {
		var buf bytes.Buffer
		var n int64
		var err error
		if fetch {
			n, _, err = p.FetchTo(ctx, "/big", int64(len(data)), &buf, nil)
		} else {
			n, err = p.GetTo(ctx, "/big", &buf, nil)
		}
		return n, buf.Bytes(), err
	}
	for _, fetch := range []bool{false, true} {
		for _, after := range []int{0, 1, 2, 5, 40, 100} {
			if n, got, err := get(fetch); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("fetch=%v before DropAfter(%d): n=%d err=%v", fetch, after, n, err)
			}
			s.DropAfter(after)
			n, _, err := get(fetch)
			var ce *ConnectionError
			if err == nil || !IsConnectionError(err) || !errors.As(err, &ce) || ctx.Err() != nil {
				t.Fatalf("fetch=%v DropAfter(%d): n=%d %v, want a connection error the pool dropped", fetch, after, n, err)
			}
			if n >= int64(len(data)) {
				t.Fatalf("fetch=%v DropAfter(%d): %d bytes claimed", fetch, after, n)
			}
		}
	}
}
