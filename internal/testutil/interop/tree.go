package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HostileNames are file names a listing must carry byte for byte: shell
// syntax, quotes, backslashes, control characters, non-ASCII and non-UTF-8
// bytes, a leading dash, and the longest name Linux allows.
var HostileNames = []string{
	"plain.csv",
	"with space.csv",
	"it's.csv",
	`double"quote.csv`,
	"$(touch PWNED).csv",
	"`touch PWNED`.csv",
	"a;touch PWNED.csv",
	"new\nline.csv",
	"tab\there.csv",
	`back\slash.csv`,
	"glob*?[x].csv",
	"-leading-dash.csv",
	"ünïcödé-日本.csv",
	"latin1-\xe9\xff.csv",
	"%s%n%x.csv",
	strings.Repeat("l", 251) + ".csv",
}

// Mtime is the modification time MakeTree gives every file: old enough
// for any settle or min_age.
var Mtime = time.Unix(1_700_000_000, 0)

// MakeTree creates under dir every hostile name as a file (its content is
// its own name), once at the top and once in a hostile subdirectory, and
// a directory big with n empty files (f00000 …).
func MakeTree(dir string, n int) error {
	sub := filepath.Join(dir, "sub dir $(x) 'q'")
	if err := os.MkdirAll(sub, 0o777); err != nil {
		return err
	}
	for _, d := range []string{dir, sub} {
		for _, name := range HostileNames {
			p := filepath.Join(d, name)
			if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
				return err
			}
			if err := os.Chtimes(p, Mtime, Mtime); err != nil {
				return err
			}
		}
	}
	return MakeBigDir(filepath.Join(dir, "big"), n)
}

// MakeBigDir creates dir with n empty files, fast: one open, close and
// utimes each, no fsync.
func MakeBigDir(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Chtimes(p, Mtime, Mtime); err != nil {
			return err
		}
	}
	return nil
}

// Chmod777 makes every directory under dir writable by the server's user,
// so that it can move and delete what the test (as root) created.
func Chmod777(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chmod(p, 0o777)
	})
}
