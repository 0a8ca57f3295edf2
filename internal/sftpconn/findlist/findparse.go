package findlist

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn"
	"github.com/sftpwatchd/sftpwatchd/internal/sftpconn/sftp3"
)

// errFindOutput is output of find that is not a well-formed record stream.
var errFindOutput = errors.New("malformed find output")

// findParser reads find's NUL-separated records as they stream in (it is
// the session's stdout) and hands over each directory's listing as soon as
// find has left that directory.
//
// find prints in pre-order: a directory, then its entries, descending into
// each subdirectory as it meets it. So the directories whose entries may
// still come are exactly those on the path from the root to the last
// record printed (stack); a record whose directory is not on that path is
// malformed, and every directory popped off it is complete. Memory is that
// path's entries plus the set of directories and symbolic links printed
// (for attributing find's messages at the end), not the tree.
//
// The first record must be the root, a directory. The first violation is
// kept in err and the rest of the stream ignored.
type findParser struct {
	mu   sync.Mutex
	opt  sftpconn.WalkOptions
	emit func(sftpconn.DirListing) bool // hands over a complete listing; false: nobody listens any more

	rec  []byte // the start of a record that spans writes
	nuls int    // fields of it complete

	stack   []findDir
	spare   [][]sftpconn.Entry  // per depth: the entries array of the last directory closed there, for reuse
	dirs    map[string]bool     // every directory printed → whether it is listed ("" = root)
	links   map[string]struct{} // every symbolic link printed (%l reads it after printing starts)
	records int
	err     error
}

// findDir is a directory find has not left yet.
type findDir struct {
	rel     string
	listed  bool // Walk would list it: its entries are kept and handed over
	entries []sftpconn.Entry
}

// newFindParser parses for a walk with opt, handing complete listings to
// emit (from the goroutine calling Write).
func newFindParser(opt sftpconn.WalkOptions, emit func(sftpconn.DirListing) bool) *findParser {
	return &findParser{opt: opt, emit: emit, dirs: map[string]bool{}, links: map[string]struct{}{}}
}

func (p *findParser) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for len(b) > 0 && p.err == nil {
		end, nuls := recordEnd(b, p.nuls)
		if end < 0 {
			p.rec = append(p.rec, b...)
			p.nuls = nuls
			break
		}
		r := b[:end]
		if len(p.rec) > 0 {
			p.rec = append(p.rec, r...)
			r = p.rec
		}
		p.err = p.record(r)
		p.rec, p.nuls = p.rec[:0], 0
		b = b[end:]
	}
	return n, nil
}

// recordEnd is the length of b up to the NUL that ends the current record
// (of which done fields were complete before b), or -1 and the fields
// complete at the end of b.
func recordEnd(b []byte, done int) (int, int) {
	i := 0
	for {
		j := bytes.IndexByte(b[i:], 0)
		if j < 0 {
			return -1, done
		}
		i += j + 1
		done++
		if done == findFields {
			return i, done
		}
	}
}

// finish checks that the stream ended on a record boundary after the root,
// closes the directories still open and returns their listings, the
// root's last.
func (p *findParser) finish() ([]sftpconn.DirListing, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return nil, p.err
	case len(p.rec) != 0:
		return nil, fmt.Errorf("%w: truncated after %d records", errFindOutput, p.records)
	}
	var rest []sftpconn.DirListing
	for len(p.stack) > 0 {
		l, ok, err := p.pop()
		if err != nil {
			p.err = err
			return nil, err
		}
		if ok {
			rest = append(rest, l)
		}
	}
	return rest, nil
}

// rootSeen reports whether the root's record arrived.
func (p *findParser) rootSeen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.dirs[""]
	return ok
}

// printed reports whether rel was printed as a directory (and whether it
// is listed), or as a symbolic link.
func (p *findParser) printed(rel string) (dir, listed, link bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	listed, dir = p.dirs[rel]
	_, link = p.links[rel]
	return dir, listed, link
}

// pop closes the innermost open directory: its listing, sorted by name,
// when it is listed.
func (p *findParser) pop() (sftpconn.DirListing, bool, error) {
	depth := len(p.stack) - 1
	d := p.stack[depth]
	p.stack = p.stack[:depth]
	if !d.listed {
		return sftpconn.DirListing{}, false, nil
	}
	// The listing gets an array of its own, exactly sized; the one it was
	// collected in is kept for the next directory at this depth.
	entries := make([]sftpconn.Entry, len(d.entries))
	copy(entries, d.entries)
	for len(p.spare) <= depth {
		p.spare = append(p.spare, nil)
	}
	clear(d.entries) // drop the strings
	p.spare[depth] = d.entries[:0]
	slices.SortFunc(entries, func(a, b sftpconn.Entry) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(entries); i++ {
		if entries[i].Name == entries[i-1].Name {
			return sftpconn.DirListing{}, false, fmt.Errorf("%w: %q printed twice", errFindOutput, entries[i].RelPath)
		}
	}
	return sftpconn.DirListing{Dir: d.rel, Entries: entries}, true, nil
}

// push opens directory rel, reusing the entries array last used at its
// depth.
func (p *findParser) push(rel string, listed bool) {
	d := findDir{rel: rel, listed: listed}
	if depth := len(p.stack); depth < len(p.spare) {
		d.entries, p.spare[depth] = p.spare[depth], nil
	}
	p.stack = append(p.stack, d)
}

// leave closes the open directories that are not parent or an ancestor of
// it, handing their listings over.
func (p *findParser) leave(parent string) error {
	for len(p.stack) > 1 {
		top := p.stack[len(p.stack)-1].rel
		if top == parent || strings.HasPrefix(parent, top+"/") {
			return nil
		}
		l, ok, err := p.pop()
		if err != nil {
			return err
		}
		if ok && !p.emit(l) {
			return errFindAbandoned
		}
	}
	return nil
}

// errFindAbandoned stops parsing once the walk no longer takes listings.
var errFindAbandoned = errors.New("find walk abandoned")

// record parses one record r (6 fields, each ending in a NUL).
func (p *findParser) record(r []byte) error {
	var f [findFields][]byte
	for i := range f {
		j := bytes.IndexByte(r, 0)
		f[i], r = r[:j], r[j+1:]
	}
	relB, linkB := f[4], f[5]
	if len(f[0]) != 1 {
		return fmt.Errorf("%w: type %q of %q", errFindOutput, f[0], relB)
	}
	size, ok := parseDigits(f[1], 10)
	if !ok {
		return fmt.Errorf("%w: size %q of %q", errFindOutput, f[1], relB)
	}
	mtime, ok := parseFindTime(f[2])
	if !ok {
		return fmt.Errorf("%w: mtime %q of %q", errFindOutput, f[2], relB)
	}
	perm, ok := parseDigits(f[3], 8)
	if !ok || perm > 0o7777 {
		return fmt.Errorf("%w: mode %q of %q", errFindOutput, f[3], relB)
	}
	typ, mode := findType(f[0][0])
	mode |= sftp3.FileMode(uint32(perm)) // no S_IFMT bits (≤ 0o7777): permissions, setuid, setgid, sticky
	p.records++

	if p.records == 1 {
		if len(relB) != 0 || typ != sftpconn.TypeDir {
			// The root is not a directory (SFTP's read of it fails too), or
			// the stream did not start with it.
			return fmt.Errorf("%w: the root is not a directory (type %q)", errFindOutput, f[0])
		}
		p.dirs[""] = true
		p.push("", true)
		return nil
	}
	if !validRelBytes(relB) {
		return fmt.Errorf("%w: path %q", errFindOutput, relB)
	}
	rel := string(relB)
	parent, name := splitRel(rel)
	if err := p.leave(parent); err != nil {
		return err
	}
	top := &p.stack[len(p.stack)-1]
	if top.rel != parent {
		return fmt.Errorf("%w: %q printed outside its directory", errFindOutput, rel)
	}
	e := sftpconn.Entry{RelPath: rel, Name: name, Type: typ, Size: int64(size), Mode: mode, MTime: time.Unix(mtime, 0)}
	if typ == sftpconn.TypeSymlink {
		e.Link = string(linkB)
		p.links[rel] = struct{}{}
	}
	if top.listed {
		top.entries = append(top.entries, e)
	}
	if typ == sftpconn.TypeDir {
		// A name printed twice in one directory is found when it is left
		// (pop); a directory must not be opened twice meanwhile.
		if _, dup := p.dirs[rel]; dup {
			return fmt.Errorf("%w: %q printed twice", errFindOutput, rel)
		}
		listed := top.listed && descends(p.opt, e)
		p.dirs[rel] = listed
		p.push(rel, listed)
	}
	return nil
}

// parseDigits parses a non-negative number in base 10 or 8 that fits an
// int64.
func parseDigits(b []byte, base uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if c < '0' || d >= base || n > (1<<63-1-d)/base {
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}

// validRelBytes reports whether rel is a relative slash path without
// empty, "." or ".." elements.
func validRelBytes(rel []byte) bool {
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		switch el := rel[start:i]; {
		case len(el) == 0, len(el) == 1 && el[0] == '.', len(el) == 2 && el[0] == '.' && el[1] == '.':
			return false
		}
		start = i + 1
	}
	return true
}

// validRel is validRelBytes for a string.
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
func parseFindTime(b []byte) (int64, bool) {
	sec, frac, _ := bytes.Cut(b, []byte("."))
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	neg := len(sec) > 0 && sec[0] == '-'
	if neg {
		sec = sec[1:]
	}
	n, ok := parseDigits(sec, 10)
	if neg {
		return -int64(n), ok
	}
	return int64(n), ok
}

// findType maps %y to the entry type and Go's type bits.
func findType(y byte) (sftpconn.EntryType, fs.FileMode) {
	switch y {
	case 'f':
		return sftpconn.TypeFile, 0
	case 'd':
		return sftpconn.TypeDir, fs.ModeDir
	case 'l':
		return sftpconn.TypeSymlink, fs.ModeSymlink
	case 'p':
		return sftpconn.TypeOther, fs.ModeNamedPipe
	case 's':
		return sftpconn.TypeOther, fs.ModeSocket
	case 'c':
		return sftpconn.TypeOther, fs.ModeDevice | fs.ModeCharDevice
	case 'b':
		return sftpconn.TypeOther, fs.ModeDevice
	}
	return sftpconn.TypeOther, fs.ModeIrregular
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

// findInfo is an sftpconn.Entry seen as the os.FileInfo sftpconn.WalkOptions.Skip is given.
type findInfo struct{ e sftpconn.Entry }

var _ fs.FileInfo = findInfo{}

func (i findInfo) Name() string       { return i.e.Name }
func (i findInfo) Size() int64        { return i.e.Size }
func (i findInfo) Mode() fs.FileMode  { return i.e.Mode }
func (i findInfo) ModTime() time.Time { return i.e.MTime }
func (i findInfo) IsDir() bool        { return i.e.Mode.IsDir() }
func (i findInfo) Sys() any           { return nil }
