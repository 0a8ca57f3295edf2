package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// TestOpenRefusesEmptyFile: a 0-byte state.db (truncated) is refused with
// the fix, and left as it is.
func TestOpenRefusesEmptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of an empty state file succeeded")
	}
	if !errors.Is(err, ErrEmpty) {
		t.Errorf("error %v is not ErrEmpty", err)
	}
	want := fmt.Sprintf("state file %q is empty: restore it from a backup, or remove it to start over (every watch will re-baseline)", path)
	if err.Error() != want {
		t.Errorf("error\n got %q\nwant %q", err, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("the empty file was changed: %v %v", fi, err)
	}
}

// TestOpenCreatesAtomically: a new state file appears complete, nothing
// temporary is left, and a creation a crash interrupted is cleaned up.
func TestOpenCreatesAtomically(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "."+FileName+"-123.tmp")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0].Name() != FileName {
		t.Errorf("state dir holds %v, want only %s", names, FileName)
	}
	// The file is complete by itself: opened without Open's help, it has
	// the meta data.
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket([]byte(bucketMeta)); m == nil || string(m.Get([]byte(keyMagic))) != magic {
			return errors.New("no meta data")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestForeignFileNamesTheFix: the error for a file that is not ours says
// what to do.
func TestForeignFileNamesTheFix(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("# my notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "point state_dir at another directory") {
		t.Fatalf("Open of a text file: %v, want the fix named", err)
	}
}

// TestGrowthIsModest: the file grows by at most allocSize (and the page
// being written) beyond what the data needs; bbolt's default doubles it up
// to 16 MiB.
func TestGrowthIsModest(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	for part := range 6 {
		set := diff.Snapshot{}
		for i := range 4000 {
			set[fmt.Sprintf("d%d/%s-%05d", part, strings.Repeat("x", 60), i)] = diff.Entry{Size: int64(i)}
		}
		if _, err := s.Commit("w", Batch{Set: set}); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		var used int64
		if err := s.db.View(func(tx *bolt.Tx) error { used = tx.Size() + int64(s.db.Info().PageSize); return nil }); err != nil {
			t.Fatal(err)
		}
		if fi.Size() > used+allocSize {
			t.Errorf("after part %d: file %d bytes for %d used (more than %d beyond)", part, fi.Size(), used, allocSize)
		}
	}
}
