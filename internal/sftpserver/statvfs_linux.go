package sftpserver

import (
	"github.com/pkg/sftp"
	"golang.org/x/sys/unix"
)

// pkg/sftp advertises statvfs@openssh.com (with posix-rename and hardlink,
// which the handler serves on every system); on Linux the handler serves it
// too. Elsewhere a statvfs request is answered "unsupported".
var _ sftp.StatVFSFileCmder = (*handler)(nil)

// StatVFS is statvfs@openssh.com (sftp's df): the file system of the
// served directory, for any path in it that exists.
func (h *handler) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	if err := h.check(r.Filepath); err != nil {
		return nil, fixErr(err)
	}
	if _, err := h.root.Stat(rel(r.Filepath)); err != nil {
		return nil, fixErr(err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(h.dir, &st); err != nil {
		return nil, err
	}
	return &sftp.StatVFS{
		Bsize:   uint64(st.Bsize),
		Frsize:  uint64(st.Frsize),
		Blocks:  st.Blocks,
		Bfree:   st.Bfree,
		Bavail:  st.Bavail,
		Files:   st.Files,
		Ffree:   st.Ffree,
		Favail:  st.Ffree,
		Fsid:    uint64(uint32(st.Fsid.Val[0]))<<32 | uint64(uint32(st.Fsid.Val[1])),
		Flag:    uint64(st.Flags),
		Namemax: uint64(st.Namelen),
	}, nil
}
