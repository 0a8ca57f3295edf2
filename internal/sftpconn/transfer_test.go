package sftpconn

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testTransfer(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	c := r.C
	data := randomBytes(t, 3<<20+12345) // many packets: exercises concurrent reads/writes
	src := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2019, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(src, mt, mt)

	// Put with Confirm and PreserveMtime.
	var lastDone, lastTotal int64
	fi, err := c.Put(ctx, src, rd+"/up.bin", PutOptions{
		Confirm: true, PreserveMtime: true,
		Progress: func(done, total int64) {
			if done < lastDone {
				t.Errorf("progress went backwards: %d after %d", done, lastDone)
			}
			lastDone, lastTotal = done, total
		},
	})
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if fi.Size() != int64(len(data)) || !fi.ModTime().Equal(mt) {
		t.Fatalf("Put returned size %d mtime %v", fi.Size(), fi.ModTime())
	}
	if lastDone != int64(len(data)) || lastTotal != int64(len(data)) {
		t.Fatalf("final progress %d/%d", lastDone, lastTotal)
	}
	if got, _ := os.ReadFile(filepath.Join(ld, "up.bin")); !bytes.Equal(got, data) {
		t.Fatal("uploaded content differs")
	}

	// GetTo: concurrent reads into a writer, with progress.
	var buf bytes.Buffer
	var progressed int64
	n, err := c.GetTo(ctx, rd+"/up.bin", &buf, func(w int64) { progressed = w })
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) || progressed != n {
		t.Fatalf("GetTo: n=%d progress=%d equal=%v err=%v", n, progressed, bytes.Equal(buf.Bytes(), data), err)
	}

	// Get with PreserveMtime, atomically replacing an existing local file.
	dstDir := t.TempDir()
	dst := filepath.Join(dstDir, "down.bin")
	os.WriteFile(dst, []byte("old content"), 0o644)
	var getDone, getTotal int64
	if err := c.Get(ctx, rd+"/up.bin", dst, GetOptions{
		PreserveMtime: true,
		Progress:      func(d, tot int64) { getDone, getTotal = d, tot },
	}); err != nil {
		t.Fatalf("Get: %v", err)
	}
	st, err := os.Stat(dst)
	if err != nil || !st.ModTime().Equal(mt) {
		t.Fatalf("Get preserve mtime: %v, %v want %v", err, st.ModTime(), mt)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
		t.Fatal("downloaded content differs")
	}
	if getDone != int64(len(data)) || getTotal != int64(len(data)) {
		t.Fatalf("Get progress %d/%d", getDone, getTotal)
	}

	// A failed Get leaves the existing file alone and no temporary behind.
	if err := c.Get(ctx, rd+"/missing", dst, GetOptions{}); !IsNotExist(err) {
		t.Fatalf("Get missing: %v", err)
	}
	ents, _ := os.ReadDir(dstDir)
	if len(ents) != 1 || ents[0].Name() != "down.bin" {
		t.Fatalf("local dir after failed Get: %v", ents)
	}

	// PutFrom from a reader (size known through Len).
	var pfTotal int64
	fi, err = c.PutFrom(ctx, bytes.NewReader(data[:1000]), rd+"/from.bin", PutOptions{
		Confirm: true, Progress: func(_, tot int64) { pfTotal = tot },
	})
	if err != nil || fi.Size() != 1000 || pfTotal != 1000 {
		t.Fatalf("PutFrom: %v %v total=%d", fi, err, pfTotal)
	}
	// PutFrom replaces (truncates) an existing, longer file.
	if _, err := c.PutFrom(ctx, strings.NewReader("short"), rd+"/from.bin", PutOptions{Confirm: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(ld, "from.bin")); string(got) != "short" {
		t.Fatalf("after overwrite: %q", got)
	}
	if _, err := c.Put(ctx, filepath.Join(dstDir, "nope"), rd+"/x", PutOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Put of a missing local file: %v", err)
	}
	if err := c.Get(ctx, rd, filepath.Join(dstDir, "d"), GetOptions{}); !errors.Is(err, ErrIsDir) {
		t.Fatalf("Get of a directory: %v", err)
	}
}

// treeOf lists a local tree as "rel:content" lines (dirs as "rel/").
func treeOf(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out = append(out, rel+"/")
			return nil
		}
		b, _ := os.ReadFile(p)
		out = append(out, rel+":"+string(b))
		return nil
	})
	sort.Strings(out)
	return out
}

func testTransferTrees(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, _ := caseDir(t, r)
	c := r.C
	src := t.TempDir()
	mt := time.Date(2018, 1, 2, 3, 4, 5, 0, time.UTC)
	files := map[string]string{
		"top.txt": "top", "a/one": "1", "a/b/two": "22", "a/b/c/three": "333", "z z/new\nline": "nl",
	}
	for p, content := range files {
		lp := filepath.Join(src, filepath.FromSlash(p))
		writeLocal(t, lp, content)
		os.Chtimes(lp, mt, mt)
	}
	os.Mkdir(filepath.Join(src, "empty"), 0o755)

	if err := c.PutTree(ctx, src, rd+"/tree", PutOptions{Confirm: true, PreserveMtime: true}); err != nil {
		t.Fatalf("PutTree: %v", err)
	}
	back := filepath.Join(t.TempDir(), "back")
	if err := c.GetTree(ctx, rd+"/tree", back, GetOptions{PreserveMtime: true}); err != nil {
		t.Fatalf("GetTree: %v", err)
	}
	if got, want := treeOf(t, back), treeOf(t, src); !equalStrings(got, want) {
		t.Fatalf("round trip tree:\n got %q\nwant %q", got, want)
	}
	if st, _ := os.Stat(filepath.Join(back, "a", "b", "c", "three")); !st.ModTime().Equal(mt) {
		t.Fatalf("GetTree mtime %v, want %v", st.ModTime(), mt)
	}

	// Non-recursive variants copy only the top level files.
	if err := c.PutDir(ctx, src, rd+"/flat", PutOptions{Confirm: true}); err != nil {
		t.Fatalf("PutDir: %v", err)
	}
	if names, err := c.ListDir(ctx, rd+"/flat"); err != nil || !equalStrings(names, []string{"top.txt"}) {
		t.Fatalf("after PutDir: %q %v", names, err)
	}
	flat := filepath.Join(t.TempDir(), "flat")
	if err := c.GetDir(ctx, rd+"/tree", flat, GetOptions{}); err != nil {
		t.Fatalf("GetDir: %v", err)
	}
	if got := treeOf(t, flat); !equalStrings(got, []string{"top.txt:top"}) {
		t.Fatalf("GetDir tree = %q", got)
	}
	if err := c.GetTree(ctx, rd+"/missing", flat, GetOptions{}); !IsNotExist(err) {
		t.Fatalf("GetTree of a missing dir: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testHostileNames(t *testing.T, r remoteFS) {
	ctx := context.Background()
	rd, ld := caseDir(t, r)
	c := r.C
	tmp := t.TempDir()
	for i, name := range hostileNames {
		content := []byte{byte('a' + i)}
		src := filepath.Join(tmp, "src")
		os.WriteFile(src, content, 0o644)
		if _, err := c.Put(ctx, src, rd+"/"+name, PutOptions{Confirm: true}); err != nil {
			t.Fatalf("Put %q: %v", name, err)
		}
		if got, err := os.ReadFile(filepath.Join(ld, name)); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("remote file %q: %q %v", name, got, err)
		}
		dst := filepath.Join(tmp, "got-"+name)
		if err := c.Get(ctx, rd+"/"+name, dst, GetOptions{}); err != nil {
			t.Fatalf("Get %q: %v", name, err)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, content) {
			t.Fatalf("downloaded %q: %q", name, got)
		}
		if err := c.MakeDirs(ctx, rd+"/dirs/"+name+"/inner", 0o755); err != nil {
			t.Fatalf("MakeDirs %q: %v", name, err)
		}
		if err := c.Rename(ctx, rd+"/"+name, rd+"/dirs/"+name+"/inner/"+name); err != nil {
			t.Fatalf("Rename %q: %v", name, err)
		}
	}
	names, err := c.ListDir(ctx, rd+"/dirs")
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string(nil), hostileNames...)
	sort.Strings(want)
	if !equalStrings(names, want) {
		t.Fatalf("ListDir = %q\nwant %q", names, want)
	}
	assertNoPWNED(t, r.Local, tmp, ".")
}

func testCancel(t *testing.T, r remoteFS) {
	rd, ld := caseDir(t, r)
	c := r.C
	data := randomBytes(t, 4<<20)
	os.WriteFile(filepath.Join(ld, "big"), data, 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Stat(ctx, rd+"/big"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat with a cancelled ctx: %v", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var buf bytes.Buffer
	n, err := c.GetTo(ctx, rd+"/big", &buf, func(w int64) {
		if w > 100_000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || n >= int64(len(data)) {
		t.Fatalf("GetTo cancelled mid-way: n=%d err=%v", n, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	dstDir := t.TempDir()
	err = c.Get(ctx, rd+"/big", filepath.Join(dstDir, "big"), GetOptions{Progress: func(d, _ int64) {
		if d > 100_000 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Get cancelled: %v", err)
	}
	if ents, _ := os.ReadDir(dstDir); len(ents) != 0 {
		t.Fatalf("cancelled Get left %v", ents)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	src := filepath.Join(t.TempDir(), "src")
	os.WriteFile(src, data, 0o644)
	_, err = c.Put(ctx, src, rd+"/up", PutOptions{Progress: func(d, _ int64) {
		if d > 100_000 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put cancelled: %v", err)
	}
	// The connection is still usable afterwards.
	if _, err := c.Stat(context.Background(), rd+"/big"); err != nil {
		t.Fatalf("Stat after cancellations: %v", err)
	}
}
