package sftpconn

import (
	"context"
	"io"
	"os"
)

// The operations other packages use, on a Pool: each runs the Client method
// of the same name on one pooled connection under Do. Like Do, they do not
// retry: a broken connection is dropped from the pool and the error (for
// which IsConnectionError holds) returned, and the caller decides.

// Stat describes p, following symbolic links (Client.Stat).
func (p *Pool) Stat(ctx context.Context, path string) (fi os.FileInfo, err error) {
	err = p.Do(ctx, func(c *Client) error {
		fi, err = c.Stat(ctx, path)
		return err
	})
	return fi, err
}

// Lstat describes p without following a final symbolic link (Client.Lstat).
func (p *Pool) Lstat(ctx context.Context, path string) (fi os.FileInfo, err error) {
	err = p.Do(ctx, func(c *Client) error {
		fi, err = c.Lstat(ctx, path)
		return err
	})
	return fi, err
}

// ReadDir lists directory p completely, sorted (Client.ReadDir).
func (p *Pool) ReadDir(ctx context.Context, path string) (infos []os.FileInfo, err error) {
	err = p.Do(ctx, func(c *Client) error {
		infos, err = c.ReadDir(ctx, path)
		return err
	})
	return infos, err
}

// GetTo copies remote file p into w with concurrent reads (Client.GetTo).
// On error w may hold part of the file: write to something you can discard.
func (p *Pool) GetTo(ctx context.Context, path string, w io.Writer, progress func(written int64)) (n int64, err error) {
	err = p.Do(ctx, func(c *Client) error {
		n, err = c.GetTo(ctx, path, w, progress)
		return err
	})
	return n, err
}

// FetchTo copies remote file p, expected to hold size bytes, into w and
// describes p after the copy (Client.FetchTo), in fewer round trips than
// GetTo followed by Lstat. On error w may hold part of the file.
func (p *Pool) FetchTo(ctx context.Context, path string, size int64, w io.Writer, progress func(written int64)) (n int64, after os.FileInfo, err error) {
	err = p.Do(ctx, func(c *Client) error {
		n, after, err = c.FetchTo(ctx, path, size, w, progress)
		return err
	})
	return n, after, err
}

// Rename moves oldpath to newpath, replacing it where the server offers
// posix-rename (Client.Rename).
func (p *Pool) Rename(ctx context.Context, oldpath, newpath string) error {
	return p.Do(ctx, func(c *Client) error { return c.Rename(ctx, oldpath, newpath) })
}

// MakeDirs creates p and its missing parents (Client.MakeDirs).
func (p *Pool) MakeDirs(ctx context.Context, path string, mode os.FileMode) error {
	return p.Do(ctx, func(c *Client) error { return c.MakeDirs(ctx, path, mode) })
}

// Remove deletes the file or link p (Client.Remove).
func (p *Pool) Remove(ctx context.Context, path string) error {
	return p.Do(ctx, func(c *Client) error { return c.Remove(ctx, path) })
}

// Exists reports whether p exists (Client.Exists).
func (p *Pool) Exists(ctx context.Context, path string) (ok bool, err error) {
	err = p.Do(ctx, func(c *Client) error {
		ok, err = c.Exists(ctx, path)
		return err
	})
	return ok, err
}
