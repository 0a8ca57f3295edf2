package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
)

// Every method here resolves a relative path against the working directory
// (see Chdir), checks ctx before sending anything, and wraps errors with the
// operation and the resolved path (see errors_fs.go). pkg/sftp has no
// per-request cancellation except for directory reads, so a request already
// sent runs to its answer, to the connection's end or to the request
// deadline (deadline.go), which closes the connection.

// begin checks ctx and resolves p.
func (c *Client) begin(ctx context.Context, op, p string) (string, error) {
	full := c.abs(p)
	if err := ctx.Err(); err != nil {
		return full, opErr(op, full, err)
	}
	return full, nil
}

// ListDir returns the names in directory p, sorted ("." and ".." left out).
func (c *Client) ListDir(ctx context.Context, p string) ([]string, error) {
	infos, err := c.ReadDir(ctx, p)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	return names, nil
}

// ReadDir returns the entries of directory p with their attributes, sorted by
// name ("." and ".." left out). Symbolic links are described, not followed.
// The listing is complete or an error: if reading fails part way, no entries
// are returned. ctx cancels the reading between requests.
func (c *Client) ReadDir(ctx context.Context, p string) ([]os.FileInfo, error) {
	full, err := c.begin(ctx, "list", p)
	if err != nil {
		return nil, err
	}
	infos, err := c.readDir(ctx, full)
	return infos, opErr("list", full, err)
}

// Stat describes p, following symbolic links.
func (c *Client) Stat(ctx context.Context, p string) (os.FileInfo, error) {
	full, err := c.begin(ctx, "stat", p)
	if err != nil {
		return nil, err
	}
	fi, err := timed(c, c.sftp.Stat, full)
	return fi, opErr("stat", full, err)
}

// Lstat describes p without following a final symbolic link.
func (c *Client) Lstat(ctx context.Context, p string) (os.FileInfo, error) {
	full, err := c.begin(ctx, "lstat", p)
	if err != nil {
		return nil, err
	}
	fi, err := timed(c, c.sftp.Lstat, full)
	return fi, opErr("lstat", full, err)
}

// exists turns "does not exist" into false and keeps other errors: a
// permission or connection failure is not an answer.
func exists(fi os.FileInfo, err error) (os.FileInfo, bool, error) {
	switch {
	case err == nil:
		return fi, true, nil
	case IsNotExist(err):
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// Exists reports whether p exists (following symbolic links: a dangling
// link does not exist). Errors other than "does not exist" are returned.
func (c *Client) Exists(ctx context.Context, p string) (bool, error) {
	_, ok, err := exists(c.Stat(ctx, p))
	return ok, err
}

// Lexists reports whether p exists, counting a dangling symbolic link.
func (c *Client) Lexists(ctx context.Context, p string) (bool, error) {
	_, ok, err := exists(c.Lstat(ctx, p))
	return ok, err
}

// IsDir reports whether p is a directory (or a link to one). A missing p is
// false, not an error.
func (c *Client) IsDir(ctx context.Context, p string) (bool, error) {
	fi, ok, err := exists(c.Stat(ctx, p))
	return ok && fi.IsDir(), err
}

// IsFile reports whether p is a regular file (or a link to one). A missing p
// is false, not an error.
func (c *Client) IsFile(ctx context.Context, p string) (bool, error) {
	fi, ok, err := exists(c.Stat(ctx, p))
	return ok && fi.Mode().IsRegular(), err
}

// ErrAttrsNotSet marks a warning, not a failure: the directory or file was
// created (or written) as asked, but the server refused to set its
// attributes afterwards (SETSTAT: permissions, times), as some servers
// always do. It is there, with the server's own attributes. An error
// wrapping it names the operation, the path and the server's answer
// (whose classification is not kept: a refused chmod must not read as a
// refused creation); callers log it and carry on.
var ErrAttrsNotSet = errors.New("created, but the server refused to set its attributes")

// setMode sets mode on p, which was just created. A refusal is
// ErrAttrsNotSet, unless p has that mode anyway; a connection failure
// stays an error.
func (c *Client) setMode(p string, mode os.FileMode) error {
	err := c.timed(func() error { return c.sftp.Chmod(p, mode) })
	if err == nil || !serverAnswered(err) {
		return opErr("chmod", p, err)
	}
	if fi, serr := timed(c, c.sftp.Stat, p); serr == nil && fi.Mode().Perm() == mode.Perm() {
		return nil
	}
	return attrsNotSet(fmt.Sprintf("chmod %q to %#o", p, mode.Perm()), err)
}

// attrsNotSet is the ErrAttrsNotSet warning for what (operation and path)
// refused with err.
func attrsNotSet(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrAttrsNotSet, what, err)
}

// Mkdir creates directory p. A non-zero mode is then set with Chmod (SFTP
// mkdir through pkg/sftp sends no mode; the server's umask does not apply
// to the Chmod); a server that refuses it makes Mkdir return an error
// wrapping ErrAttrsNotSet, a warning: p was created. It fails if p exists.
func (c *Client) Mkdir(ctx context.Context, p string, mode os.FileMode) error {
	full, err := c.begin(ctx, "mkdir", p)
	if err != nil {
		return err
	}
	if err := c.timed(func() error { return c.sftp.Mkdir(full) }); err != nil {
		return opErr("mkdir", full, err)
	}
	if mode != 0 {
		return opErr("mkdir", full, c.setMode(full, mode))
	}
	return nil
}

// MakeDirs creates p and any missing parents, setting mode (when non-zero) on
// the directories it creates. It succeeds when p already is a directory (or a
// link to one), also when another client (or a concurrent MakeDirs) created
// it meanwhile, and fails with an error wrapping ErrNotDir and naming the
// path when something that is not a directory is in the way. A server that
// creates the directories but refuses to set their mode makes it return an
// error wrapping ErrAttrsNotSet (a warning: every directory was created),
// unless the server gave them that mode anyway.
func (c *Client) MakeDirs(ctx context.Context, p string, mode os.FileMode) error {
	full, err := c.begin(ctx, "makedirs", p)
	if err != nil {
		return err
	}
	warn, err := c.makeDirs(ctx, full, mode)
	if err != nil {
		return opErr("makedirs", full, err)
	}
	return opErr("makedirs", full, warn)
}

// makeDirs is MakeDirs on an absolute path: a failure, or else the first
// ErrAttrsNotSet warning (nil if none).
func (c *Client) makeDirs(ctx context.Context, p string, mode os.FileMode) (warn, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, serr := timed(c, c.sftp.Stat, p)
	switch {
	case serr == nil && fi.IsDir():
		return nil, nil
	case serr == nil:
		return nil, opErr("mkdir", p, ErrNotDir)
	case !serverAnswered(serr):
		return nil, opErr("stat", p, serr)
	}
	// Missing, or refused in a way some servers use for "a parent is not a
	// directory": settle the parent first, which names a file in the way.
	if parent := path.Dir(p); parent != p && parent != "." && parent != "/" {
		if warn, err = c.makeDirs(ctx, parent, mode); err != nil {
			return nil, err
		}
	}
	if !IsNotExist(serr) {
		return nil, opErr("stat", p, serr)
	}
	if err := c.timed(func() error { return c.sftp.Mkdir(p) }); err != nil {
		// Someone else may have created it meanwhile: that is success
		// (and setting its mode was theirs to do).
		if fi, serr := timed(c, c.sftp.Stat, p); serr == nil && fi.IsDir() {
			return warn, nil
		}
		return nil, opErr("mkdir", p, err)
	}
	if mode != 0 {
		if err := c.setMode(p, mode); err != nil {
			if !errors.Is(err, ErrAttrsNotSet) {
				return nil, err
			}
			if warn == nil {
				warn = err
			}
		}
	}
	return warn, nil
}

// Rmdir removes the empty directory p.
func (c *Client) Rmdir(ctx context.Context, p string) error {
	full, err := c.begin(ctx, "rmdir", p)
	if err != nil {
		return err
	}
	return opErr("rmdir", full, c.timed(func() error { return c.sftp.RemoveDirectory(full) }))
}

// ErrIsDir is returned by Remove for a directory (use Rmdir).
var ErrIsDir = errors.New("is a directory")

// Remove deletes the file (or symbolic link) p. Like pysftp it does not
// remove directories: it fails with ErrIsDir.
func (c *Client) Remove(ctx context.Context, p string) error {
	full, err := c.begin(ctx, "remove", p)
	if err != nil {
		return err
	}
	fi, err := timed(c, c.sftp.Lstat, full)
	if err != nil {
		return opErr("remove", full, err)
	}
	if fi.IsDir() {
		return opErr("remove", full, ErrIsDir)
	}
	return opErr("remove", full, c.timed(func() error { return c.sftp.Remove(full) }))
}

// Rename moves oldpath to newpath. When the server offers
// posix-rename@openssh.com (OpenSSH does) it is used, and an existing
// newpath is replaced atomically; otherwise plain SFTP rename is used, which
// most servers refuse when newpath exists.
func (c *Client) Rename(ctx context.Context, oldpath, newpath string) error {
	from, err := c.begin(ctx, "rename", oldpath)
	if err != nil {
		return err
	}
	to := c.abs(newpath)
	if _, ok := c.sftp.HasExtension("posix-rename@openssh.com"); ok {
		return opErr2("rename", from, to, c.timed(func() error { return c.sftp.PosixRename(from, to) }))
	}
	return opErr2("rename", from, to, c.timed(func() error { return c.sftp.Rename(from, to) }))
}

// Chmod sets the permission bits of p.
func (c *Client) Chmod(ctx context.Context, p string, mode os.FileMode) error {
	full, err := c.begin(ctx, "chmod", p)
	if err != nil {
		return err
	}
	return opErr("chmod", full, c.timed(func() error { return c.sftp.Chmod(full, mode) }))
}

// Chown sets the owner and group of p (numeric ids). pysftp lets either be
// omitted; here pass the current value (from Stat's Sys) to keep one.
func (c *Client) Chown(ctx context.Context, p string, uid, gid int) error {
	full, err := c.begin(ctx, "chown", p)
	if err != nil {
		return err
	}
	return opErr("chown", full, c.timed(func() error { return c.sftp.Chown(full, uid, gid) }))
}

// Truncate sets the size of file p.
func (c *Client) Truncate(ctx context.Context, p string, size int64) error {
	full, err := c.begin(ctx, "truncate", p)
	if err != nil {
		return err
	}
	return opErr("truncate", full, c.timed(func() error { return c.sftp.Truncate(full, size) }))
}

// Symlink creates a symbolic link at link pointing to target. target is
// stored as given (it is not resolved against the working directory); link
// is.
func (c *Client) Symlink(ctx context.Context, target, link string) error {
	full, err := c.begin(ctx, "symlink", link)
	if err != nil {
		return err
	}
	return opErr("symlink", full, c.timed(func() error { return c.sftp.Symlink(target, full) }))
}

// Readlink returns the target of symbolic link p as the server stores it
// (possibly relative; use Normalize for the resolved absolute path).
func (c *Client) Readlink(ctx context.Context, p string) (string, error) {
	full, err := c.begin(ctx, "readlink", p)
	if err != nil {
		return "", err
	}
	t, err := timed(c, c.sftp.ReadLink, full)
	return t, opErr("readlink", full, err)
}

// Normalize asks the server for the canonical absolute form of p (pysftp's
// normalize, SFTP realpath); Normalize(ctx, ".") is the server's idea of the
// working directory. Whether symbolic links are resolved is up to the
// server (OpenSSH resolves them).
func (c *Client) Normalize(ctx context.Context, p string) (string, error) {
	full, err := c.begin(ctx, "normalize", p)
	if err != nil {
		return "", err
	}
	r, err := timed(c, c.sftp.RealPath, full)
	return r, opErr("normalize", full, err)
}
