package sftpconn

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FetchTo must copy every byte up to the end of the file whatever size hint
// it is given (exact, too small, too large, unknown), on both sides of the
// one-buffer limit, and describe the file (not a link's target) afterwards.
func TestFetchTo(t *testing.T) {
	for _, r := range servers(t) {
		t.Run(r.Name, func(t *testing.T) { testFetchTo(t, r) })
	}
}

func testFetchTo(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	sizes := []int{0, 1, 4096, 32768, 32769, 100000, smallFetchMax, smallFetchMax + 1, 3<<20 + 7}
	for _, size := range sizes {
		data := randomBytes(t, size)
		name := fmt.Sprintf("f%d", size)
		if err := os.WriteFile(filepath.Join(ld, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(ld, name), mt, mt); err != nil {
			t.Fatal(err)
		}
		hints := []int64{int64(size), -1, 0, int64(size) + 1, int64(size) + 5000, smallFetchMax + 10}
		if size > 0 {
			hints = append(hints, int64(size)-1, int64(size)/2)
		}
		for _, hint := range hints {
			var buf bytes.Buffer
			var progressed int64
			n, after, err := r.C.FetchTo(ctx, rd+"/"+name, hint, &buf, func(w int64) { progressed = w })
			if err != nil {
				t.Fatalf("size %d hint %d: %v", size, hint, err)
			}
			if n != int64(size) || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("size %d hint %d: n=%d, %d bytes written, equal=%v", size, hint, n, buf.Len(), bytes.Equal(buf.Bytes(), data))
			}
			if size > 0 && progressed != n {
				t.Fatalf("size %d hint %d: progress %d, want %d", size, hint, progressed, n)
			}
			if after == nil || after.Size() != int64(size) || !after.ModTime().Equal(mt) || !after.Mode().IsRegular() {
				t.Fatalf("size %d hint %d: after = %v", size, hint, after)
			}
		}
	}

	// A missing file: not-exist, nothing written, no attributes.
	var buf bytes.Buffer
	n, after, err := r.C.FetchTo(ctx, rd+"/missing", 10, &buf, nil)
	if !IsNotExist(err) || n != 0 || after != nil || buf.Len() != 0 {
		t.Fatalf("missing: n=%d after=%v err=%v", n, after, err)
	}

	// A symbolic link: the content is its target's (OPEN follows links),
	// but after describes the link itself, which is what lets a caller
	// refuse it.
	if err := os.Symlink("f4096", filepath.Join(ld, "link")); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	_, after, err = r.C.FetchTo(ctx, rd+"/link", 4096, &buf, nil)
	if err != nil || after == nil || after.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link: after=%v err=%v", after, err)
	}

	// A cancelled ctx sends nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.C.FetchTo(cctx, rd+"/f1", 1, &buf, nil); err == nil {
		t.Fatal("FetchTo with a cancelled ctx succeeded")
	}
}
