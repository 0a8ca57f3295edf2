package actions

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing n bytes of f at off to disk and returns
// at once (sync_file_range SYNC_FILE_RANGE_WRITE). A failure is ignored
// here: the fsync that follows reports it. The descriptor is reached
// through SyscallConn, not Fd, which would also set it to blocking mode.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
