package sftpserver

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
)

// handler implements pkg/sftp's request-server handlers on an os.Root, so
// every path is resolved inside the served directory: ".." cannot climb out
// and symbolic links that point outside are not followed (os.Root refuses).
type handler struct {
	root   *os.Root
	dir    string // the served directory, for statvfs
	faults *faults
}

var (
	_ sftp.FileReader           = (*handler)(nil)
	_ sftp.OpenFileWriter       = (*handler)(nil)
	_ sftp.PosixRenameFileCmder = (*handler)(nil)
	_ sftp.LstatFileLister      = (*handler)(nil)
	_ sftp.RealPathFileLister   = (*handler)(nil)
	_ sftp.ReadlinkFileLister   = (*handler)(nil)
)

// rel turns the request server's cleaned absolute path into a name for
// os.Root ("." for the root itself).
func rel(p string) string {
	p = strings.TrimPrefix(cleanAbs(p), "/")
	if p == "" {
		return "."
	}
	return p
}

// fixErr maps errors the way OpenSSH's sftp-server does: ENOTDIR and ELOOP
// (a path through a file, a link loop) are "no such file".
func fixErr(err error) error {
	if errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ELOOP) {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return &os.PathError{Op: pe.Op, Path: pe.Path, Err: syscall.ENOENT}
		}
		return syscall.ENOENT
	}
	return err
}

func (h *handler) check(paths ...string) error {
	for _, p := range paths {
		if err := h.faults.check(cleanAbs(p)); err != nil {
			return err
		}
	}
	return nil
}

// fileread opens a file for reading.
func (h *handler) fileread(r *sftp.Request) (io.ReaderAt, error) {
	if err := h.check(r.Filepath); err != nil {
		return nil, err
	}
	f, err := h.root.Open(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return shortReader{f: f, faults: h.faults}, nil
}

// filewrite opens a file for writing (never with O_APPEND: pkg/sftp writes
// at explicit offsets).
func (h *handler) filewrite(r *sftp.Request) (io.WriterAt, error) {
	f, err := h.openFile(r, os.O_WRONLY)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// openFileRW opens a file for reading and writing on one handle.
func (h *handler) openFileRW(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	f, err := h.openFile(r, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (h *handler) openFile(r *sftp.Request, access int) (*os.File, error) {
	if err := h.check(r.Filepath); err != nil {
		return nil, err
	}
	pf := r.Pflags()
	flag := access
	if pf.Creat {
		flag |= os.O_CREATE
	}
	if pf.Trunc {
		flag |= os.O_TRUNC
	}
	if pf.Excl {
		flag |= os.O_EXCL
	}
	perm := os.FileMode(0o644)
	if r.AttrFlags().Permissions {
		perm = r.Attributes().FileMode().Perm()
	}
	return h.root.OpenFile(rel(r.Filepath), flag, perm)
}

// filecmd runs Setstat, Rename, Rmdir, Mkdir, Link, Symlink and Remove.
func (h *handler) filecmd(r *sftp.Request) error {
	switch r.Method {
	case "Setstat":
		if err := h.check(r.Filepath); err != nil {
			return err
		}
		if err := h.faults.checkSetstat(cleanAbs(r.Filepath)); err != nil {
			return err
		}
		return h.setstat(r)
	case "Rename":
		if err := h.check(r.Filepath, r.Target); err != nil {
			return err
		}
		// SFTPv3 rename does not replace an existing target (OpenSSH
		// behaves the same way); posix-rename@openssh.com does.
		if _, err := h.root.Lstat(rel(r.Target)); err == nil {
			return &os.PathError{Op: "rename", Path: r.Target, Err: syscall.EEXIST}
		}
		return h.root.Rename(rel(r.Filepath), rel(r.Target))
	case "Rmdir":
		if err := h.check(r.Filepath); err != nil {
			return err
		}
		fi, err := h.root.Lstat(rel(r.Filepath))
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return &os.PathError{Op: "rmdir", Path: r.Filepath, Err: syscall.ENOTDIR}
		}
		return h.root.Remove(rel(r.Filepath))
	case "Remove":
		if err := h.check(r.Filepath); err != nil {
			return err
		}
		fi, err := h.root.Lstat(rel(r.Filepath))
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return &os.PathError{Op: "remove", Path: r.Filepath, Err: syscall.EISDIR}
		}
		return h.root.Remove(rel(r.Filepath))
	case "Mkdir":
		if err := h.check(r.Filepath); err != nil {
			return err
		}
		perm := os.FileMode(0o755)
		if r.AttrFlags().Permissions {
			perm = r.Attributes().FileMode().Perm()
		}
		return h.root.Mkdir(rel(r.Filepath), perm)
	case "Symlink":
		// pkg/sftp: Filepath is the link's target (verbatim), Target the
		// new link. The target is only stored, never resolved here.
		if err := h.check(r.Target); err != nil {
			return err
		}
		return h.root.Symlink(r.Filepath, rel(r.Target))
	case "Link":
		if err := h.check(r.Filepath, r.Target); err != nil {
			return err
		}
		return h.root.Link(rel(r.Filepath), rel(r.Target))
	}
	return sftp.ErrSSHFxOpUnsupported
}

// posixRename is posix-rename@openssh.com: rename, replacing the target.
func (h *handler) posixRename(r *sftp.Request) error {
	if err := h.check(r.Filepath, r.Target); err != nil {
		return err
	}
	return h.root.Rename(rel(r.Filepath), rel(r.Target))
}

func (h *handler) setstat(r *sftp.Request) error {
	name := rel(r.Filepath)
	flags := r.AttrFlags()
	attrs := r.Attributes()
	if flags.Size {
		f, err := h.root.OpenFile(name, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		err = f.Truncate(int64(attrs.Size))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if flags.Permissions {
		if err := h.root.Chmod(name, attrs.FileMode().Perm()|attrs.FileMode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
	}
	if flags.UidGid {
		if err := h.root.Chown(name, int(attrs.UID), int(attrs.GID)); err != nil {
			return err
		}
	}
	if flags.Acmodtime {
		if err := h.root.Chtimes(name, attrs.AccessTime(), attrs.ModTime()); err != nil {
			return err
		}
	}
	return nil
}

// filelist lists a directory (Method "List") or stats one path ("Stat").
func (h *handler) filelist(r *sftp.Request) (sftp.ListerAt, error) {
	if err := h.check(r.Filepath); err != nil {
		return nil, err
	}
	name := rel(r.Filepath)
	switch r.Method {
	case "List":
		d, err := h.root.Open(name)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		infos, err := d.Readdir(-1)
		if err != nil {
			return nil, err
		}
		return listerAt(infos), nil
	case "Stat":
		fi, err := h.root.Stat(name)
		if err != nil {
			return nil, err
		}
		return listerAt{fi}, nil
	}
	return nil, sftp.ErrSSHFxOpUnsupported
}

// lstat stats a path without following a final symbolic link.
func (h *handler) lstat(r *sftp.Request) (sftp.ListerAt, error) {
	if err := h.check(r.Filepath); err != nil {
		return nil, err
	}
	fi, err := h.root.Lstat(rel(r.Filepath))
	if err != nil {
		return nil, err
	}
	return listerAt{fi}, nil
}

// readlink returns a symbolic link's target as stored.
func (h *handler) readlink(p string) (string, error) {
	if err := h.check(p); err != nil {
		return "", err
	}
	return h.root.Readlink(rel(p))
}

// maxSymlinkHops bounds symbolic-link resolution in RealPath, like ELOOP.
const maxSymlinkHops = 40

// realPath canonicalises p in the client's view of the tree ("/" is the
// root), resolving symbolic links component by component. A link that
// climbs above "/" stops at "/", as in a chroot; an absolute link target is
// taken from "/". A missing final part is kept as named, like OpenSSH's
// sftp-server does for the last component.
func (h *handler) realPath(p string) (string, error) {
	if err := h.check(p); err != nil {
		return "", err
	}
	rest := splitPath(cleanAbs(p))
	resolved := "/"
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, c)
		fi, err := h.root.Lstat(rel(next))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && len(rest) == 0 {
				return next, nil
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > maxSymlinkHops {
			return "", &os.PathError{Op: "realpath", Path: p, Err: syscall.ELOOP}
		}
		target, err := h.root.Readlink(rel(next))
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = "/"
		}
		rest = append(splitPath(target), rest...)
	}
	return resolved, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// listerAt serves a fixed slice of FileInfo.
type listerAt []os.FileInfo

func (l listerAt) ListAt(dst []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(dst, l[off:])
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// The pkg/sftp handler methods: each maps its error with fixErr.

// Fileread opens a file for reading.
func (h *handler) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	ra, err := h.fileread(r)
	return ra, fixErr(err)
}

// Filewrite opens a file for writing (never with O_APPEND: pkg/sftp writes
// at explicit offsets).
func (h *handler) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	wa, err := h.filewrite(r)
	return wa, fixErr(err)
}

// OpenFile opens a file for reading and writing on one handle.
func (h *handler) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	rw, err := h.openFileRW(r)
	return rw, fixErr(err)
}

// Filecmd runs Setstat, Rename, Rmdir, Mkdir, Link, Symlink and Remove.
func (h *handler) Filecmd(r *sftp.Request) error { return fixErr(h.filecmd(r)) }

// PosixRename is posix-rename@openssh.com: rename, replacing the target.
func (h *handler) PosixRename(r *sftp.Request) error { return fixErr(h.posixRename(r)) }

// Filelist lists a directory (Method "List") or stats one path ("Stat").
func (h *handler) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := h.filelist(r)
	return l, fixErr(err)
}

// Lstat stats a path without following a final symbolic link.
func (h *handler) Lstat(r *sftp.Request) (sftp.ListerAt, error) {
	l, err := h.lstat(r)
	return l, fixErr(err)
}

// Readlink returns a symbolic link's target as stored.
func (h *handler) Readlink(p string) (string, error) {
	t, err := h.readlink(p)
	return t, fixErr(err)
}

// RealPath canonicalises p; see realPath.
func (h *handler) RealPath(p string) (string, error) {
	rp, err := h.realPath(p)
	return rp, fixErr(err)
}
