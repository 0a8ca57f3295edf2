package sftpconn

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/pkg/sftp"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// smallFetchMax is the largest expected size FetchTo reads in one go (one
// buffer, pkg/sftp's concurrent ReadAt) instead of streaming with
// File.WriteTo.
const smallFetchMax = 1 << 20

// FetchTo copies remote file p into w, like GetTo, and then describes p as
// it is after the copy (Lstat: a final symbolic link is described, not
// followed). It exists to make the copy-then-verify of a small file cheap
// on a link with a long round-trip time.
//
// size is the length the caller expects (from a listing or an Lstat). It
// is only a hint and never trusted: n is always the number of bytes up to
// the end of the file, exactly as GetTo counts them, whether the file is
// shorter, as long or longer than size.
//
// Round trips, for a file of up to 1 MiB: OPEN; the content and a one-byte
// read at size (which must answer end-of-file) together; CLOSE and LSTAT
// together: 3 sequential round trips where GetTo followed by Lstat takes 5
// or more (pkg/sftp's File.WriteTo first asks for the size, then reads
// until a read answers end-of-file, then closes). Larger files, or a file
// that turns out longer than size, are streamed with File.WriteTo as GetTo
// does. On a connection with the pipelined reader (package sftp3) the
// round trips are the same (OPEN; the READs up to size and one at size;
// LSTAT with the CLOSE not awaited), and a longer file is read on with
// the same handle. The LSTAT is sent only after every read has been
// answered, so a change made while the file was being read shows in
// after.
//
// On a copy error, after is nil and w may hold part of the file. ctx is
// checked before every write to w.
func (c *Client) FetchTo(ctx context.Context, p string, size int64, w io.Writer, progress func(written int64)) (n int64, after os.FileInfo, err error) {
	full, err := c.begin(ctx, "get", p)
	if err != nil {
		return 0, nil, err
	}
	r, err := c.reader(ctx)
	if err != nil {
		return 0, nil, opErr("get", full, err)
	}
	rq := c.watch.start()
	cw := &ctxWriter{ctx: ctx, w: w, progress: progress, rq: rq}
	if r != nil {
		return c.fetchPipelined(ctx, r, full, size, cw)
	}
	f, err := c.sftp.Open(full)
	if err != nil {
		return 0, nil, opErr("get", full, rq.end(err))
	}
	n, err = copyExpecting(f, size, cw)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = f.Close()
		return n, nil, opErr("get", full, rq.end(err))
	}
	// The handle is only read from: a failed CLOSE changes nothing about
	// what was copied (GetTo ignores it too). It is sent alongside the
	// LSTAT so that neither waits for the other.
	var (
		wg   sync.WaitGroup
		lerr error
	)
	wg.Go(func() { after, lerr = timed(c, c.sftp.Lstat, full) })
	_ = rq.end(f.Close())
	wg.Wait()
	if lerr != nil {
		return n, nil, opErr("lstat", full, lerr)
	}
	return n, after, nil
}

// fetchPipelined is FetchTo on the pipelined reader: OPEN; the READs up
// to size and one at size together (each short read asked for again, and
// the file streamed on if the one at size returns data); then LSTAT, on
// pkg/sftp's channel, once every READ was answered, while the CLOSE goes
// out unawaited.
func (c *Client) fetchPipelined(ctx context.Context, r *sftp3.Conn, full string, size int64, cw *ctxWriter) (int64, os.FileInfo, error) {
	n, err := r.Download(ctx, full, size, cw)
	if err == nil {
		err = ctx.Err()
	}
	if err = cw.rq.end(err); err != nil {
		return n, nil, opErr("get", full, err)
	}
	after, err := timed(c, c.sftp.Lstat, full)
	if err != nil {
		return n, nil, opErr("lstat", full, err)
	}
	return n, after, nil
}

// copyExpecting copies f from offset 0 to its end into w, reading the
// first size bytes and probing for the end at size in one round trip when
// size is small.
func copyExpecting(f *sftp.File, size int64, w io.Writer) (int64, error) {
	if size < 0 || size > smallFetchMax {
		return f.WriteTo(w)
	}
	buf := make([]byte, size)
	var probe [1]byte
	var (
		wg         sync.WaitGroup
		dn, pn     int
		derr, perr error
	)
	if size > 0 {
		wg.Go(func() { dn, derr = f.ReadAt(buf, 0) })
	}
	pn, perr = f.ReadAt(probe[:], size)
	wg.Wait()

	if derr != nil && !errors.Is(derr, io.EOF) {
		return 0, derr
	}
	n, err := w.Write(buf[:dn])
	written := int64(n)
	if err != nil || derr != nil {
		// A short read is the end of the file: it is shorter than size.
		return written, err
	}
	switch {
	case pn == 0 && errors.Is(perr, io.EOF):
		return written, nil // exactly size bytes
	case perr != nil && !errors.Is(perr, io.EOF):
		return written, perr
	}
	// Longer than expected: copy the byte read and stream the rest.
	n, err = w.Write(probe[:pn])
	written += int64(n)
	if err != nil {
		return written, err
	}
	if _, err := f.Seek(size+int64(pn), io.SeekStart); err != nil {
		return written, err
	}
	m, err := f.WriteTo(w)
	return written + m, err
}

// download copies full (resolved) into dst: with the pipelined reader when
// the connection has one, else with pkg/sftp's File.WriteTo. size is the
// expected length, or -1 (see sftp3.Conn.Download). Every write to dst is
// progress for the request deadline.
func (c *Client) download(ctx context.Context, full string, size int64, dst *ctxWriter) (n int64, err error) {
	r, err := c.reader(ctx)
	if err != nil {
		return 0, err
	}
	rq := c.watch.start()
	defer func() { err = rq.end(err) }()
	dst.rq = rq
	if r != nil {
		return r.Download(ctx, full, size, dst)
	}
	f, err := c.sftp.Open(full)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.WriteTo(dst)
}
