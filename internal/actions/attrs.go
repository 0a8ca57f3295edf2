package actions

import (
	"context"
	"fmt"
	"io/fs"
	"os"

	"github.com/sftpwatchd/sftpwatchd/internal/event"
)

// remoteAttrs returns the attributes of remote path p as the watch reports
// them: its own (Lstat) or, when follow is set and the event reports a file
// where p is a symbolic link (the walk followed it), its target's (Stat).
// followed tells which.
func remoteAttrs(ctx context.Context, r Remote, p string, ev *event.Event, follow bool) (fi os.FileInfo, followed bool, err error) {
	fi, err = r.Lstat(ctx, p)
	if err != nil || !follow || fi.Mode()&fs.ModeSymlink == 0 || ev.EntryType != "file" {
		return fi, false, err
	}
	fi, err = r.Stat(ctx, p)
	return fi, true, err
}

// changedSince returns a description of how fi differs from what ev reports
// (type, size, mtime to the second, as SFTP carries it), or "" when fi is
// still the entry ev describes.
func changedSince(ev *event.Event, fi os.FileInfo) string {
	switch {
	case ev.EntryType == "file" && !fi.Mode().IsRegular():
		return fmt.Sprintf("is now %s, not a regular file", entryKind(fi.Mode()))
	case fi.Size() != ev.Size || fi.ModTime().Unix() != ev.MTime.Unix():
		return fmt.Sprintf("size %d, mtime %s now; the event has size %d, mtime %s",
			fi.Size(), fi.ModTime().UTC().Format(timeFormat), ev.Size, ev.MTime.UTC().Format(timeFormat))
	}
	return ""
}

func entryKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}

// superseded wraps ErrSuperseded for op on remote path p.
func superseded(op, p, why string) error {
	return fmt.Errorf("%s %q: %w: %s", op, p, ErrSuperseded, why)
}
