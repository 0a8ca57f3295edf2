package state

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "state")
	s := openT(t, dir)
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("state dir mode = %o, want 700", perm)
	}
	fi, err = os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("state file mode = %o, want no group/other bits", perm)
	}
	if ws, err := s.Watches(); err != nil || len(ws) != 0 {
		t.Errorf("Watches() of a new store = %q, %v; want none", ws, err)
	}
}

func TestLockInProcess(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir)
	start := time.Now()
	s2, err := Open(dir, Options{LockTimeout: 100 * time.Millisecond})
	elapsed := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of the same dir succeeded")
	}
	assertLocked(t, dir, err)
	if elapsed > 2*time.Second {
		t.Errorf("second Open took %v, want about the lock timeout", elapsed)
	}
}

func TestLockReleasedOnClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, dir)
}

func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: a -race binary otherwise sleeps a second before exiting.
	cmd.Env = append(os.Environ(), envHelper+"=hold-lock", envDir+"="+dir, envReady+"="+ready, "GORACE=atexit_sleep_ms=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	waitFor(t, "helper process to hold the lock", 20*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("helper exited early: %v: %s", waitErr, stderr.String())
		default:
		}
		_, err := os.Stat(ready)
		return err == nil
	})

	start := time.Now()
	s, err := Open(dir, Options{LockTimeout: 150 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded while another process holds the state dir")
	}
	assertLocked(t, dir, err)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Open took %v to give up, want about the lock timeout", el)
	}

	// Once the holder exits, the dir is free.
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("helper: %v: %s", waitErr, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper did not exit after its stdin closed")
	}
	openT(t, dir)
}

func assertLocked(t *testing.T, dir string, err error) {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("error %v is not ErrLocked", err)
	}
	want := fmt.Sprintf("state dir %q is in use by another sftpwatchd process", dir)
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err.Error(), want)
	}
}

// TestOpenRejectsForeignFiles: whatever is in the way, Open explains what is
// wrong, names the file, does not panic and does not change a byte of it.
func TestOpenRejectsForeignFiles(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	randomBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	foreignBolt := func(t *testing.T, path string) {
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("users"))
			if err != nil {
				return err
			}
			return b.Put([]byte("alice"), []byte("admin"))
		}); err != nil {
			t.Fatal(err)
		}
	}
	// stateWithMeta writes a real state file, then rewrites a meta key.
	stateWithMeta := func(key string, value []byte) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			s, err := Open(filepath.Dir(path), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Commit("w", Batch{Set: diff.Snapshot{"a": {Size: 1}}}); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte(bucketMeta)).Put([]byte(key), value)
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	write := func(b []byte) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	tests := []struct {
		name    string
		make    func(*testing.T, string)
		want    error
		message string
	}{
		{"random bytes 64k", write(randomBytes(64 << 10)), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"random bytes 3000", write(randomBytes(3000)), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"one byte", write([]byte{0}), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"text file", write([]byte("# my notes\nstate: fine\n")), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"big text file", write(bytes.Repeat([]byte("hello world\n"), 2000)), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"foreign bbolt file", foreignBolt, ErrNotStateFile, "is not an sftpwatchd state file"},
		{"wrong magic", stateWithMeta(keyMagic, []byte("someone-else")), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"malformed format", stateWithMeta(keyFormat, []byte("1")), ErrNotStateFile, "is not an sftpwatchd state file"},
		{"newer format", stateWithMeta(keyFormat, binary.BigEndian.AppendUint32(nil, formatVersion+1)), ErrNewerFormat, "was written by a newer version of sftpwatchd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			tt.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q %s", path, tt.message)) {
				t.Errorf("error %q does not say %q %s", err, path, tt.message)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("Open modified the file it rejected")
			}
		})
	}
}

func TestOpenStateFileIsADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
		t.Fatalf("Open with a directory as state file: %v, want an error naming it", err)
	}
}

// damagedState writes a real state file with a few thousand entries, then
// lets damage rewrite its bytes; damage gets the file and the type of each
// page ("meta", "freelist", "branch", "leaf", "free").
func damagedState(t *testing.T, damage func(data []byte, pageTypes []string)) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	set := diff.Snapshot{}
	for i := range 3000 {
		set[fmt.Sprintf("dir%02d/file-%05d.csv", i%50, i)] = diff.Entry{Size: int64(i), MTime: int64(i), Mode: 0o644}
	}
	if _, err := s.Commit("w", Batch{Set: set}); err != nil {
		t.Fatal(err)
	}
	var types []string
	if err := s.db.View(func(tx *bolt.Tx) error {
		for id := 0; ; id++ {
			info, err := tx.Page(id)
			if err != nil || info == nil {
				return err
			}
			types = append(types, info.Type)
			for range info.OverflowCount {
				types = append(types, info.Type)
				id++
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage(data, types)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// useDamaged opens dir and reads everything; it returns the first error,
// which must name the state file.
func useDamaged(t *testing.T, dir string) (openErr, readErr error) {
	t.Helper()
	path := filepath.Join(dir, FileName)
	s, err := Open(dir, Options{})
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			t.Errorf("Open error %q does not name %s", err, path)
		}
		return err, nil
	}
	defer s.Close()
	check := func(err error) {
		if err != nil && readErr == nil {
			readErr = err
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
		}
	}
	_, err = s.Load("w")
	check(err)
	_, err = s.Outbox("w")
	check(err)
	_, _, err = s.Counts("w")
	check(err)
	_, err = s.Watches()
	check(err)
	return nil, readErr
}

// TestDamagedPagesGiveErrors overwrites B-tree pages of a real state file
// with random bytes, keeping bbolt's meta and freelist pages intact: Open
// or the first read must report ErrCorrupt, never crash the process.
func TestDamagedPagesGiveErrors(t *testing.T) {
	const page = 4096
	loadFailed := 0
	for seed := range uint64(12) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 99))
			dir := damagedState(t, func(data []byte, types []string) {
				for id, typ := range types {
					if (typ == "leaf" || typ == "branch") && rnd.IntN(3) == 0 {
						for i := id * page; i < (id+1)*page && i < len(data); i++ {
							data[i] = byte(rnd.UintN(256))
						}
					}
				}
			})
			openErr, readErr := useDamaged(t, dir)
			err := cmpOr(openErr, readErr)
			if err == nil {
				t.Fatal("a state file with garbage pages was read without error")
			}
			t.Logf("open: %v; read: %.200v", openErr, readErr)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v is not ErrCorrupt", err)
			}
			if openErr == nil {
				loadFailed++
			}
		})
	}
	if loadFailed == 0 {
		t.Error("no seed got past Open: the read path was not exercised")
	}
}

// TestFlippedBytesNeverCrash flips single bytes anywhere in a state file:
// bbolt has no page checksums, so some flips go unnoticed, but none may
// crash the process, and every error must name the file.
func TestFlippedBytesNeverCrash(t *testing.T) {
	for seed := range uint64(16) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(seed, 7))
			dir := damagedState(t, func(data []byte, _ []string) {
				for range 64 {
					data[rnd.IntN(len(data))] ^= byte(1 + rnd.UintN(255))
				}
			})
			openErr, readErr := useDamaged(t, dir)
			t.Logf("open: %v; read: %.200v", openErr, readErr)
		})
	}
}

func cmpOr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
