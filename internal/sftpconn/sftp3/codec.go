package sftp3

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// The decoding half of the client (conn.go): SFTP v3
// (draft-ietf-secsh-filexfer-02) NAME and STATUS payloads into Entry
// values. Every length is checked before it is used: a short or lying
// packet is an error, never a panic or an allocation sized by the server.

// SFTP v3 status codes the listing cares about.
const (
	fxOK               = 0
	fxEOF              = 1
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
)

// ATTRS flags.
const (
	attrSize        = 0x00000001
	attrUIDGID      = 0x00000002
	attrPermissions = 0x00000004
	attrACModTime   = 0x00000008
	attrExtended    = 0x80000000
)

// The file type bits of the SFTP permissions word (S_IFMT) and the type of
// a symbolic link.
const (
	sIFMT  = 0o170000
	sIFLNK = 0o120000
)

// ErrProtocol marks a reply that is not valid SFTP v3. The channel it came
// on cannot be trusted any more: callers treat it as a lost connection.
var ErrProtocol = errors.New("sftp protocol error")

// errTruncated is a payload shorter than its fields say.
var errTruncated = fmt.Errorf("%w: truncated packet", ErrProtocol)

// Entry is one entry of a listing: an os.FileInfo without the longname
// and with no pointers but the name.
type Entry struct {
	Filename string // exactly as the server sent it
	Attrs    Attrs
}

// Attrs are the SFTP v3 attributes of an entry that a listing keeps; a
// field the server did not send is zero.
type Attrs struct {
	Size  uint64
	Mode  uint32 // SFTP permissions word: S_IFMT type bits and permissions
	Mtime uint32
	Atime uint32
	UID   uint32
	GID   uint32
}

var _ os.FileInfo = (*Entry)(nil)

func (e *Entry) Name() string       { return e.Filename }
func (e *Entry) Size() int64        { return int64(e.Attrs.Size) }
func (e *Entry) Mode() fs.FileMode  { return FileMode(e.Attrs.Mode) }
func (e *Entry) ModTime() time.Time { return time.Unix(int64(e.Attrs.Mtime), 0) }
func (e *Entry) IsDir() bool        { return e.Mode().IsDir() }

// Sys returns a copy of the entry's Attrs, as an *Attrs.
func (e *Entry) Sys() any {
	a := e.Attrs
	return &a
}

// ModeBits is FileMode's inverse: an fs.FileMode as an SFTP permissions
// word.
func ModeBits(fm fs.FileMode) uint32 {
	m := uint32(fm.Perm())
	switch {
	case fm&fs.ModeSocket != 0:
		m |= 0o140000
	case fm&fs.ModeSymlink != 0:
		m |= 0o120000
	case fm&fs.ModeCharDevice != 0:
		m |= 0o020000
	case fm&fs.ModeDevice != 0:
		m |= 0o060000
	case fm&fs.ModeDir != 0:
		m |= 0o040000
	case fm&fs.ModeNamedPipe != 0:
		m |= 0o010000
	case fm&fs.ModeType == 0:
		m |= 0o100000
	}
	if fm&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fm&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fm&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// FileMode converts SFTP permission bits to an fs.FileMode the way pkg/sftp
// does: the S_IFMT type, the 0777 permissions and setuid, setgid, sticky.
func FileMode(m uint32) fs.FileMode {
	fm := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o140000:
		fm |= fs.ModeSocket
	case 0o120000:
		fm |= fs.ModeSymlink
	case 0o060000:
		fm |= fs.ModeDevice
	case 0o040000:
		fm |= fs.ModeDir
	case 0o020000:
		fm |= fs.ModeDevice | fs.ModeCharDevice
	case 0o010000:
		fm |= fs.ModeNamedPipe
	}
	if m&0o4000 != 0 {
		fm |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		fm |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		fm |= fs.ModeSticky
	}
	return fm
}

// decoder reads big-endian SFTP fields from a payload. The first error
// sticks; every read after it returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint32() uint32 {
	if d.err != nil || len(d.b) < 4 {
		d.err = errTruncated
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.err = errTruncated
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes returns the next string field without copying it.
func (d *decoder) bytes() []byte {
	n := d.uint32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

// attrs decodes an ATTRS block into e.
func (d *decoder) attrs(e *Attrs) {
	flags := d.uint32()
	if flags&attrSize != 0 {
		e.Size = d.uint64()
	}
	if flags&attrUIDGID != 0 {
		e.UID = d.uint32()
		e.GID = d.uint32()
	}
	if flags&attrPermissions != 0 {
		e.Mode = d.uint32()
	}
	if flags&attrACModTime != 0 {
		e.Atime = d.uint32()
		e.Mtime = d.uint32()
	}
	if flags&attrExtended != 0 {
		// Each pair takes at least 8 bytes, so a lying count runs out of
		// payload after len/8 rounds.
		for n := d.uint32(); n > 0 && d.err == nil; n-- {
			d.bytes()
			d.bytes()
		}
	}
}

// minNameEntry is the smallest encoding of one NAME entry: two empty
// strings and an ATTRS with no flags.
const minNameEntry = 12

// decodeName appends the entries of a NAME payload (after type and id:
// uint32 count, count × (filename, longname, ATTRS)) to dst, leaving out
// "." and "..". Names are copied byte for byte, all of the payload's into
// one string (one allocation per reply, not per entry); the longname is
// skipped without a copy. It returns the bytes consumed; trailing bytes
// after the last entry are tolerated. A truncated payload is an error and
// dst is returned as it was.
func decodeName(p []byte, dst []Entry) ([]Entry, int, error) {
	d := decoder{b: p}
	count := d.uint32()
	if d.err != nil {
		return dst, 0, d.err
	}
	if uint64(count)*minNameEntry > uint64(len(d.b)) {
		return dst, 0, fmt.Errorf("%w: %d names announced in %d bytes", errTruncated, count, len(d.b))
	}
	base := len(dst)
	dst = growEntries(dst, int(count))
	var spanBuf [128]nameSpan // OpenSSH sends up to 100 names a reply
	spans := spanBuf[:0]
	total := 0
	for range count {
		name := d.bytes()
		start := len(p) - len(d.b) - len(name)
		d.bytes() // longname: ls -l text, never used
		var e Entry
		d.attrs(&e.Attrs)
		if d.err != nil {
			clear(dst[base:len(dst)])
			return dst[:base], 0, d.err
		}
		if len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.' {
			continue
		}
		spans = append(spans, nameSpan{start: uint32(start), n: uint32(len(name))})
		total += len(name)
		dst = append(dst, e)
	}
	var b strings.Builder
	b.Grow(total)
	for _, s := range spans {
		b.Write(p[s.start : s.start+s.n])
	}
	names := b.String()
	off := 0
	for i, s := range spans {
		dst[base+i].Filename = names[off : off+int(s.n)]
		off += int(s.n)
	}
	return dst, len(p) - len(d.b), nil
}

// nameSpan is where one name lies in a NAME payload (smaller than 4 GiB).
type nameSpan struct{ start, n uint32 }

// growEntries makes room for n more entries in one allocation.
func growEntries(s []Entry, n int) []Entry {
	if cap(s)-len(s) >= n {
		return s
	}
	grown := make([]Entry, len(s), max(len(s)+n, 2*cap(s)))
	copy(grown, s)
	return grown
}

// StatusError is an SFTP STATUS reply that failed a request: the server
// answered. errors.Is matches fs.ErrNotExist (NO_SUCH_FILE) and
// fs.ErrPermission (PERMISSION_DENIED).
type StatusError struct {
	Code uint32 // SSH_FX_* status code
	Msg  string // the server's message, as sent
}

func (e *StatusError) Error() string {
	var what string
	switch e.Code {
	case fxNoSuchFile:
		what = "no such file"
	case fxPermissionDenied:
		what = "permission denied"
	default:
		what = fmt.Sprintf("sftp status %d", e.Code)
	}
	if e.Msg == "" {
		return what
	}
	return fmt.Sprintf("%s (server: %q)", what, e.Msg)
}

func (e *StatusError) Is(target error) bool {
	switch target {
	case fs.ErrNotExist:
		return e.Code == fxNoSuchFile
	case fs.ErrPermission:
		return e.Code == fxPermissionDenied
	}
	return false
}

// decodeStatus reads a STATUS payload (after type and id): uint32 code,
// then the message and language tag, which servers of the old drafts leave
// out (tolerated). A message that is cut short is dropped, not an error.
func decodeStatus(p []byte) (code uint32, msg string, err error) {
	d := decoder{b: p}
	code = d.uint32()
	if d.err != nil {
		return 0, "", d.err
	}
	if len(d.b) > 0 {
		if m := d.bytes(); d.err == nil {
			msg = string(m)
		}
	}
	return code, msg, nil
}

// IsSymlink reports whether the mode word's type is a symbolic link.
func (a *Attrs) IsSymlink() bool { return a.Mode&sIFMT == sIFLNK }
