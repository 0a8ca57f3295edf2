package actions

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Temporary download files are named ".sftpwatchd-<process tag>-<random>.tmp".
// The process tag is drawn once when the process starts and never changes:
// a temporary file that does not carry it was left by another process (one
// that crashed, or an older version that named them ".sftpwatchd-<random>.tmp")
// and is stale; one that carries it may be a download of this process in
// flight, which a sweep must not touch. Two daemons downloading into the
// same dest at once would take each other's temporary files for stale: one
// dest belongs to one daemon.
const (
	tempPrefix = ".sftpwatchd-"
	tempSuffix = ".tmp"
)

// processTag is set once at start-up and only read after.
var processTag = rand.Text()[:12]

// ownTempPrefix starts the name of every temporary file this process makes.
var ownTempPrefix = tempPrefix + processTag + "-"

// isStaleTemp reports whether name is a temporary download file name not
// made by this process.
func isStaleTemp(name string) bool {
	return strings.HasPrefix(name, tempPrefix) && strings.HasSuffix(name, tempSuffix) &&
		len(name) > len(tempPrefix)+len(tempSuffix) && !strings.HasPrefix(name, ownTempPrefix)
}

// createTemp creates a new file with a random ".sftpwatchd-<tag>-*.tmp" name
// in dir inside r, with O_EXCL so it never reuses an existing file.
func createTemp(r *localRoot, dir string) (string, *os.File, error) {
	var err error
	for range 10 {
		name := filepath.Join(dir, ownTempPrefix+rand.Text()+tempSuffix)
		var f *os.File
		f, err = r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return name, f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", nil, err
		}
	}
	return "", nil, err
}

// sweepDir removes the stale temporary files directly in dir (relative to
// r; "." for dest itself) and returns how many it removed. It reads the
// directory in batches, so a large one costs no more memory than a batch.
// Only regular files are removed; nothing is followed.
func sweepDir(r *os.Root, dir string) (int, error) {
	d, err := r.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("open %q: %w", dir, err)
	}
	defer d.Close()
	removed := 0
	var errs []error
	for {
		ents, err := d.ReadDir(1024)
		for _, e := range ents {
			if !e.Type().IsRegular() || !isStaleTemp(e.Name()) {
				continue
			}
			name := filepath.Join(dir, e.Name())
			if rerr := r.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove %q: %w", name, rerr))
				continue
			}
			removed++
		}
		if errors.Is(err, io.EOF) || (err == nil && len(ents) == 0) {
			return removed, errors.Join(errs...)
		}
		if err != nil {
			return removed, errors.Join(append(errs, fmt.Errorf("read directory %q: %w", dir, err))...)
		}
	}
}

// sweepTree removes the stale temporary files in every directory under r.
// Symbolic links are not followed (a directory reached through one is not
// swept) and os.Root keeps every operation inside.
func sweepTree(r *os.Root) (int, error) {
	removed := 0
	var errs []error
	err := fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, err) // an unreadable directory: sweep the rest
			return nil
		}
		if !d.Type().IsRegular() || !isStaleTemp(d.Name()) {
			return nil
		}
		if rerr := r.Remove(filepath.FromSlash(p)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %q: %w", p, rerr))
			return nil
		}
		removed++
		return nil
	})
	return removed, errors.Join(append(errs, err)...)
}
