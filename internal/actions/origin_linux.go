package actions

import (
	"os"

	"golang.org/x/sys/unix"
)

// originXattr names the extended attribute that records, on a downloaded
// file, the rel_path it was written for.
const originXattr = "user.sftpwatchd.src"

// setOrigin records rel on f (an extended attribute: ext4, xfs, btrfs and,
// since Linux 6.6, tmpfs keep user attributes).
func setOrigin(f *os.File, rel string) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.Fsetxattr(int(fd), originXattr, []byte(rel), 0)
	}); err != nil {
		return err
	}
	return serr
}

// origin returns the rel_path recorded on f by setOrigin.
func origin(f *os.File) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	buf := make([]byte, 4096) // a rel_path is at most PATH_MAX
	var n int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		n, gerr = unix.Fgetxattr(int(fd), originXattr, buf)
	}); err != nil {
		return "", err
	}
	if gerr != nil {
		return "", gerr
	}
	return string(buf[:n]), nil
}
