package actions

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback starts writing n bytes of f at off to disk and returns
// at once (sync_file_range SYNC_FILE_RANGE_WRITE). A failure is ignored
// here: the fsync that follows reports it.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
