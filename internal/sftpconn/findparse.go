package sftpconn

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/diff"
)

// errFindOutput is output of find that is not a well-formed record stream.
var errFindOutput = errors.New("malformed find output")

// findParser reads find's NUL-separated records as they stream in (it is
// the session's stdout). The first record must be the root, a directory;
// every other record must sit in a directory printed before it (find
// prints a directory before its contents). The first violation is kept in
// err and the rest of the stream ignored.
type findParser struct {
	mu      sync.Mutex
	field   []byte              // the field being read
	fields  [findFields]string  // the record being read
	n       int                 // fields of it read
	entries []Entry             // every record but the root's, in stream order
	dirs    map[string]bool     // rel paths of the directories printed ("" = root)
	byRel   map[string]struct{} // every rel path seen (duplicates are malformed)
	err     error
}

func newFindParser() *findParser {
	return &findParser{dirs: map[string]bool{}, byRel: map[string]struct{}{}}
}

func (p *findParser) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 && p.err == nil {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			p.field = append(p.field, b...)
			break
		}
		p.field = append(p.field, b[:i]...)
		b = b[i+1:]
		p.fields[p.n] = string(p.field)
		p.field = p.field[:0]
		p.n++
		if p.n == findFields {
			p.n = 0
			p.err = p.record()
		}
	}
	return n, nil
}

// finish reports whether the stream ended on a record boundary and held
// the root.
func (p *findParser) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return p.err
	case p.n != 0 || len(p.field) != 0:
		return fmt.Errorf("%w: truncated after %d records", errFindOutput, len(p.entries))
	}
	return nil
}

// rootSeen reports whether the root's record arrived.
func (p *findParser) rootSeen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dirs[""]
}

func (p *findParser) record() error {
	f := p.fields
	rel, link := f[4], f[5]
	if len(f[0]) != 1 {
		return fmt.Errorf("%w: type %q of %q", errFindOutput, f[0], rel)
	}
	size, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("%w: size %q of %q", errFindOutput, f[1], rel)
	}
	mtime, err := parseFindTime(f[2])
	if err != nil {
		return fmt.Errorf("%w: mtime %q of %q", errFindOutput, f[2], rel)
	}
	perm, err := strconv.ParseUint(f[3], 8, 32)
	if err != nil || perm > 0o7777 {
		return fmt.Errorf("%w: mode %q of %q", errFindOutput, f[3], rel)
	}
	typ, mode := findType(f[0][0])
	mode |= fileMode(uint32(perm)) // no S_IFMT bits (≤ 0o7777): permissions, setuid, setgid, sticky

	if !p.dirs[""] {
		if rel != "" || typ != diff.Dir {
			// The root is not a directory (SFTP's read of it fails too), or
			// the stream did not start with it.
			return fmt.Errorf("%w: the root is not a directory (type %q)", errFindOutput, f[0])
		}
		p.dirs[""] = true
		return nil
	}
	if !validRel(rel) {
		return fmt.Errorf("%w: path %q", errFindOutput, rel)
	}
	if _, dup := p.byRel[rel]; dup {
		return fmt.Errorf("%w: %q printed twice", errFindOutput, rel)
	}
	parent, name := splitRel(rel)
	if !p.dirs[parent] {
		return fmt.Errorf("%w: %q printed before its directory", errFindOutput, rel)
	}
	p.byRel[rel] = struct{}{}
	if typ == diff.Dir {
		p.dirs[rel] = true
	}
	if typ != diff.Symlink {
		link = ""
	}
	p.entries = append(p.entries, Entry{
		RelPath: rel, Name: name, Type: typ, Size: size, Mode: mode, MTime: mtime, Link: link,
	})
	return nil
}

// validRel reports whether rel is a relative slash path without empty, "."
// or ".." elements.
func validRel(rel string) bool {
	if rel == "" {
		return false
	}
	for el := range strings.SplitSeq(rel, "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return true
}

// splitRel is rel's parent ("" for the root) and base name.
func splitRel(rel string) (string, string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

// parseFindTime parses %T@ ("1767323045.8490635640"), truncated to whole
// seconds as SFTP reports them.
func parseFindTime(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	for i := 0; i < len(frac); i++ {
		if frac[i] < '0' || frac[i] > '9' {
			return time.Time{}, errors.New("bad fraction")
		}
	}
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0), nil
}

// findType maps %y to the entry type and Go's type bits.
func findType(y byte) (diff.EntryType, fs.FileMode) {
	switch y {
	case 'f':
		return diff.File, 0
	case 'd':
		return diff.Dir, fs.ModeDir
	case 'l':
		return diff.Symlink, fs.ModeSymlink
	case 'p':
		return diff.Other, fs.ModeNamedPipe
	case 's':
		return diff.Other, fs.ModeSocket
	case 'c':
		return diff.Other, fs.ModeDevice | fs.ModeCharDevice
	case 'b':
		return diff.Other, fs.ModeDevice
	}
	return diff.Other, fs.ModeIrregular
}

// boundedBuffer keeps the first max bytes written to it and remembers
// whether more came.
type boundedBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - b.buf.Len()
	if len(p) > room {
		b.overflow = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	b.buf.Write(p)
	return len(p), nil
}

func (b *boundedBuffer) contents() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String(), b.overflow
}

// findInfo is an Entry seen as the os.FileInfo WalkOptions.Skip is given.
type findInfo struct{ e Entry }

var _ fs.FileInfo = findInfo{}

func (i findInfo) Name() string       { return i.e.Name }
func (i findInfo) Size() int64        { return i.e.Size }
func (i findInfo) Mode() fs.FileMode  { return i.e.Mode }
func (i findInfo) ModTime() time.Time { return i.e.MTime }
func (i findInfo) IsDir() bool        { return i.e.Mode.IsDir() }
func (i findInfo) Sys() any           { return nil }
