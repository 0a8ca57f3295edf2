package sftpconn

import (
	"io/fs"
	"time"
)

// DirListing is one directory's complete listing, or the error that
// prevented it.
type DirListing struct {
	Dir     string  // path relative to the root, slash-separated; "" for the root
	Entries []Entry // sorted by name; nil when Err is set
	Err     error
}

// Entry is one directory entry found by Walk.
type Entry struct {
	RelPath string // relative to the root, slash-separated, no leading slash
	Name    string // base name, exactly as the server sent it (any bytes but '/')
	Type    EntryType
	Size    int64
	Mode    fs.FileMode // type and permission bits
	MTime   time.Time
	Link    string // symbolic link target as stored (Type Symlink, or a followed link)
}

// EntryType is what a directory entry is. It is the SFTP layer's own
// type: callers map it to theirs (the poller to diff.EntryType).
type EntryType uint8

// Entry types. TypeOther covers sockets, devices, fifos and anything the
// server reports that is none of the first three.
const (
	TypeFile EntryType = iota
	TypeDir
	TypeSymlink
	TypeOther
)

// String returns the type's name: "file", "dir", "symlink" or "other".
func (t EntryType) String() string {
	switch t {
	case TypeFile:
		return "file"
	case TypeDir:
		return "dir"
	case TypeSymlink:
		return "symlink"
	default:
		return "other"
	}
}
