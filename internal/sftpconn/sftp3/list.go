package sftp3

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Listings on the client (conn.go): OPENDIR, two READDIRs at once (one
// more per data reply until one says EOF), a CLOSE nobody waits for.

// List reads directory full completely and returns its entries sorted by
// name ("." and ".." left out). Errors: a *StatusError when the server
// refused; ctx.Err() when ctx ended first; otherwise the channel's failure
// (ErrProtocol for a reply that is not SFTP v3, else the transport's
// error). progress (may be nil) is called on each reply.
func (r *Conn) List(ctx context.Context, full string, progress func()) ([]Entry, error) {
	touch := orNop(progress)
	w := &replyWaiter{ch: make(chan reply, replyBuffer)}
	ids := make([]uint32, 2)
	if err := r.register(w, ids[:1]); err != nil {
		return nil, err
	}
	openID := ids[0]
	if err := r.send(fxpOpenDir, ids[:1], []byte(full)); err != nil {
		return nil, err
	}
	var rep reply
	select {
	case rep = <-w.ch:
	case <-r.done:
		return nil, r.failure()
	case <-ctx.Done():
		if !r.orphanOpen(openID) {
			// The HANDLE (or a STATUS) is in w.ch, or the reader broke.
			select {
			case rep := <-w.ch:
				if rep.typ == fxpHandle {
					if h, err := handleOf(rep.payload); err == nil {
						r.closeHandle(h)
					}
				}
			default:
			}
		}
		return nil, ctx.Err()
	}
	switch rep.typ {
	case fxpHandle:
	case fxpStatus:
		return nil, r.statusErr(rep)
	default:
		return nil, fmt.Errorf("%w: packet type %d in reply to opendir", ErrProtocol, rep.typ)
	}
	touch()
	handle, err := handleOf(rep.payload)
	if err != nil {
		return nil, err
	}
	entries, err := r.readAll(ctx, w, handle, touch)
	// The CLOSE's answer is not awaited: the listing is complete (or
	// failed) either way, and a failed CLOSE changes nothing for it.
	r.closeHandle(handle)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Filename, b.Filename) })
	return entries, nil
}

// readAll pipelines READDIRs on handle: two at once, one more per data
// reply while no EOF has been seen, until every READDIR sent has been
// answered and one said EOF. Replies may come back in any order; every data
// reply's entries are kept.
func (r *Conn) readAll(ctx context.Context, w *replyWaiter, handle []byte, touch func()) ([]Entry, error) {
	outstanding := make([]uint32, 0, replyBuffer)
	ids := make([]uint32, replyBuffer)
	sendN := func(n int) error {
		if err := r.register(w, ids[:n]); err != nil {
			return err
		}
		outstanding = append(outstanding, ids[:n]...)
		return r.send(fxpReadDir, ids[:n], handle)
	}
	giveUp := func(err error) ([]Entry, error) {
		r.abandon(outstanding...)
		return nil, err
	}
	if err := sendN(2); err != nil {
		return giveUp(err)
	}
	var entries []Entry
	eof := false
	for len(outstanding) > 0 {
		var rep reply
		select {
		case rep = <-w.ch:
		case <-r.done:
			return giveUp(r.failure())
		case <-ctx.Done():
			return giveUp(ctx.Err())
		}
		touch()
		// Take every reply already here before asking for more, so that
		// an EOF that came with a data reply saves a READDIR.
		data := 0
		for {
			outstanding = slices.DeleteFunc(outstanding, func(id uint32) bool { return id == rep.id })
			switch rep.typ {
			case fxpName:
				var err error
				if entries, _, err = decodeName(rep.payload, entries); err != nil {
					return giveUp(err)
				}
				data++
			case fxpStatus:
				code, _, err := decodeStatus(rep.payload)
				if err != nil {
					return giveUp(err)
				}
				if code != fxEOF {
					return giveUp(r.statusErr(rep))
				}
				eof = true
			default:
				return giveUp(fmt.Errorf("%w: packet type %d in reply to readdir", ErrProtocol, rep.typ))
			}
			select {
			case rep = <-w.ch:
				continue
			default:
			}
			break
		}
		if !eof && data > 0 {
			if err := sendN(data); err != nil {
				return giveUp(err)
			}
		}
	}
	if !eof {
		return nil, fmt.Errorf("%w: readdir replies ended without EOF", ErrProtocol)
	}
	return entries, nil
}

// orNop is f, or a function that does nothing when f is nil.
func orNop(f func()) func() {
	if f == nil {
		return func() {}
	}
	return f
}

// statusErr turns a STATUS reply into the listing's error.
func (r *Conn) statusErr(rep reply) error {
	code, msg, err := decodeStatus(rep.payload)
	if err != nil {
		return err
	}
	if code == fxOK || code == fxEOF {
		return fmt.Errorf("%w: status %d in reply to opendir", ErrProtocol, code)
	}
	return &StatusError{Code: code, Msg: msg}
}
