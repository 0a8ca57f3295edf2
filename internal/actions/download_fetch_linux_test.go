package actions

import (
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"
)

// symlinkSwapCases replace the remote file by a symbolic link whose own
// Lstat size and mtime equal the file's (a 7-byte target, the link's mtime
// set), so only the "is a regular file" check can catch it.
func symlinkSwapCases() []changeCase {
	swap := func(p string) error {
		dir := filepath.Dir(p)
		if err := os.WriteFile(filepath.Join(dir, "other.x"), []byte("secret!"), 0o644); err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		if err := os.Symlink("other.x", p); err != nil { // len("other.x") == len("partial")
			return err
		}
		return lchtimes(p, remoteMtime)
	}
	return []changeCase{{"replaced by a symlink of the same size and mtime", swap, true}}
}

// lchtimes sets the times of a symbolic link itself (utimensat with
// AT_SYMLINK_NOFOLLOW; package os has no Lchtimes).
func lchtimes(p string, t time.Time) error {
	const atFDCWD, atSymlinkNofollow = -100, 0x100
	ts := [2]syscall.Timespec{syscall.NsecToTimespec(t.UnixNano()), syscall.NsecToTimespec(t.UnixNano())}
	pp, err := syscall.BytePtrFromString(p)
	if err != nil {
		return err
	}
	fd := atFDCWD
	_, _, errno := syscall.Syscall6(syscall.SYS_UTIMENSAT, uintptr(fd), uintptr(unsafe.Pointer(pp)),
		uintptr(unsafe.Pointer(&ts[0])), atSymlinkNofollow, 0, 0)
	if errno != 0 {
		return &os.PathError{Op: "lchtimes", Path: p, Err: errno}
	}
	return nil
}
