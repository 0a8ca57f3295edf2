package sftpconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"
)

// GetOptions tunes Get, GetDir and GetTree.
type GetOptions struct {
	// Progress, if set, is called after every chunk written locally with the
	// bytes done so far and the remote size.
	Progress func(done, total int64)
	// PreserveMtime sets the local file's modification (and access) time to
	// the remote one.
	PreserveMtime bool
}

// PutOptions tunes Put, PutFrom, PutDir and PutTree.
type PutOptions struct {
	// Progress, if set, is called after every chunk read from the source with
	// the bytes done so far and the total (-1 when PutFrom cannot tell).
	Progress func(done, total int64)
	// Confirm compares the remote size after the upload with the bytes sent
	// and fails with ErrSizeMismatch when they differ.
	Confirm bool
	// PreserveMtime sets the remote modification time (and access time, to
	// the same value) to the local file's (not used by PutFrom, which has no
	// source file).
	PreserveMtime bool
}

// uploadConcurrency is the number of write requests kept in flight by
// PutFrom (pkg/sftp caps it at the client's MaxConcurrentRequestsPerFile).
const uploadConcurrency = 64

// ctxWriter stops a transfer when ctx ends and reports progress, to the
// caller and, as the download's progress, to its request deadline: the
// deadline's clock is held while w writes.
type ctxWriter struct {
	ctx      context.Context
	w        io.Writer
	n        int64
	progress func(int64)
	rq       *request // set by the download
}

func (cw *ctxWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, err
	}
	cw.rq.hold()
	n, err := cw.w.Write(p)
	cw.rq.release()
	cw.n += int64(n)
	if cw.progress != nil && n > 0 {
		cw.progress(cw.n)
	}
	return n, err
}

// ctxReader stops an upload when ctx ends and reports progress, to the
// caller and to the upload's request deadline (held while r reads: the
// upload reads on only once the server acknowledged earlier writes).
type ctxReader struct {
	ctx      context.Context
	r        io.Reader
	n        int64
	progress func(int64)
	rq       *request
}

func (cr *ctxReader) Read(p []byte) (int, error) {
	if err := cr.ctx.Err(); err != nil {
		return 0, err
	}
	cr.rq.hold()
	n, err := cr.r.Read(p)
	cr.rq.release()
	cr.n += int64(n)
	if cr.progress != nil && n > 0 {
		cr.progress(cr.n)
	}
	return n, err
}

// GetTo copies remote file p into w and returns the bytes written (pysftp's
// getfo). Many read requests are kept in flight; w still receives the
// bytes in order. On a connection with the pipelined reader (package
// sftp3) they are as large as the server allows (limits@openssh.com)
// and a short read is asked for again; otherwise pkg/sftp's File.WriteTo
// reads (concurrently unless the client was built with
// UseConcurrentReads(false)). progress, if set, gets the running total
// after each write to w. ctx is checked before every write; on
// cancellation the copy stops and the error wraps ctx.Err().
func (c *Client) GetTo(ctx context.Context, p string, w io.Writer, progress func(written int64)) (int64, error) {
	full, err := c.begin(ctx, "get", p)
	if err != nil {
		return 0, err
	}
	n, err := c.download(ctx, full, -1, &ctxWriter{ctx: ctx, w: w, progress: progress})
	if err == nil {
		err = ctx.Err()
	}
	return n, opErr("get", full, err)
}

// Get downloads remote file p to local path local (the remote base name in
// the local working directory when local is ""). The file is written to a
// temporary file in the same local directory, synced, and renamed into
// place, so local is either the old content or the complete new one; the
// temporary file is removed on failure. The new file gets mode 0644.
func (c *Client) Get(ctx context.Context, p, local string, opt GetOptions) error {
	full, err := c.begin(ctx, "get", p)
	if err != nil {
		return err
	}
	if local == "" {
		local = path.Base(full)
	}
	fi, err := timed(c, c.sftp.Stat, full)
	if err != nil {
		return opErr("get", full, err)
	}
	if fi.IsDir() {
		return opErr("get", full, ErrIsDir)
	}
	if err := c.get(ctx, full, local, fi, opt); err != nil {
		return fmt.Errorf("get %q to %q: %w", full, local, err)
	}
	return nil
}

func (c *Client) get(ctx context.Context, full, local string, fi os.FileInfo, opt GetOptions) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(local), "."+filepath.Base(local)+".part-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var progress func(int64)
	if opt.Progress != nil {
		total := fi.Size()
		progress = func(n int64) { opt.Progress(n, total) }
	}
	_, err = c.download(ctx, full, fi.Size(), &ctxWriter{ctx: ctx, w: tmp, progress: progress})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if opt.PreserveMtime {
		if err := os.Chtimes(tmp.Name(), accessTime(fi), fi.ModTime()); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), local)
}

// accessTime is the remote access time when the server sent one.
func accessTime(fi os.FileInfo) time.Time {
	if a, ok := sftpAttrs(fi); ok && a.Atime != 0 {
		return time.Unix(int64(a.Atime), 0)
	}
	return fi.ModTime()
}

// safeName reports whether a name from a remote listing can be used as one
// local path component.
func safeName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return false
		}
	}
	return filepath.Base(name) == name // also rejects the OS separator
}

// GetDir downloads the regular files directly in remote directory p into
// local directory local, created if missing (pysftp's get_d: not
// recursive; subdirectories, links and special files are skipped).
func (c *Client) GetDir(ctx context.Context, p, local string, opt GetOptions) error {
	full, err := c.begin(ctx, "getdir", p)
	if err != nil {
		return err
	}
	infos, err := c.ReadDir(ctx, full)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return opErr("getdir", full, err)
	}
	for _, fi := range infos {
		if !fi.Mode().IsRegular() || !safeName(fi.Name()) {
			continue
		}
		rp := path.Join(full, fi.Name())
		if err := c.get(ctx, rp, filepath.Join(local, fi.Name()), fi, opt); err != nil {
			return fmt.Errorf("getdir: get %q: %w", rp, err)
		}
	}
	return nil
}

// GetTree downloads remote directory p recursively into local (pysftp's
// get_r): directories are created, regular files downloaded, symbolic links
// and special files skipped. It lists with Walk (many directory reads in
// flight) and stops at the first directory that cannot be listed.
func (c *Client) GetTree(ctx context.Context, p, local string, opt GetOptions) error {
	full, err := c.begin(ctx, "gettree", p)
	if err != nil {
		return err
	}
	return Walk(ctx, c, full, WalkOptions{Recursive: true}, func(l DirListing) error {
		if l.Err != nil {
			return l.Err
		}
		dir := filepath.Join(local, filepath.FromSlash(l.Dir))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return opErr("gettree", full, err)
		}
		for _, e := range l.Entries {
			if !e.Mode.IsRegular() || !safeName(e.Name) {
				continue
			}
			rp := path.Join(full, e.RelPath)
			if err := c.get(ctx, rp, filepath.Join(dir, e.Name), entryInfo(e), opt); err != nil {
				return fmt.Errorf("gettree: get %q: %w", rp, err)
			}
		}
		return nil
	})
}

// Put uploads local file local to remote path p (the local base name in the
// working directory when p is ""), replacing it, with concurrent writes. It
// returns the remote attributes after the upload (stat'ed, as pysftp does).
// A server that refuses to set the times (PreserveMtime) makes it return
// them with an error wrapping ErrAttrsNotSet: a warning, the file is there.
func (c *Client) Put(ctx context.Context, local, p string, opt PutOptions) (os.FileInfo, error) {
	if p == "" {
		p = filepath.Base(local)
	}
	full, err := c.begin(ctx, "put", p)
	if err != nil {
		return nil, err
	}
	lf, err := os.Open(local)
	if err != nil {
		return nil, fmt.Errorf("put %q to %q: %w", local, full, err)
	}
	defer lf.Close()
	lfi, err := lf.Stat()
	if err != nil {
		return nil, fmt.Errorf("put %q to %q: %w", local, full, err)
	}
	if !lfi.Mode().IsRegular() {
		return nil, fmt.Errorf("put %q to %q: not a regular file", local, full)
	}
	n, err := c.put(ctx, lf, full, lfi.Size(), opt.Progress)
	var warn error
	if err == nil && opt.PreserveMtime {
		if err = c.timed(func() error { return c.sftp.Chtimes(full, lfi.ModTime(), lfi.ModTime()) }); err != nil && serverAnswered(err) {
			warn, err = attrsNotSet(fmt.Sprintf("set the times of %q", full), err), nil
		}
	}
	var fi os.FileInfo
	if err == nil {
		fi, err = c.confirm(full, n, opt.Confirm)
	}
	if err != nil {
		return nil, fmt.Errorf("put %q to %q: %w", local, full, err)
	}
	if warn != nil {
		return fi, fmt.Errorf("put %q to %q: %w", local, full, warn)
	}
	return fi, nil
}

// PutFrom uploads everything read from r to remote path p, replacing it,
// with concurrent writes (pysftp's putfo), and returns the remote attributes
// after the upload. Progress gets total -1 unless r tells its size (Len or
// Size method).
func (c *Client) PutFrom(ctx context.Context, r io.Reader, p string, opt PutOptions) (os.FileInfo, error) {
	full, err := c.begin(ctx, "put", p)
	if err != nil {
		return nil, err
	}
	total := int64(-1)
	switch s := r.(type) {
	case interface{ Len() int }:
		total = int64(s.Len())
	case interface{ Size() int64 }:
		total = s.Size()
	}
	n, err := c.put(ctx, r, full, total, opt.Progress)
	if err != nil {
		return nil, opErr("put", full, err)
	}
	fi, err := c.confirm(full, n, opt.Confirm)
	return fi, opErr("put", full, err)
}

func (c *Client) put(ctx context.Context, r io.Reader, full string, total int64, progress func(done, total int64)) (n int64, err error) {
	rq := c.watch.start()
	defer func() { err = rq.end(err) }()
	f, err := c.sftp.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return 0, err
	}
	cr := &ctxReader{ctx: ctx, r: r, rq: rq}
	if progress != nil {
		cr.progress = func(n int64) { progress(n, total) }
	}
	n, err = f.ReadFromWithConcurrency(cr, uploadConcurrency)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	return n, err
}

// confirm stats the uploaded file and, when check is set, compares its size
// with the bytes sent.
func (c *Client) confirm(full string, sent int64, check bool) (os.FileInfo, error) {
	fi, err := timed(c, c.sftp.Stat, full)
	if err != nil {
		return nil, err
	}
	if check && fi.Size() != sent {
		return fi, fmt.Errorf("%w: sent %d bytes, remote size %d", ErrSizeMismatch, sent, fi.Size())
	}
	return fi, nil
}

// PutDir uploads the regular files directly in local directory local into
// remote directory p, created (MakeDirs) if missing (pysftp's put_d: not
// recursive; subdirectories, links and special files are skipped). Times
// the server refused to set do not stop it: it returns the first such
// ErrAttrsNotSet warning at the end.
func (c *Client) PutDir(ctx context.Context, local, p string, opt PutOptions) error {
	full, err := c.begin(ctx, "putdir", p)
	if err != nil {
		return err
	}
	ents, err := os.ReadDir(local)
	if err != nil {
		return fmt.Errorf("putdir %q to %q: %w", local, full, err)
	}
	if err := c.MakeDirs(ctx, full, 0); err != nil {
		return err
	}
	var warn error
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		_, err := c.Put(ctx, filepath.Join(local, e.Name()), path.Join(full, e.Name()), opt)
		if warn, err = keepWarning(warn, err); err != nil {
			return err
		}
	}
	return warn
}

// keepWarning sorts err for an upload of many files: an ErrAttrsNotSet
// warning is kept in warn (the first one) and the upload goes on; any other
// error is returned as the failure.
func keepWarning(warn, err error) (error, error) {
	if errors.Is(err, ErrAttrsNotSet) {
		if warn == nil {
			warn = err
		}
		return warn, nil
	}
	return warn, err
}

// PutTree uploads local directory local recursively into remote directory p
// (pysftp's put_r): directories are created with their local permission
// bits, regular files uploaded; symbolic links and special files skipped.
// Attributes the server refused to set do not stop it: it returns the
// first such ErrAttrsNotSet warning at the end.
func (c *Client) PutTree(ctx context.Context, local, p string, opt PutOptions) error {
	full, err := c.begin(ctx, "puttree", p)
	if err != nil {
		return err
	}
	var warn error
	err = filepath.WalkDir(local, func(lp string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("puttree %q: %w", lp, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(local, lp)
		if err != nil {
			return err
		}
		rp := path.Join(full, filepath.ToSlash(rel))
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return fmt.Errorf("puttree %q: %w", lp, err)
			}
			warn, err = keepWarning(warn, c.MakeDirs(ctx, rp, info.Mode().Perm()))
			return err
		case d.Type().IsRegular():
			_, err := c.Put(ctx, lp, rp, opt)
			warn, err = keepWarning(warn, err)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return warn
}

// entryInfo adapts a Walk entry to the os.FileInfo get needs.
func entryInfo(e Entry) os.FileInfo { return entryFileInfo{e} }

type entryFileInfo struct{ e Entry }

func (f entryFileInfo) Name() string       { return f.e.Name }
func (f entryFileInfo) Size() int64        { return f.e.Size }
func (f entryFileInfo) Mode() os.FileMode  { return f.e.Mode }
func (f entryFileInfo) ModTime() time.Time { return f.e.MTime }
func (f entryFileInfo) IsDir() bool        { return f.e.Mode.IsDir() }
func (f entryFileInfo) Sys() any           { return nil }
